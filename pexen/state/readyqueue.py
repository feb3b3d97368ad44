"""Ready tasks, by priority and then by insertion order."""

from __future__ import annotations

import heapq
from typing import Any

__all__ = ["ReadyQueue"]

_push, _pop = heapq.heappush, heapq.heappop


class ReadyQueue(list[tuple[Any, int]]):
    """A min-heap of ready tasks: lowest ``priority`` first, ties by ``tid``.

    ``tid`` is the insertion order of the task in its run, so equal priorities
    run in the order the tasks were added. Push and pop are O(log n). A list
    itself (of ``(priority, tid)``, in heap order: read it through the
    methods), so that testing it for emptiness, twice per message in the
    planner, costs no Python call.
    """

    __slots__ = ()

    def push(self, priority: Any, tid: int) -> None:
        """Add a ready task."""
        _push(self, (priority, tid))

    def pop(self) -> int:  # type: ignore[override]
        """Remove and return the tid of the most urgent task."""
        return _pop(self)[1]

    def peek(self) -> int:
        """The tid of the most urgent task, left in the queue (the next :meth:`pop`)."""
        return self[0][1]

    def tids(self) -> list[int]:
        """The queued tids, most urgent first (a copy; O(n log n))."""
        return [tid for _, tid in sorted(self)]
