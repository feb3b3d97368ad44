"""Which tasks are ready as names get provided; whom shared state flows to."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from .taskspec import TaskSpec

__all__ = ["DepGraph"]


class DepGraph:
    """The dependency state of one run.

    Tasks are added (all at the start, or more while the run goes on); each
    task waits for its ``requires``. :meth:`provide` marks names provided and
    returns the tasks that became ready; :meth:`forget` drops a task that
    ended. Work per call is proportional to the edges touched, never to the
    size of the task set; what it holds, to the tasks not yet ended and the
    names provided.

    It also counts, per name, the providers added and not yet ended
    (:meth:`pending_providers`; :meth:`provider_ended` drops one): what
    tells the planner that a waiting task can only be waiting for one task
    (see :meth:`actors.planner.Planner._chain`).
    """

    __slots__ = ("_missing", "_pending", "_provided", "_requirers", "_waiting")

    def __init__(self) -> None:
        # name -> tids requiring it, not yet ended (for shared-state flow;
        # a dict as an ordered set, so that forget() is O(1) per edge)
        self._requirers: dict[Hashable, dict[int, None]] = {}
        # name -> tids still waiting for it (dropped once provided)
        self._waiting: dict[Hashable, list[int]] = {}
        # tid -> count of its requires not yet provided (absent when zero)
        self._missing: dict[int, int] = {}
        self._provided: set[Hashable] = set()
        # name -> how many of its providers were added and have not ended
        self._pending: dict[Hashable, int] = {}

    def add(self, specs: Iterable[TaskSpec]) -> list[int]:
        """Add tasks; return the tids of those ready at once, in order given."""
        ready = []
        pending = self._pending
        for spec in specs:
            if not spec.requires:  # ready at once (most tasks)
                if spec.provides:
                    for name in spec.provides:
                        pending[name] = pending.get(name, 0) + 1
                ready.append(spec.tid)
                continue
            if spec.provides:
                for name in spec.provides:
                    pending[name] = pending.get(name, 0) + 1
            missing = 0
            for name in spec.requires:
                self._requirers.setdefault(name, {})[spec.tid] = None
                if name not in self._provided:
                    self._waiting.setdefault(name, []).append(spec.tid)
                    missing += 1
            if missing:
                self._missing[spec.tid] = missing
            else:
                ready.append(spec.tid)
        return ready

    def provide(self, names: Iterable[Hashable]) -> list[int]:
        """Mark names provided; return the tids that became ready."""
        ready = []
        for name in names:
            if name in self._provided:
                continue
            self._provided.add(name)
            for tid in self._waiting.pop(name, ()):
                left = self._missing[tid] - 1
                if left:
                    self._missing[tid] = left
                else:
                    del self._missing[tid]
                    ready.append(tid)
        return ready

    def forget(self, spec: TaskSpec) -> None:
        """Drop the edges of a task that ended (it waits for nothing more)."""
        requirers = self._requirers
        for name in spec.requires:
            tids = requirers.get(name)
            if tids is not None:
                tids.pop(spec.tid, None)
                if not tids:
                    del requirers[name]

    def provider_ended(self, provides: Iterable[Hashable]) -> None:
        """A provider of ``provides`` ended (however it ended)."""
        pending = self._pending
        for name in provides:
            left = pending[name] - 1
            if left:
                pending[name] = left
            else:
                del pending[name]

    def pending_providers(self, name: Hashable) -> int:
        """How many providers of ``name`` were added and have not ended."""
        return self._pending.get(name, 0)

    def waiting_for(self, name: Hashable) -> Sequence[int]:
        """The tids still waiting for ``name``, in the order they were added."""
        return self._waiting.get(name, ())

    def is_blocked(self, tid: int) -> bool:
        """Whether task ``tid`` still waits for a requirement."""
        return tid in self._missing

    def missing(self, tid: int) -> int:
        """How many of task ``tid``'s requirements are not provided yet."""
        return self._missing.get(tid, 0)

    def drop_waiting(self, spec: TaskSpec) -> None:
        """Drop a task that ended while still waiting for a requirement.

        Only a task handed out ahead of its provider can (see
        :meth:`actors.planner.Planner._chain`): it failed before it could
        be sent. Costs the length of the waiting lists of its names.
        """
        if self._missing.pop(spec.tid, None) is None:
            return
        for name in spec.requires:
            tids = self._waiting.get(name)
            if tids is not None and spec.tid in tids:
                tids.remove(spec.tid)
                if not tids:
                    del self._waiting[name]

    def requirers(self, names: Iterable[Hashable]) -> set[int]:
        """The tids of every task requiring any of ``names``."""
        found: set[int] = set()
        for name in names:
            found.update(self._requirers.get(name, ()))
        return found

    def is_provided(self, name: Hashable) -> bool:
        """Whether ``name`` has been provided in this run."""
        return name in self._provided

    @property
    def blocked(self) -> int:
        """How many tasks still wait for a requirement."""
        return len(self._missing)

    def blocked_tids(self) -> list[int]:
        """The tids still waiting for a requirement."""
        return list(self._missing)
