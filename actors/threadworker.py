"""The thread worker actor: runs tasks in its own thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .base import PexenActor
from .messages import RunTasks, TaskDone
from .slots import ThreadSlots
from .taskrun import run_task

if TYPE_CHECKING:
    from .workerset import FailureSink, Reporter

__all__ = ["ThreadWorker"]


class ThreadWorker(PexenActor):
    """One worker of a :class:`~pexen.sched.pool.ThreadWorkerPool`.

    Protocol: takes :class:`RunTasks` (alone, or in a one-item list that it
    empties: the worker set's box); runs the tasks one by one in the
    actor's thread and sends a :class:`TaskDone` to ``report_to`` as each
    ends. Tasks not yet begun are dropped once ``cancelled`` is set, or once
    ``abandoned`` is set (its task timed out: the worker set has told the
    planner, which hands those tasks out again); an abandoned worker reports
    nothing more and stops when its task returns.
    """

    use_daemon_thread = True  # a task that never returns must not block exit

    def __init__(
        self,
        index: int,
        report_to: Reporter,
        cancelled: threading.Event,
        failure_sink: FailureSink | None = None,
        slots: ThreadSlots | None = None,
        generation: int = 0,
        abandoned: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._index = index
        self._report_to = report_to
        self._cancelled = cancelled
        self.failure_sink = failure_sink
        self._slots = slots
        self._generation = generation
        self.abandoned = abandoned or threading.Event()

    def _handle_receive(self, message: Any) -> Any:
        # pykka's own tests each message for its control kinds first (stop,
        # proxy calls); the planner's, boxed, is none of them
        if type(message) is list:
            return self.on_receive(message)
        return super()._handle_receive(message)

    def on_receive(self, message: Any) -> None:
        if type(message) is list:  # boxed by the worker set: take it out (see _BoxedRef)
            message = message.pop()
        if not isinstance(message, RunTasks):
            return
        slots, index, gen = self._slots, self._index, self._generation
        cancelled, abandoned = self._cancelled.is_set, self.abandoned.is_set
        report = self._report_to.tell
        retired = False
        for spec, shared in message.items:
            if cancelled():
                break
            if slots is not None:
                # a retired worker is abandoned: begin() refuses it
                if not slots.begin(index, gen, spec.tid):
                    retired = True  # abandoned meanwhile: the planner hands it out again
                    break
                outcome = run_task(spec, shared)
                slots.end(index, gen)
            else:
                if abandoned():
                    break
                outcome = run_task(spec, shared)
            if abandoned():
                break
            report(TaskDone(index, (outcome,)))
        if retired or self.abandoned.is_set():
            self.actor_ref.stop(block=False)
