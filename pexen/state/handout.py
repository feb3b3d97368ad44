"""Whether to hand a task out ahead, to a worker still busy with another."""

from __future__ import annotations

__all__ = ["HandOutPolicy"]


class HandOutPolicy:
    """Hands tasks out ahead only while tasks are short.

    A task handed out ahead waits in a busy worker's queue, so that the worker
    goes on without waiting a round trip for its next task. That is worth it
    when the round trip (tens to hundreds of microseconds) is a noticeable
    share of a task's run time. For longer tasks it only costs: the task is
    bound to one worker while another may free up first (at the end of a run,
    one worker idles while the other still has a queue), and a more urgent
    task that becomes ready meanwhile cannot overtake it.

    The planner reports how long each task held its worker (:meth:`served`);
    the policy keeps an exponentially weighted mean of it and allows handing
    out ahead (:meth:`ahead`) while the mean is under ``long_task`` seconds.
    """

    __slots__ = ("_long", "mean")

    #: weight of the newest sample in the mean
    WEIGHT = 0.25

    def __init__(self, long_task: float = 0.005) -> None:
        self._long = long_task
        self.mean = 0.0  # seconds; short until tasks show otherwise

    def served(self, seconds: float) -> None:
        """A task held its worker for ``seconds``."""
        self.mean += (seconds - self.mean) * self.WEIGHT

    def ahead(self) -> bool:
        """Whether to hand a task to a worker that is busy."""
        return self.mean < self._long
