"""The process worker actor: hands tasks to one worker process."""

from __future__ import annotations

import contextlib
import logging
import pickle
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from .base import PexenActor
from .mailbox import ResultMailbox
from .messages import Outcome, Reconnect, RunTasks, TaskDone
from .taskrun import failure

__all__ = ["ProcessWorker"]

log = logging.getLogger(__name__)


class ProcessWorker(PexenActor):
    """One worker of a :class:`~pexen.sched.pool.ProcessWorkerPool`.

    Drives one worker process at a time. Protocol:

    - takes :class:`RunTasks` and writes the tasks' ids and shared dicts to
      the process at once, so that it never idles while work is handed out
      ahead; a task added after the process was forked goes with its
      cloudpickled spec, once per process. Outcomes come back through the
      worker set's reader, as :class:`TaskDone` with this worker's index.
      A message of an older generation is dropped (its tasks were requeued).
    - takes :class:`Reconnect`: its process died and this new one replaces it.

    A task whose shared dict or spec cannot be pickled fails here, reported
    as :class:`TaskDone` directly.
    """

    def __init__(
        self,
        index: int,
        conn: Connection,
        inherited: int,
        report_to: Any,
        mailbox: ResultMailbox | None = None,
    ) -> None:
        super().__init__()
        self._index = index
        self._conn = conn
        self._inherited = inherited  # tids below this are in the process's table
        self._sent: set[int] = set()  # later tids whose spec this process has
        self._generation = 0
        self._report_to = report_to
        self.mailbox = mailbox

    def on_receive(self, message: Any) -> None:
        if isinstance(message, RunTasks):
            if message.generation == self._generation:
                self._run(message)
        elif isinstance(message, Reconnect):
            self._conn = message.conn
            self._generation = message.generation
            self._sent = set()

    def _run(self, message: RunTasks) -> None:
        items, failed = [], []
        for spec, shared in message.items:
            blob = None
            if spec.tid >= self._inherited and spec.tid not in self._sent:
                try:
                    blob = cloudpickle.dumps(spec)
                except Exception as exc:
                    err = AttributeError(f"Can't pickle task {spec.func!r} for its process: {exc}")
                    failed.append(failure(spec.tid, shared, err))
                    continue
                self._sent.add(spec.tid)
            items.append((spec.tid, shared, blob))
        data: bytes | None
        try:
            data = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = self._without_unpicklable(message, items, failed)
        if failed:
            self._report_to.tell(TaskDone(self._index, tuple(failed)))
        if data is not None:
            with contextlib.suppress(OSError):  # a dead process: the reader reports it
                self._conn.send_bytes(data)

    def _without_unpicklable(
        self, message: RunTasks, items: list[Any], failed: list[Outcome]
    ) -> bytes | None:
        handed = {spec.tid: (spec, shared) for spec, shared in message.items}
        good = []
        for item in items:
            try:
                pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                spec, shared = handed[item[0]]
                err = AttributeError(
                    f"Can't pickle shared of task {spec.func!r} for its process: {exc}"
                )
                failed.append(failure(spec.tid, shared, err))
            else:
                good.append(item)
        return pickle.dumps(good, pickle.HIGHEST_PROTOCOL) if good else None
