"""The result mailbox: what the planner posts and the facade drains."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .messages import RunEnded

if TYPE_CHECKING:
    from .workerset import Waiter

__all__ = ["ResultMailbox"]

#: What a waiter puts in the queue to have the caller, blocked there, wait
#: through it again (never returned by :meth:`ResultMailbox.take`).
_NUDGE = object()


class ResultMailbox:
    """A queue of results, with a count of those the caller has not consumed.

    A result is *consumed* when the caller, having received it, comes back for
    the next one (:meth:`consumed`). The planner posts each result as it
    exists and never blocks. It asks :meth:`should_pause` before dispatching
    more (``True`` while ``backlog`` results or more are unconsumed), and
    :meth:`all_consumed` before ending the run, so that tasks the caller adds
    while handling the last result still join the run. When consumption
    crosses either mark, ``on_drained`` is called once, from the caller's
    thread, so the planner carries on.

    In an observed run, events (:mod:`pexen.vocab.events`) travel in the same
    queue, in lists, in order with the results; they are not counted.

    With a :class:`~actors.workerset.Waiter` (:meth:`wait_with`: the worker
    set's, when it has one), :meth:`take` waits through it when the queue is
    empty: the worker set's events are handled in the caller's thread, and
    a result they bring is posted and taken in that thread, without a
    thread hand-off. A post from another thread then wakes the waiter.
    """

    def __init__(self, backlog: int, on_drained: Callable[[], None] | None = None) -> None:
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._backlog = backlog
        # Each counter has one writer (posted: the planner; consumed: the
        # caller), so no lock: each side sets its flag, then reads the other
        # side's counter, and one of the two always sees the other's write.
        self._posted = 0
        self._consumed = 0
        self._paused = False
        self._awaiting_empty = False
        self.on_drained = on_drained
        self._waiter: Waiter | None = None
        # bound once (the queue's: no cycle back to this mailbox): take() runs once per result
        self._get, self._empty = self._queue.get, self._queue.empty

    def wait_with(self, waiter: Waiter) -> None:
        """Wait through ``waiter`` from now on (before the first :meth:`take`)."""
        waiter.attach(self._nudge, self._broken)
        self._waiter = waiter

    def post(self, result: Any) -> None:
        """Planner: deliver one result."""
        self._posted += 1
        self._queue.put(result)
        waiter = self._waiter
        if waiter is not None and waiter.polling:  # posted from another thread
            waiter.wake()

    def events(self, events: list[Any]) -> None:
        """Planner: deliver events of an observed run (a list: one queue item
        for the events between two results), in order with the results. They
        do not count as results: the caller consumes none."""
        self._queue.put(events)
        waiter = self._waiter
        if waiter is not None and waiter.polling:
            waiter.wake()

    def end(self, ended: RunEnded) -> None:
        """Planner (or a failing actor): deliver the run's last message."""
        self._queue.put(ended)
        waiter = self._waiter
        if waiter is not None and waiter.polling:
            waiter.wake()

    def _nudge(self) -> None:
        self._queue.put(_NUDGE)

    def _broken(self, exc: BaseException) -> None:
        self.end(RunEnded(0, 0, exc))

    def should_pause(self, unposted: int = 0) -> bool:
        """Planner: whether to hold dispatch until the caller catches up.

        ``unposted``: results the planner holds and is about to post.
        """
        limit = self._backlog - unposted
        if self._posted - self._consumed < limit:
            return False
        self._paused = True
        if self._posted - self._consumed < limit:  # consumed meanwhile
            self._paused = False
        return self._paused

    def all_consumed(self) -> bool:
        """Planner: whether the caller consumed every result posted so far."""
        if self._posted == self._consumed:
            return True
        self._awaiting_empty = True
        if self._posted == self._consumed:  # consumed meanwhile
            self._awaiting_empty = False
        return not self._awaiting_empty

    def take(self, timeout: float | None = None) -> Any:
        """Facade: the next result or :class:`RunEnded`; blocks until one exists.

        Raises :class:`queue.Empty` after ``timeout`` seconds, if given.
        """
        waiter = self._waiter
        if waiter is None:
            return self._queue.get(timeout=timeout)
        get, empty = self._get, self._empty
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            if not empty():
                item = get()  # the one taker: it does not block
            else:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if left == 0.0 and waited:
                    raise queue.Empty
                if waiter.wait(self._ready, left):
                    waited = True  # ready, or the time is up, or closing: look again
                    continue
                item = get(timeout=left)  # another thread reads: it posts here, or nudges
            if item is not _NUDGE:
                return item

    def _ready(self) -> bool:
        return not self._queue.empty()

    def consumed(self) -> None:
        """Facade: the caller is done with one result."""
        self._consumed += 1
        unconsumed = self._posted - self._consumed
        if (self._paused and unconsumed < self._backlog) or (
            self._awaiting_empty and unconsumed == 0
        ):
            self._paused = self._awaiting_empty = False
            if self.on_drained is not None:
                self.on_drained()
