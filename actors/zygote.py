"""The fork server of a process pool, and the loop of each worker process.

``fork()`` in a process that runs other threads can deadlock the child (a lock
held by a thread that does not exist there). The scheduler's process runs
actor threads, so it forks exactly once, *before* any of them starts: the
child is the zygote, single-threaded for its whole life, holding a copy of the
run's task table. Every worker process is forked by the zygote, on request,
and inherits the table: tasks (closures and lambdas too) and what their
``kwargs`` hold (``multiprocessing`` queues, locks, events) need no pickling,
and scripts without a main guard work, since nothing is re-imported.

::

    scheduler process            zygote                 worker process
    -----------------            ------                 --------------
    Zygote(table) --fork-------> loop on control socket
    spawn() ----- b"spawn" ----> fork ----------------> worker_main(sock, table)
            <--- pid + socket fd (SCM_RIGHTS) ---
    ProcessWorker --- pickled [(tid, shared), ...] ---------------> run_task()
    ResultReader <-------------- pickled outcome, one per task ----
    close() ------ EOF --------> wait for every worker, exit
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from pexen.state.taskspec import TaskSpec

from .taskrun import run_task
from .wire import encode_outcome

__all__ = ["Zygote", "flush_std_streams"]


def flush_std_streams() -> None:
    """Flush stdout/stderr, so that no buffered text is copied by ``fork()``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _child_exit(code: int) -> None:
    flush_std_streams()
    os._exit(code)


class Zygote:
    """The scheduler's handle on its fork server.

    Construct it from the thread that will own it while no other thread of
    pexen runs. :meth:`spawn` starts a worker process and returns its pid and
    a connection to it; :meth:`close` ends the zygote once every worker
    process it forked has exited (close their connections or kill them first).
    """

    def __init__(self, table: Sequence[TaskSpec]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        flush_std_streams()
        pid = os.fork()
        if pid == 0:  # the zygote
            code = 1
            try:
                ours.close()
                _zygote_main(theirs, table)
                code = 0
            finally:
                _child_exit(code)
        theirs.close()
        self.pid = pid
        self._ctrl = ours

    def spawn(self) -> tuple[int, Connection]:
        """Fork a worker process; return its pid and a connection to it."""
        self._ctrl.send(b"spawn")
        msg, fds, _, _ = socket.recv_fds(self._ctrl, 64, 1)
        if not msg or len(fds) != 1:
            raise OSError("the zygote did not spawn a worker")
        return int(msg), Connection(fds[0])

    def close(self) -> None:
        """Tell the zygote to end, and wait until it has."""
        if self._ctrl.fileno() == -1:
            return
        self._ctrl.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _zygote_main(ctrl: socket.socket, table: Sequence[TaskSpec]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scheduler handles Ctrl-C
    children = []
    while True:
        try:
            cmd = ctrl.recv(64)
        except OSError:
            break
        if not cmd:
            break
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # a worker process
            code = 1
            try:
                ctrl.close()
                ours.close()
                _worker_main(theirs, table)
                code = 0
            finally:
                _child_exit(code)
        theirs.close()
        children.append(pid)
        socket.send_fds(ctrl, [str(pid).encode()], [ours.fileno()])
        ours.close()
        _reap(children, block=False)
    _reap(children, block=True)


def _reap(children: list[int], block: bool) -> None:
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            children.remove(pid)


def _worker_main(sock: socket.socket, table: Sequence[TaskSpec]) -> None:
    """Run tasks as the scheduler sends them, until the connection closes."""
    from tblib import pickling_support

    pickling_support.install()  # tracebacks pickle from here on
    conn = Connection(sock.detach())
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        for tid, shared in pickle.loads(data):
            spec = table[tid]
            outcome = run_task(spec, shared)
            try:
                conn.send_bytes(encode_outcome(outcome, spec.func))
            except OSError:
                return
