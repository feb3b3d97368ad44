"""Ready tasks, by priority and then by insertion order."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from typing import Any

__all__ = ["ReadyQueue"]

_push, _pop = heapq.heappush, heapq.heappop

#: bits of a packed key that hold the tid (see ReadyQueue)
_TID_BITS = 48
_TID_MASK = (1 << _TID_BITS) - 1
#: the priority types a packed key takes
_PACKABLE = frozenset((int, bool))


class ReadyQueue(deque[Any]):
    """Ready tasks, most urgent first: lowest ``priority``, ties by ``tid``.

    ``tid`` is the insertion order of the task in its run, so equal priorities
    run in the order the tasks were added. Most tasks become ready in that
    very order (``(priority, tid)`` growing): those are appended to a sorted
    run, the deque itself, and taken from its head, O(1) each; a task that
    comes in out of order goes to a min-heap beside it, O(log n). A pop takes
    the smaller of the two heads. Tasks come out in the same order as from
    one heap, and a heap of every ready task was the planner's largest cost
    per task in a long run of tasks (the sift through thousands of entries).

    Keys are *packed* while every priority is an ``int`` (the default ``0``
    among them): ``priority << 48 | tid``, one int, which orders as the pair
    does. An int is no container: a run of 100k ready tasks then leaves
    nothing for the cyclic garbage collector to count and walk, where 100k
    ``(priority, tid)`` tuples set off some 140 collections, among them
    full ones through the whole task table. The first priority of another
    type (any comparable value) turns every key into that pair, for good.

    A deque itself (read it through the methods), so that testing it for
    emptiness, twice per message in the planner, costs no Python call: the
    heap is empty whenever the run is.
    """

    __slots__ = ("_heap", "_packed")

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[Any] = []  # the tasks that came out of order
        self._packed = True  # keys are packed ints (else (priority, tid) pairs)

    def push(self, priority: Any, tid: int) -> None:
        """Add a ready task."""
        if self._packed:
            if (type(priority) is int or type(priority) is bool) and 0 <= tid <= _TID_MASK:
                key: Any = priority << _TID_BITS | tid
            else:
                self._unpack()
                key = (priority, tid)
        else:
            key = (priority, tid)
        if not self or key > self[-1]:
            self.append(key)
        else:
            _push(self._heap, key)

    def push_all(self, priorities: Sequence[Any], tids: Sequence[int]) -> None:
        """Add many ready tasks at once (``priorities[i]`` is that of ``tids[i]``).

        The same as :meth:`push` of each pair in turn, in O(n) for a batch
        of packed keys in order (a run's whole task table becoming ready at
        its start): one sorted list of keys, appended to the sorted run if
        it continues it, else heapified beside it.
        """
        if len(priorities) != len(tids):
            raise ValueError("push_all: one priority per tid")
        if not tids:
            return
        if (
            not self._packed
            or not set(map(type, priorities)) <= _PACKABLE
            or min(tids) < 0
            or max(tids) > _TID_MASK
        ):
            for priority, tid in zip(priorities, tids, strict=True):
                self.push(priority, tid)
            return
        keys = [priority << _TID_BITS | tid for priority, tid in zip(priorities, tids, strict=True)]
        keys.sort()  # O(n) for keys in order already (the common case)
        if not self or keys[0] > self[-1]:
            self.extend(keys)  # they continue the sorted run
        else:
            heap = self._heap
            heap.extend(keys)
            heapq.heapify(heap)

    def _unpack(self) -> None:
        """Turn every packed key into its ``(priority, tid)`` pair, for good."""
        self._packed = False
        keys = [(key >> _TID_BITS, key & _TID_MASK) for key in self]
        self.clear()
        self.extend(keys)
        # the pairs order as their keys did: still a heap, entry for entry
        self._heap[:] = [(key >> _TID_BITS, key & _TID_MASK) for key in self._heap]

    def pop(self) -> int:  # type: ignore[override]
        """Remove and return the tid of the most urgent task."""
        heap = self._heap
        if heap and heap[0] < self[0]:
            key = _pop(heap)
        else:
            key = self.popleft()
            if heap and not self:  # the run is empty: the heap's head starts a new one
                self.append(_pop(heap))
        return key & _TID_MASK if self._packed else key[1]  # type: ignore[no-any-return]

    def peek(self) -> int:
        """The tid of the most urgent task, left in the queue (the next :meth:`pop`)."""
        heap = self._heap
        key = heap[0] if heap and heap[0] < self[0] else self[0]
        return key & _TID_MASK if self._packed else key[1]  # type: ignore[no-any-return]

    def tids(self) -> list[int]:
        """The queued tids, most urgent first (a copy; O(n log n))."""
        keys = sorted([*self, *self._heap])
        if self._packed:
            return [key & _TID_MASK for key in keys]
        return [tid for _, tid in keys]
