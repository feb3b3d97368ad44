"""The thread worker actor: runs tasks in its own thread."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from .mailbox import ResultMailbox
from .messages import RunEnded, RunTasks, TaskDone
from .taskrun import run_task

__all__ = ["ThreadWorker"]


class ThreadWorker(pykka.ThreadingActor):
    """One worker of a :class:`~pexen.sched.pool.ThreadWorkerPool`.

    Protocol: takes :class:`RunTasks`; runs the tasks one by one in the
    actor's thread and sends a :class:`TaskDone` to ``report_to`` as each
    ends. Once ``cancelled`` is set, tasks not yet begun are dropped.
    """

    use_daemon_thread = True  # a task that never returns must not block exit

    def __init__(
        self,
        index: int,
        report_to: Any,
        cancelled: threading.Event,
        mailbox: ResultMailbox | None = None,
    ) -> None:
        super().__init__()
        self._index = index
        self._report_to = report_to
        self._cancelled = cancelled
        self._mailbox = mailbox

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, RunTasks):
            return
        for spec, shared in message.items:
            if self._cancelled.is_set():
                return
            outcome = run_task(spec, shared)
            self._report_to.tell(TaskDone(self._index, (outcome,)))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._mailbox is not None:
            self._mailbox.end(RunEnded(0, 0, exception_value))
