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

    Tasks are *tiny* (:meth:`tiny`) while the mean of their run times, as
    their workers measured them, is under ``tiny_task`` seconds: less than
    waking an idle worker costs (the mean starts high: a dozen tiny tasks
    must run first). For those, a pool whose idle workers look for work by
    themselves lets the planner hold a task for the worker about to report
    rather than wake one.
    """

    __slots__ = ("_long", "mean", "run_mean", "tiny_task")

    #: weight of the newest sample in the mean
    WEIGHT = 0.25

    def __init__(self, long_task: float = 0.005, tiny_task: float = 0.00005) -> None:
        self._long = long_task
        self.tiny_task = tiny_task
        self.mean = 0.0  # seconds; short until tasks show otherwise
        # seconds; not tiny until tasks show it: some ten tiny ones bring it
        # under (the first tasks of a run go out as they always did)
        self.run_mean = tiny_task * 20

    def served(self, seconds: float, ran: float = 0.0) -> None:
        """A task held its worker for ``seconds``, and ran for ``ran`` of them.

        ``ran``: from its start to its end, as its worker measured them; 0.0
        when it did not (not counted).
        """
        self.mean += (seconds - self.mean) * self.WEIGHT
        if ran > 0.0:
            self.run_mean += (ran - self.run_mean) * self.WEIGHT

    def tiny(self) -> bool:
        """Whether tasks run for less than waking a worker costs."""
        return self.run_mean < self.tiny_task

    def ahead(self) -> bool:
        """Whether to hand a task to a worker that is busy."""
        return self.mean < self._long
