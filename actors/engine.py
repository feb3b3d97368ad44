"""One run, wired: worker set, planner (with its lock manager), result mailbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from pexen.state.taskspec import TaskSpec

from .mailbox import ResultMailbox
from .messages import BacklogDrained, Begin, Cancel
from .planner import Planner
from .workerset import WorkerSet

__all__ = ["Engine"]


class Engine:
    """Starts a run at construction; :meth:`take` its results; :meth:`close` it.

    ``make_workers(cancelled)`` builds the pool's :class:`WorkerSet`; it is
    called before any actor thread starts, so a process pool may fork there.
    """

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        preset: dict[str, Any],
        make_workers: Callable[[threading.Event], WorkerSet],
        slots: int,
        backlog: int,
    ) -> None:
        self.cancelled = threading.Event()
        self.mailbox = ResultMailbox(backlog)
        self._workers = make_workers(self.cancelled)
        self._planner = None
        self._closed = False
        try:
            planner = self._planner = Planner.start(
                specs, preset, slots, self.mailbox, self.cancelled
            )
            self.mailbox.on_drained = lambda: planner.tell(BacklogDrained())
            refs = self._workers.launch(planner, self.mailbox)
            planner.tell(Begin(tuple(refs)))
        except BaseException:
            self.close(cancel=True)
            raise

    def take(self) -> Any:
        """The next :class:`~pexen.sched.TaskRes`, or the final ``RunEnded``."""
        return self.mailbox.take()

    def close(self, cancel: bool) -> None:
        """Stop every actor and worker of the run; with ``cancel``, abandon it.

        Returns once no thread or process of the run is left, except a thread
        worker still inside a task, which cannot be interrupted.
        """
        if self._closed:
            return
        self._closed = True
        if cancel:
            self.cancelled.set()
            if self._planner is not None:
                self._planner.tell(Cancel())
        self._workers.close(kill=cancel)
        if self._planner is not None:
            self._planner.stop()
