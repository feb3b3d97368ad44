"""A run's task table: the specs of the tasks not yet forgotten, by tid."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import lt as _lt
from typing import overload

from .taskspec import TaskSpec

__all__ = ["TaskTable"]


class TaskTable(Sequence[TaskSpec]):
    """The specs of a run's tasks, by tid; a served task's entry is dropped.

    Reads like the list it replaces: ``table[tid]``, ``len(table)`` (the
    next tid, so the count of tasks ever added, forgotten ones included),
    ``table[start:]`` (the specs of tid ``start`` on, still present) and
    iteration in tid order. Tids grow with each addition. :meth:`forget`
    drops an entry, so that a run that stays open holds only the specs of
    tasks not yet finished.
    """

    __slots__ = ("_next", "_shortest", "_specs")

    @property
    def by_tid(self) -> Mapping[int, TaskSpec]:
        """The specs by tid, as a mapping to read (its lookups cost no Python call)."""
        return self._specs

    @property
    def forgetter(self) -> Callable[[int, None], TaskSpec | None]:
        """:meth:`forget` as the dict's own ``pop``: call it ``(tid, None)``.

        For a loop that forgets a task per result (a serve): it costs no
        Python call.
        """
        return self._specs.pop

    def __init__(self, specs: Iterable[TaskSpec] = ()) -> None:
        self._specs: dict[int, TaskSpec] = {}
        self._next = 0
        self._shortest: float | None = None  # see take_shortest_timeout
        self.extend(specs)

    @overload
    def __getitem__(self, key: int) -> TaskSpec: ...
    @overload
    def __getitem__(self, key: slice) -> list[TaskSpec]: ...
    def __getitem__(self, key: int | slice) -> TaskSpec | list[TaskSpec]:
        if isinstance(key, slice):
            if key.stop is not None or key.step is not None:
                raise ValueError("a task table slices as table[start:] only")
            start = key.start or 0
            last = self._next - 1
            if start >= last:  # the newest entry, or none: what each addition checks
                spec = self._specs.get(last) if start == last else None
                return [] if spec is None else [spec]
            found = []
            for tid, spec in reversed(self._specs.items()):  # newest first: O(found)
                if tid < start:
                    break
                found.append(spec)
            found.reverse()
            return found
        return self._specs[key]

    def get(self, tid: int) -> TaskSpec | None:
        """The spec of ``tid``, or ``None`` once it was forgotten."""
        return self._specs.get(tid)

    def __len__(self) -> int:
        return self._next

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._specs.values())

    def extend(self, specs: Iterable[TaskSpec]) -> None:
        """Add specs; their tids must continue the table's (``len(table)`` on)."""
        specs = specs if type(specs) is list or type(specs) is tuple else list(specs)
        if len(specs) == 1:  # a service's one task: no lists to build
            spec = specs[0]
            if spec.tid < self._next:
                raise ValueError(f"tid {spec.tid} does not continue the table ({self._next})")
            self._specs[spec.tid] = spec
            self._next = spec.tid + 1
            timeout = spec.timeout
            if timeout is not None and (self._shortest is None or timeout < self._shortest):
                self._shortest = timeout
            return
        if not specs:
            return
        tids = [spec.tid for spec in specs]
        if tids[0] < self._next or not all(map(_lt, tids, islice(tids, 1, None))):
            self._extend_checked(specs)  # adds those before the first wrong tid, as it raises
        else:
            self._specs.update(zip(tids, specs, strict=True))  # the whole batch in one call
            self._next = tids[-1] + 1
        timeouts = [spec.timeout for spec in specs if spec.timeout is not None]
        if timeouts:
            shortest = min(timeouts)
            if self._shortest is None or shortest < self._shortest:
                self._shortest = shortest

    def _extend_checked(self, specs: Sequence[TaskSpec]) -> None:
        table = self._specs
        for spec in specs:
            if spec.tid < self._next:
                raise ValueError(f"tid {spec.tid} does not continue the table ({self._next})")
            table[spec.tid] = spec
            self._next = spec.tid + 1

    def take_shortest_timeout(self) -> float | None:
        """The shortest timeout among the specs added since the last call, or ``None``.

        For the watchdog, which looks each time the table grows: O(1) here,
        where reading the new specs again cost it a pass over the table.
        """
        shortest, self._shortest = self._shortest, None
        return shortest

    def forget(self, tid: int) -> None:
        """Drop the entry of ``tid`` (a finished task); no error if it is gone."""
        self._specs.pop(tid, None)

    @property
    def held(self) -> int:
        """How many specs the table holds now."""
        return len(self._specs)
