"""The thread worker actor: runs tasks in its own thread."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from .base import PexenActor
from .messages import RunTasks, TaskDone
from .taskrun import run_task

if TYPE_CHECKING:
    from .workerset import FailureSink, Reporter

__all__ = ["ThreadSlots", "ThreadWorker"]


class ThreadSlots:
    """What each thread worker runs now, by index and generation.

    A worker that was abandoned (its task timed out) keeps running in its
    thread; its generation is then stale, so its writes are ignored and the
    slot belongs to the fresh worker that took its index. Workers write
    without a lock (one list item, atomic); only :meth:`retire` takes one.
    """

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._generation = [0] * count
        self._current: list[tuple[int, int, float] | None] = [None] * count

    def begin(self, index: int, generation: int, tid: int) -> None:
        self._current[index] = (generation, tid, time.monotonic())

    def end(self, index: int, generation: int) -> None:
        current = self._current[index]
        if current is not None and current[0] == generation:
            self._current[index] = None

    def get(self, index: int) -> tuple[int, float] | None:
        current = self._current[index]
        if current is None or current[0] != self._generation[index]:
            return None
        return current[1], current[2]

    def retire(self, index: int, tid: int) -> int | None:
        """Abandon worker ``index`` if it still runs ``tid``: its new generation."""
        with self._lock:
            current = self.get(index)
            if current is None or current[0] != tid:
                return None
            self._generation[index] += 1
            self._current[index] = None
            return self._generation[index]


class ThreadWorker(PexenActor):
    """One worker of a :class:`~pexen.sched.pool.ThreadWorkerPool`.

    Protocol: takes :class:`RunTasks`; runs the tasks one by one in the
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

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, RunTasks):
            return
        slots, index, gen = self._slots, self._index, self._generation
        cancelled, abandoned = self._cancelled.is_set, self.abandoned.is_set
        report = self._report_to.tell
        for spec, shared in message.items:
            if cancelled() or abandoned():
                break
            if slots is not None:
                slots.begin(index, gen, spec.tid)
                outcome = run_task(spec, shared)
                slots.end(index, gen)
            else:
                outcome = run_task(spec, shared)
            if abandoned():
                break
            report(TaskDone(index, (outcome,)))
        if self.abandoned.is_set():
            self.actor_ref.stop(block=False)
