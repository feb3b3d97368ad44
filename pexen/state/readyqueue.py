"""Ready tasks, by priority and then by insertion order."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

__all__ = ["ReadyQueue"]

_push, _pop = heapq.heappush, heapq.heappop


class ReadyQueue(deque[tuple[Any, int]]):
    """Ready tasks, most urgent first: lowest ``priority``, ties by ``tid``.

    ``tid`` is the insertion order of the task in its run, so equal priorities
    run in the order the tasks were added. Most tasks become ready in that
    very order (``(priority, tid)`` growing): those are appended to a sorted
    run, the deque itself, and taken from its head, O(1) each; a task that
    comes in out of order goes to a min-heap beside it, O(log n). A pop takes
    the smaller of the two heads. Tasks come out in the same order as from
    one heap, and a heap of every ready task was the planner's largest cost
    per task in a long run of tasks (the sift through thousands of entries).

    A deque itself (read it through the methods), so that testing it for
    emptiness, twice per message in the planner, costs no Python call: the
    heap is empty whenever the run is.
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[tuple[Any, int]] = []  # the tasks that came out of order

    def push(self, priority: Any, tid: int) -> None:
        """Add a ready task."""
        key = (priority, tid)
        if not self or key > self[-1]:
            self.append(key)
        else:
            _push(self._heap, key)

    def pop(self) -> int:  # type: ignore[override]
        """Remove and return the tid of the most urgent task."""
        heap = self._heap
        if heap and heap[0] < self[0]:
            return _pop(heap)[1]
        tid = self.popleft()[1]
        if heap and not self:  # the run is empty: the heap's head starts a new one
            self.append(_pop(heap))
        return tid

    def peek(self) -> int:
        """The tid of the most urgent task, left in the queue (the next :meth:`pop`)."""
        heap = self._heap
        if heap and heap[0] < self[0]:
            return heap[0][1]
        return self[0][1]

    def tids(self) -> list[int]:
        """The queued tids, most urgent first (a copy; O(n log n))."""
        return [tid for _, tid in sorted([*self, *self._heap])]
