"""The process worker actor, and the reader of every worker process's results."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
from multiprocessing.connection import Connection, wait
from typing import Any

import pykka

from .mailbox import ResultMailbox
from .messages import Outcome, RunEnded, RunTasks, TaskDone, WorkerLost
from .taskrun import failure
from .wire import decode_outcome

__all__ = ["ProcessWorker", "ResultReader"]

log = logging.getLogger(__name__)

#: results read from one worker process before reporting them together
_READ_BATCH = 64


class ProcessWorker(pykka.ThreadingActor):
    """One worker of a :class:`~pexen.sched.pool.ProcessWorkerPool`.

    Drives one worker process. Protocol: takes :class:`RunTasks` and writes
    the tasks' ids and shared dicts to the process at once, so that it never
    idles while work is handed out ahead. The outcomes come back through the
    pool's :class:`ResultReader`, which reports them as :class:`TaskDone`
    with this worker's index. A shared dict that cannot be pickled fails its
    task here, reported as :class:`TaskDone` directly.
    """

    def __init__(
        self,
        index: int,
        conn: Connection,
        report_to: Any,
        mailbox: ResultMailbox | None = None,
    ) -> None:
        super().__init__()
        self._index = index
        self._conn = conn
        self._report_to = report_to
        self._mailbox = mailbox

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, RunTasks):
            return
        items = [(spec.tid, shared) for spec, shared in message.items]
        data: bytes | None
        try:
            data = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = self._drop_unpicklable(message)
            if data is None:
                return
        with contextlib.suppress(OSError):  # a dead process: the reader reports it
            self._conn.send_bytes(data)

    def _drop_unpicklable(self, message: RunTasks) -> bytes | None:
        good, failed = [], []
        for spec, shared in message.items:
            try:
                pickle.dumps(shared, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                err = AttributeError(
                    f"Can't pickle shared of task {spec.func!r} for its worker process: {exc}"
                )
                failed.append(failure(spec.tid, shared, err))
            else:
                good.append((spec.tid, shared))
        if failed:
            self._report_to.tell(TaskDone(self._index, tuple(failed)))
        return pickle.dumps(good, pickle.HIGHEST_PROTOCOL) if good else None

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._mailbox is not None:
            self._mailbox.end(RunEnded(0, 0, exception_value))


class ResultReader:
    """A thread reading outcomes from every worker process of a pool.

    Reports each batch of outcomes as :class:`TaskDone` and a closed
    connection (a dead process) as :class:`WorkerLost` to ``report_to``.
    """

    def __init__(self, conns: list[Connection], report_to: Any) -> None:
        self._conns = {conn: index for index, conn in enumerate(conns)}
        self._report_to = report_to
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="pexen-results", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and wait for the thread to end."""
        os.write(self._wake_w, b"x")
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        conns = self._conns
        while conns:
            for conn in wait([*conns, self._wake_r]):
                if conn == self._wake_r:
                    return
                assert isinstance(conn, Connection)
                self._read(conn, conns[conn], conns)

    def _read(self, conn: Connection, index: int, conns: dict[Connection, int]) -> None:
        outcomes: list[Outcome] = []
        try:
            while len(outcomes) < _READ_BATCH:
                outcomes.append(decode_outcome(conn.recv_bytes()))
                if not conn.poll(0):
                    break
        except (EOFError, OSError):
            del conns[conn]
            if outcomes:
                self._report_to.tell(TaskDone(index, tuple(outcomes)))
            self._report_to.tell(WorkerLost(index, "its process ended unexpectedly"))
            return
        except Exception:
            log.exception("cannot decode a result of worker %d", index)
            del conns[conn]
            self._report_to.tell(WorkerLost(index, "it sent a result that cannot be read"))
            return
        self._report_to.tell(TaskDone(index, tuple(outcomes)))
