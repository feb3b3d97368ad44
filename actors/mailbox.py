"""The result mailbox: what the planner posts and the facade drains."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from .messages import RunEnded

__all__ = ["ResultMailbox"]


class ResultMailbox:
    """A queue of results with a bounded backlog.

    The planner posts each result as it exists and never blocks. Before it
    dispatches more work it asks :meth:`should_pause`: ``True`` when the
    caller has left ``backlog`` results or more untaken. Taking results
    below the bound then calls ``on_drained`` once, from the caller's thread,
    so the planner resumes.
    """

    def __init__(self, backlog: int, on_drained: Callable[[], None] | None = None) -> None:
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._backlog = backlog
        self._untaken = 0
        self._paused = False
        self._lock = threading.Lock()
        self.on_drained = on_drained

    def post(self, result: Any) -> None:
        """Planner: deliver one result."""
        with self._lock:
            self._untaken += 1
        self._queue.put(result)

    def end(self, ended: RunEnded) -> None:
        """Planner (or a failing actor): deliver the run's last message."""
        self._queue.put(ended)

    def should_pause(self) -> bool:
        """Planner: whether to hold dispatch until the caller catches up."""
        with self._lock:
            if self._untaken >= self._backlog:
                self._paused = True
            return self._paused

    def take(self, timeout: float | None = None) -> Any:
        """Facade: the next result or :class:`RunEnded`; blocks until one exists.

        Raises :class:`queue.Empty` after ``timeout`` seconds, if given.
        """
        item = self._queue.get(timeout=timeout)
        if isinstance(item, RunEnded):
            return item
        with self._lock:
            self._untaken -= 1
            resume = self._paused and self._untaken < self._backlog
            if resume:
                self._paused = False
        if resume and self.on_drained is not None:
            self.on_drained()
        return item
