"""Ready tasks, by priority and then by insertion order."""

from __future__ import annotations

import heapq
from typing import Any

__all__ = ["ReadyQueue"]


class ReadyQueue:
    """A min-heap of ready tasks: lowest ``priority`` first, ties by ``tid``.

    ``tid`` is the insertion order of the task in its run, so equal priorities
    run in the order the tasks were added. Push and pop are O(log n).
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[Any, int]] = []

    def push(self, priority: Any, tid: int) -> None:
        """Add a ready task."""
        heapq.heappush(self._heap, (priority, tid))

    def pop(self) -> int:
        """Remove and return the tid of the most urgent task."""
        return heapq.heappop(self._heap)[1]

    def peek(self) -> int:
        """The tid of the most urgent task, left in the queue (the next :meth:`pop`)."""
        return self._heap[0][1]

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def tids(self) -> list[int]:
        """The queued tids, most urgent first (a copy; O(n log n))."""
        return [tid for _, tid in sorted(self._heap)]
