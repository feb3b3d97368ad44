"""The process pool's workers: passive actors, and the forked processes behind them.

An implementation of the pool protocol (:mod:`actors.workerset`, where each
method's contract is); like an OTP supervisor, the set replaces a worker
process that died under the same index and reports it as ``WorkerLost``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import selectors
import signal
import threading
import time
from collections.abc import Sequence
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from pexen.state.taskspec import TaskSpec
from pexen.vocab.errors import WorkerLostError

from .messages import Reconnect, TaskDone, WorkerLost
from .procworker import ProcessWorker
from .slots import WorkerSlots
from .sources import ReaderThread
from .watchdog import Watchdog, timeout_error
from .wire import OutcomeReader
from .zygote import Zygote, describe_status

if TYPE_CHECKING:
    from .workerset import FailureSink, Reporter, WorkerActor, WorkerSet

__all__ = ["ProcessWorkerSet"]

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__


class ProcessWorkerSet:
    """Worker actors, each driving one worker process forked by a zygote.

    Forks at construction: build it before any thread of pexen starts. The
    processes' sockets are read by the caller's thread while it waits for a
    result, else by a reader thread (:class:`~actors.sources.ReaderThread`,
    the set's ``waiter``: rule 6 of the protocol): outcomes become
    :class:`TaskDone` messages, handled right there by the (passive)
    planner; when a process dies the set learns from the zygote how (signal,
    exit code), from the slots which task it was running, reports
    :class:`WorkerLost` and forks a replacement.
    """

    def __init__(self, workers: int, table: Sequence[TaskSpec]) -> None:
        self._table = table
        self._inherited = len(table)
        self._slots = WorkerSlots(workers)
        self._lock = threading.Lock()
        self._closing = False
        self._procs: list[tuple[int, Connection, int | None]] = []
        self._generation = [0] * workers
        self._timed_out: dict[int, int] = {}  # index -> tid killed for its timeout
        # outcomes read from a socket and not yet told to the planner (the
        # reader, one thread at a time, sets it): settle waits for them too
        self._reading = False
        self._refs: list[ProcessWorker] = []
        self._report_to: Reporter  # set by launch, before any report
        self._reader: ReaderThread | None = None  # reads the processes' sockets
        #: the caller's thread reads the sockets while it waits (rule 6)
        self.waiter: ReaderThread | None = None
        self._watchdog = Watchdog(table, workers, self._slots.get, self._kill_timed_out)
        self._zygote = Zygote(table, self._slots)
        try:
            for index in range(workers):
                self._procs.append(self._spawn(index))
        except BaseException:
            self.close(kill=True)
            raise

    def _spawn(self, index: int) -> tuple[int, Connection, int | None]:
        pid, conn = self._zygote.spawn(index)
        return pid, conn, _pidfd(pid)

    def launch(self, report_to: Reporter, failure_sink: FailureSink | None) -> list[WorkerActor]:
        self._report_to = report_to
        self._reader = self.waiter = ReaderThread()
        self._refs = [
            ProcessWorker(i, conn, self._inherited, report_to, partial(self._want_write, i))
            for i, (_, conn, _) in enumerate(self._procs)
        ]
        for ref in self._refs:
            ref.failure_sink = failure_sink
        for index, (_, conn, _) in enumerate(self._procs):
            self._read_socket(index, conn)
        return list(self._refs)

    def enforce_timeouts(self) -> None:
        self._watchdog.ensure()

    def current(self, index: int) -> tuple[int, float] | None:
        return self._slots.get(index)

    def settle(self, timeout: float) -> None:
        """Return once every outcome sent was read and told to the planner, or
        after ``timeout`` s (rule 7).

        Called by a cancel, from any thread: it only looks at the sockets
        (a poll that does not wait) and at whether the reader (the caller's
        thread, or the reader thread) is between a read and its tell. A
        worker process starts a task chained behind another right after
        sending that one's outcome, so without this a cancel prompted by the
        second task's start could find the first one's outcome unread, and
        its result lost.
        """
        with self._lock:
            if self._closing:
                return
            fds = [conn.fileno() for _, conn, _ in self._procs]
        sockets = select.poll()
        for fd in fds:
            sockets.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        delay = 0.0001
        # unread, or read and on their way to the planner (a poll alone missed
        # those: the cancel then reached the planner first, and their results
        # were lost)
        while (self._reading or sockets.poll(0)) and time.monotonic() < deadline:
            time.sleep(delay)  # the reader is at it: it reads each within microseconds
            delay = min(delay * 2, 0.005)

    def _kill_timed_out(self, index: int, tid: int) -> None:
        with self._lock:
            if self._closing or self._slots.get(index) is None:
                return
            self._timed_out[index] = tid
            pid, _, pidfd = self._procs[index]
            _kill(pid, pidfd)

    # -- socket events (in the caller's thread, or the reader thread) ---------

    def _read_socket(self, index: int, conn: Connection) -> None:
        # by fd: unregistering must work after the connection is closed
        assert self._reader is not None
        fd = conn.fileno()
        callback = partial(self._ready, index, conn, OutcomeReader(fd))
        self._reader.add(fd, selectors.EVENT_READ, callback)

    def _want_write(self, index: int) -> None:
        """Worker ``index`` has bytes its socket could not take yet."""
        with self._lock:
            if self._closing or self._reader is None:
                return
            fd = self._procs[index][1].fileno()
        self._reader.modify(fd, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _ready(self, index: int, conn: Connection, frames: OutcomeReader, mask: int) -> None:
        assert self._reader is not None
        if conn.closed or self._closing:
            return
        if mask & selectors.EVENT_WRITE:
            worker = self._refs[index]
            worker.flush()
            if not worker.pending:
                self._reader.modify(conn.fileno(), selectors.EVENT_READ)
        if mask & selectors.EVENT_READ:
            # what worker ``index`` sent (once per task: inlined); None: it died
            self._reading = True
            try:
                try:
                    outcomes = frames.read()
                except OSError:
                    outcomes = None
                if outcomes:  # TaskDone(index, ...) without its Python-level __new__
                    self._report_to.tell(_new_tuple(TaskDone, (index, tuple(outcomes))))
            finally:
                self._reading = False
            if outcomes is None:
                self._reader.remove(conn.fileno())
                replacement = self._replace(index)
                if replacement is not None:
                    self._read_socket(index, replacement)

    def _replace(self, index: int) -> Connection | None:
        """Worker ``index`` died: report it, with its culprit, and fork anew."""
        with self._lock:
            if self._closing:
                return None
            pid, conn, pidfd = self._procs[index]
        status = self._zygote.reap(pid)
        current = self._slots.get(index)
        self._slots.end(index)
        culprit = current[0] if current is not None else None
        err: BaseException
        timed_out = culprit is not None and self._timed_out.pop(index, None) == culprit
        if timed_out and culprit is not None and (spec := _spec(self._table, culprit)):
            err = timeout_error(spec, "its process was killed")
        else:
            err = WorkerLostError(f"the worker running the task died: {describe_status(status)}")
        log.info("worker %d lost (%s), running task %s", index, err, culprit)
        conn.close()
        if pidfd is not None:
            os.close(pidfd)
        with self._lock:
            if self._closing:
                return None
            try:
                self._procs[index] = proc = self._spawn(index)
            except OSError:
                log.exception("cannot replace worker %d", index)
                self._report_to.tell(WorkerLost(index, None, culprit, err))
                return None
            self._generation[index] += 1
            generation = self._generation[index]
        self._refs[index].tell(Reconnect(proc[1], generation))
        self._report_to.tell(WorkerLost(index, generation, culprit, err))
        return proc[1]

    # -- shutdown ----------------------------------------------------------

    def close(self, kill: bool) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            procs = list(self._procs)
        if kill:
            for pid, _, pidfd in procs:
                _kill(pid, pidfd)
        self._watchdog.stop()
        if self._reader is not None:
            self._reader.stop()
        for ref in self._refs:
            ref.stop()
        for _, conn, pidfd in procs:
            conn.close()  # an idle worker process ends on EOF
            if pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(pidfd)
        self._procs = []
        self._zygote.close()  # returns once every worker process has ended
        self._slots.close()

    def alive(self) -> bool:
        return bool(self._procs)


def _spec(table: Sequence[TaskSpec], tid: int) -> TaskSpec | None:
    """``table[tid]``, or ``None`` for a task that ended meanwhile and whose
    entry went with its result (a served task that sent its outcome just
    before its process was killed)."""
    try:
        return table[tid]
    except (KeyError, IndexError):
        return None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill(pid: int, pidfd: int | None) -> None:
    # Through a pidfd the signal cannot hit a recycled pid.
    with contextlib.suppress(ProcessLookupError, OSError):
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


if TYPE_CHECKING:  # mypy checks that the set keeps the pool protocol
    _: type[WorkerSet] = ProcessWorkerSet
