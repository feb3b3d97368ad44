"""The fork server of a process pool, and the loop of each worker process.

``fork()`` in a process that runs other threads can deadlock the child (a lock
held by a thread that does not exist there). The scheduler's process runs
actor threads, so it forks exactly once, *before* any of them starts: the
child is the zygote, single-threaded for its whole life, holding a copy of the
run's task table. Every worker process, the first ones and each replacement
of a dead one, is forked by the zygote on request and inherits the table:
tasks (closures and lambdas too) and what their ``kwargs`` hold
(``multiprocessing`` queues, locks, events) need no pickling, and scripts
without a main guard work, since nothing is re-imported. Tasks added to a run
later travel to the worker processes with cloudpickle.

When the scheduler's process already runs other threads as a pool starts
(another run going on, or threads of the program's own), forking it is not
safe: the zygote is then a fresh interpreter (fork and exec, which is safe),
and the task table travels to it with cloudpickle. Tasks must then pickle,
and ``multiprocessing`` objects in ``kwargs`` cannot travel that way. The
feeder threads of ``multiprocessing`` queues are the one kind of thread
forked past (:func:`safe_to_fork` says why that is safe).

::

    scheduler process             zygote                  worker process i
    -----------------             ------                  ----------------
    Zygote(table, slots) -fork--> loop on control socket
    spawn(i) ----- b"spawn i" --> fork ----------------> worker_main(i)
             <---- pid + socket (SCM_RIGHTS)
    ProcessWorker -- pickled [(tid, shared, spec or None, code, after), ...] --> run_task()
    ReaderThread <------------------ pickled outcome, one per task ----
    reap(pid) ---- b"reap pid" -> waitpid -> exit status
    close() ------ EOF ---------> wait for every worker (killed after
                                  EXIT_GRACE s), exit
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import cloudpickle

from pexen.util import gc_paused

from . import proctree, tablepickle
from .slots import WorkerSlots
from .taskrun import Call, Runnable, failure, run_task
from .wire import FrameReader, decode_head, encode_outcome, send_message

if TYPE_CHECKING:
    import subprocess
    from multiprocessing.connection import Connection

    from pexen.state.taskspec import TaskSpec

# An exec'd zygote imports this module and nothing of the scheduler's side:
# what only that side uses (subprocess, multiprocessing's queues and
# connections, the task specs) is imported where it is used, so that the
# first worker process starts sooner.

__all__ = ["EXIT_GRACE", "Zygote", "describe_status", "flush_std_streams"]

log = logging.getLogger(__name__)

#: seconds a worker process may take to end once its run is over (flushing
#: multiprocessing queues its tasks used) before the zygote kills it
EXIT_GRACE = 10.0

#: How long a worker process that has sent its outcomes keeps looking for its
#: next task (a poll that does not wait, then ``sched_yield``) before it
#: blocks on its socket. With tiny tasks the next one comes within tens of
#: microseconds, and a process blocked on a read costs more than that to wake
#: (its CPU goes idle; waking an idle virtual CPU took 30-700 us here): a
#: worker one task deep waited for that wake-up at each task. Yielding
#: between looks gives the CPU to the scheduling process when the two share
#: one (a look without the yield slowed the run: it took the scheduler's CPU).
#: Bounded, only after a task (an idle pool burns nothing), and not made
#: again while the next task comes later than that.
LOOK_S = 0.0002


def flush_std_streams() -> None:
    """Flush stdout/stderr, so that no buffered text is copied by ``fork()``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def describe_status(status: int | None) -> str:
    """How a process ended, from its ``waitpid`` status, in words."""
    if status is None:
        return "its process ended (exit status unknown)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown signal"
        return f"its process was killed by signal {sig} ({name})"
    return f"its process exited with code {os.waitstatus_to_exitcode(status)}"


def _child_exit(code: int) -> None:
    flush_std_streams()
    os._exit(code)


# A worker process is forked by the zygote, not started by multiprocessing, but
# tasks may use multiprocessing objects from the scheduler's process (a Queue in
# their kwargs). So it does what a forked multiprocessing child does: after the
# fork, drop the finalizers inherited from its parent and run the after-fork
# hooks (a Queue resets its feeder thread); before it ends, run its own
# finalizers (a Queue's feeder thread flushes what tasks put). Without the
# latter, an item put just before the worker ends would be lost. A process
# that never imported multiprocessing has neither hooks nor finalizers.


def _start_as_multiprocessing_child() -> None:
    process = sys.modules.get("multiprocessing.process")
    base = getattr(process, "BaseProcess", None)
    after_fork = getattr(base, "_after_fork", None)
    if after_fork is not None:
        after_fork()


def _end_as_multiprocessing_child() -> None:
    exit_function = getattr(sys.modules.get("multiprocessing.util"), "_exit_function", None)
    if exit_function is not None:
        try:
            exit_function()
        except Exception:
            log.exception("worker process: multiprocessing finalizers failed")


def safe_to_fork() -> bool:
    """Whether this process may fork: it runs no thread but this one and feeders.

    A ``multiprocessing.Queue`` starts a feeder thread in the process that
    first puts into it, and that thread lives until the queue is collected, so
    a program that ever used such a queue (a thread-pool run whose tasks put
    into one, a logging queue) runs one. It is safe to fork past it: it runs
    only :meth:`multiprocessing.queues.Queue._feed`, which takes no lock a
    child needs. The queue's own state (its buffer, its condition) is reset in
    the child by multiprocessing's after-fork hooks, which every worker
    process runs (:func:`_start_as_multiprocessing_child`); its write lock is
    a process-shared semaphore that the parent's feeder releases as usual;
    the interpreter's own locks are re-initialised by ``os.fork()``. Any other
    thread may hold a lock (logging's, a user's, pykka's) that the child
    would wait on forever, so its presence means the zygote is exec'd.
    """
    current = threading.current_thread()
    # not imported: no queue, so no feeder thread either
    queue = getattr(sys.modules.get("multiprocessing.queues"), "Queue", None)
    feed = getattr(queue, "_feed", None)
    for thread in threading.enumerate():
        if thread is current:
            continue
        if feed is None or getattr(thread, "_target", None) is not feed:
            return False
    return True


class Zygote:
    """The scheduler's handle on its fork server.

    Construct it while no other thread of pexen runs. :meth:`spawn` starts a
    worker process and returns its pid and a connection to it; :meth:`reap`
    collects a dead worker's exit status; :meth:`close` ends the zygote once
    every worker process it forked has exited (close their connections or
    kill them first). The methods may be called from any thread.
    """

    def __init__(self, table: Sequence[TaskSpec], slots: WorkerSlots) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ctrl = ours
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        #: how the zygote got its task table: "fork" (inherited) or "exec" (pickled)
        self.start_method = "fork" if safe_to_fork() else "exec"
        if self.start_method == "exec":
            self._proc = _exec_zygote(theirs, table, slots)
            self.pid = self._proc.pid
            theirs.close()
            return
        flush_std_streams()
        pid = os.fork()
        if pid == 0:  # the zygote
            code = 1
            try:
                ours.close()
                _zygote_main(theirs, table, slots)
                code = 0
            finally:
                _child_exit(code)
        theirs.close()
        self.pid = pid

    def spawn(self, index: int) -> tuple[int, Connection]:
        """Fork worker process ``index``; return its pid and a connection to it."""
        from multiprocessing.connection import Connection

        with self._lock:
            self._ctrl.send(f"spawn {index}".encode())
            msg, fds, _, _ = socket.recv_fds(self._ctrl, 64, 1)
        if not msg or len(fds) != 1:
            raise OSError("the zygote did not spawn a worker")
        return int(msg), Connection(fds[0])

    def reap(self, pid: int) -> int | None:
        """Wait for a worker process that is ending; return its wait status."""
        with self._lock:
            self._ctrl.send(f"reap {pid}".encode())
            msg = self._ctrl.recv(64)
        return int(msg) if msg and msg != b"-" else None

    def close(self) -> None:
        """Tell the zygote to end, and wait until it has."""
        with self._lock:
            if self._ctrl.fileno() == -1:
                return
            with contextlib.suppress(OSError):  # a dead zygote ends all the same
                self._ctrl.send(b"close")
            self._ctrl.close()
        if self._proc is not None:
            self._proc.wait()
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


class _Unpicklable:
    """Stands in for a task that could not be pickled for an exec'd zygote."""

    def __init__(self, what: str, error: str) -> None:
        self.what, self.error = what, error

    def __call__(self) -> None:
        raise AttributeError(
            f"Can't pickle task {self.what} for its worker process: {self.error} "
            "(the process pool started while other threads ran, so its tasks "
            "were pickled instead of inherited through fork)"
        )


def _pickle_table(table: Sequence[TaskSpec]) -> bytes:
    """The task table for an exec'd zygote, pickled by one cloudpickle pickler.

    Each task crosses as a plain tuple of what calling it needs (a
    :class:`~actors.taskrun.Call`'s fields; the scheduling fields stay here).
    One pickler pickles what tasks share (the code and globals of the
    function that made ten thousand closures, a module) once, where a pickler
    per task pickled it for each; closures of one code cross as clones of
    the first (:mod:`actors.tablepickle`). Only when the
    table as a whole does not pickle is each task tried on its own, and those
    that fail are replaced by a stand-in that fails the task when it runs.
    """
    calls = [(spec.tid, spec.func, spec.kwargs, spec.pass_shared) for spec in table]
    try:
        return tablepickle.dumps_table(calls)
    except Exception:
        log.debug("the task table does not pickle whole; pickling task by task")
    for i, call in enumerate(calls):
        try:
            cloudpickle.dumps(call, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            calls[i] = (call[0], _Unpicklable(repr(call[1]), str(exc)), {}, False)
    return tablepickle.dumps_table(calls)


class _Calls(Sequence[Runnable]):
    """The table an exec'd zygote loaded (a :class:`tablepickle.Table`), its
    rows seen as :class:`Call` records.

    Each is made when a worker looks it up, in the worker, instead of all
    of them in the zygote before the first worker can start.
    """

    def __init__(self, rows: Sequence[tablepickle.Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Runnable: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Runnable]: ...
    def __getitem__(self, index: int | slice) -> Runnable | Sequence[Runnable]:
        if isinstance(index, slice):
            return [Call(*row) for row in self._rows[index]]
        return Call(*self._rows[index])


def _exec_zygote(
    ctrl: socket.socket, table: Sequence[TaskSpec], slots: WorkerSlots
) -> subprocess.Popen[bytes]:
    """Start a zygote in a fresh interpreter, handing it the pickled table.

    The interpreter starts first and the table is pickled while it boots (on
    another core), then written to it through a pipe.
    """
    import subprocess

    table_r, table_w = os.pipe()
    fds = (ctrl.fileno(), slots.fd, table_r)
    # With site, as any child: skipping it (-S) saves ~10 ms here, but what
    # .pth files do beyond import hooks (coverage's start-up, namespace
    # packages, a CA bundle) would be lost, and -S passes on to every
    # interpreter a task spawns, whose editable installs then fail to import.
    boot = (
        f"import sys; sys.path[:0] = {sys.path!r}; "
        f"from actors.zygote import _exec_main; _exec_main({fds[0]}, {fds[1]}, {slots.count}, "
        f"{fds[2]})"
    )
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", boot],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
    except BaseException:
        os.close(table_w)
        raise
    finally:
        os.close(table_r)
    try:
        with gc_paused(), os.fdopen(table_w, "wb") as out:
            out.write(_pickle_table(table))  # an EPIPE if it died: OSError, as for a fork
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def _exec_main(ctrl_fd: int, slots_fd: int, count: int, table_fd: int) -> None:
    """The entry point of an exec'd zygote."""
    with gc_paused(), os.fdopen(table_fd, "rb") as src:
        table = _Calls(tablepickle.Table(cloudpickle.load(src)))
    slots = WorkerSlots(count, fd=slots_fd)
    _zygote_main(socket.socket(fileno=ctrl_fd), table, slots)


def _zygote_main(ctrl: socket.socket, table: Sequence[Runnable], slots: WorkerSlots) -> None:
    """Serve the scheduler's requests; end with every process below this one.

    The zygote is a subreaper: what a dead worker's tasks started becomes its
    child, and is killed when that worker is reaped. ``close`` ends it once
    the workers have ended (after :data:`EXIT_GRACE`, killed); the end of the
    control socket without ``close`` means the scheduling process died, and
    every process below the zygote is killed at once.
    """
    from tblib import pickling_support

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scheduler handles Ctrl-C
    pickling_support.install()  # tracebacks pickle in every worker (imported once, here)
    proctree.become_subreaper()
    workers: set[int] = set()
    closed = False
    while True:
        try:
            cmd = ctrl.recv(64).decode()
        except OSError:
            break
        verb, _, arg = cmd.partition(" ")
        if verb == "spawn":
            pid, conn = _fork_worker(ctrl, table, slots, int(arg))
            workers.add(pid)
            socket.send_fds(ctrl, [str(pid).encode()], [conn.fileno()])
            conn.close()
        elif verb == "reap":
            status = _reap(int(arg), workers)
            ctrl.send(b"-" if status is None else str(status).encode())
        else:  # "close", or b"" when the scheduling process is gone
            closed = verb == "close"
            break
    if closed:
        _wait_for_workers(workers)
    else:
        log.warning("zygote: the scheduling process is gone; killing its workers")
    proctree.kill_descendants()


def _fork_worker(
    ctrl: socket.socket, table: Sequence[Runnable], slots: WorkerSlots, index: int
) -> tuple[int, socket.socket]:
    """Fork worker process ``index``; return its pid and the zygote's end of its socket."""
    zygote = os.getpid()
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the worker process
        code = 1
        try:
            ctrl.close()
            ours.close()
            proctree.die_with_parent(zygote)
            proctree.become_subreaper()
            _start_as_multiprocessing_child()
            _worker_main(theirs, table, slots, index)
            code = 0
        finally:
            _end_as_multiprocessing_child()
            _child_exit(code)
    theirs.close()
    return pid, ours


def _reap(pid: int, workers: set[int]) -> int | None:
    """Wait for dead worker ``pid``; kill what its tasks left; its wait status."""
    status: int | None = None
    with contextlib.suppress(ChildProcessError):
        status = os.waitpid(pid, 0)[1]
    workers.discard(pid)
    # what its tasks started was re-parented here as it died
    proctree.kill_descendants(keep=workers)
    return status


def _wait_for_workers(children: set[int]) -> None:
    """Wait for the worker processes to end, for :data:`EXIT_GRACE` seconds at most.

    They end as their connections close; flushing what their tasks put into
    multiprocessing queues may take a moment, but nobody reading such a queue
    would hold a worker forever: those still running then are left to
    :func:`proctree.kill_descendants`, which the zygote calls next.
    """
    deadline = time.monotonic() + EXIT_GRACE
    delay = 0.001
    while children:
        for pid in list(children):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0]
            except ChildProcessError:
                done = pid
            if done:
                children.discard(pid)
        if not children:
            return
        if time.monotonic() > deadline:
            log.warning(
                "killing worker processes %s: still running %s s after the run",
                sorted(children),
                EXIT_GRACE,
            )
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _worker_main(
    sock: socket.socket, table: Sequence[Runnable], slots: WorkerSlots, index: int
) -> None:
    """Run tasks as the scheduler sends them, until the connection closes.

    Each item is ``(tid, shared, spec, code, after)``: ``code`` is the tid of the
    spec to run (``tid`` itself, or the ``origin`` of a task submitted again
    under a new tid), found in the table inherited at the fork or among the
    specs sent later (``spec`` is the cloudpickled spec the first time, else
    ``None``). The outcome goes back under ``tid``. A spec sent for its own
    tid (``code == tid``) runs once: it is not kept, so the process holds
    only the origins of a standalone pool's resubmissions.

    ``after`` (``-1``: none) is the tid of the task the planner chained this
    one behind: the item before it here. It runs only if that one's outcome,
    as it was sent, says ``deps_ok``, with ``shared`` updated from that
    outcome's dict (what the planner would have merged); else it is not run
    and nothing is sent for it (the planner knows from that outcome), nor is
    a task chained behind it run. Only the last outcome sent is kept for it.

    Each task's id is in this worker's slot while it runs, so that the
    scheduler knows which task a crash interrupted. The outcome is sent before
    the slot is cleared: a task whose outcome was sent is never blamed.

    After a batch that ran a task, the process looks for the next batch for
    :data:`LOOK_S` before it blocks on the socket, unless the last batch
    after a task came later than that (the look would have burnt its time).
    """
    frames = FrameReader(sock.fileno())  # one read() for all that arrived
    known: dict[int, Runnable] = {}  # origins added after the fork
    # the last task's tid and the head of its outcome as sent (None: not run)
    last_tid, last_head = -1, None
    readable = select.poll()
    readable.register(sock.fileno(), select.POLLIN)
    looks = readable.poll
    clock, yield_cpu = time.perf_counter, os.sched_yield
    ran = False  # whether the last batch ran a task: look for the next before blocking
    look = True  # whether the last batch after a task came within LOOK_S
    start = 0.0
    while True:
        if ran:
            start = clock()
            if look:
                until = start + LOOK_S
                while not looks(0) and clock() < until:
                    yield_cpu()
        try:
            messages = frames.read()
        except OSError:
            return
        if ran:  # a look that would have waited in vain is not made next time
            look = clock() - start < LOOK_S
            ran = False
        if messages is None:
            return
        items: list[tuple[int, dict[str, Any], bytes | None, int, int]] = [
            item for data in messages for item in pickle.loads(data)
        ]
        for tid, shared, blob, code, after in items:
            if after >= 0:
                provided = _provided(after, last_tid, last_head)
                if provided is None:
                    last_tid, last_head = tid, None  # not run: nor what is chained behind
                    continue
                shared.update(provided)
            slots.begin(index, tid)
            ran = True
            try:
                if blob is not None:
                    spec = cloudpickle.loads(blob)
                    if code != tid:
                        known[code] = spec
                else:
                    spec = known[code] if code >= len(table) else table[code]
            except Exception as exc:  # the task cannot be rebuilt here
                outcome, func = failure(tid, shared, exc), None
            else:
                outcome, func = run_task(spec, shared), spec.func
                if code != tid:
                    outcome = dataclasses.replace(outcome, tid=tid)
            if proctree.has_children():  # no process of a task outlives it
                proctree.kill_descendants()
            sent = encode_outcome(outcome, func)
            try:
                for message in sent:
                    send_message(sock, message)
            except OSError:
                return
            finally:
                slots.end(index)
            last_tid, last_head = tid, sent[0]


def _provided(after: int, last_tid: int, last_head: bytes | None) -> dict[str, Any] | None:
    """The dict task ``after`` provided, if it was the last one and ended ``deps_ok``.

    Read from its outcome as sent (a return value that did not pickle made
    it a failure there), so that the process decides as the planner will.
    """
    if after != last_tid or last_head is None:
        return None
    outcome, _ = decode_head(last_head)
    return outcome.shared if outcome.deps_ok else None
