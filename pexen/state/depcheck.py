"""The static check that every ``requires`` of a task set can be met."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Iterator

from pexen.vocab.errors import DepcheckError

from .taskspec import TaskSpec

__all__ = ["DepChecker", "check_satisfiable"]


def _sorted(names: Iterable[Hashable]) -> list[Hashable]:
    return sorted(names, key=repr)


class DepChecker:
    """The static check that every ``requires`` can be met, kept across additions.

    :meth:`add` takes a batch of tasks and costs O(batch + its edges), whatever
    the number of tasks added before: it keeps the names that tasks already
    accepted provide (every one of those tasks can run, so their names will
    be provided) and the names they require. A task of the batch
    can run once each of its ``requires`` is such a name or is provided by a
    task of the batch that can run; a batch with a task that cannot is
    refused whole (:class:`DepcheckError`) and leaves the checker as it was.
    """

    def __init__(self) -> None:
        self._provided: set[Hashable] = set()  # by tasks that can run
        self._required: set[Hashable] = set()  # by any task accepted

    def add(self, batch: Iterable[TaskSpec]) -> None:
        """Accept ``batch``, or raise :class:`DepcheckError` and accept nothing.

        Simulates the batch's run: a task runs once all its ``requires`` are
        provided, and then provides its ``provides``. What remains unmet is
        either required but never provided, or provided only by tasks on a
        dependency cycle, which the message then spells out.
        ``DepcheckError.remain`` maps each unmet name to the tasks requiring it.
        """
        batch = list(batch)
        provided = self._provided
        waiting: dict[Hashable, list[TaskSpec]] = defaultdict(list)
        unmet: dict[int, int] = {}
        frontier: deque[TaskSpec] = deque()
        for spec in batch:
            missing = 0
            for name in spec.requires:
                if name not in provided:
                    waiting[name].append(spec)
                    missing += 1
            unmet[spec.tid] = missing
            if not missing:
                frontier.append(spec)
        added: list[Hashable] = []  # names first provided by this batch
        while frontier:
            spec = frontier.popleft()
            for name in spec.provides:
                if name in provided:
                    continue
                provided.add(name)
                added.append(name)
                for dependant in waiting.pop(name, ()):
                    unmet[dependant.tid] -= 1
                    if unmet[dependant.tid] == 0:
                        frontier.append(dependant)
        if waiting:
            provided.difference_update(added)
            remain = {name: [s.func for s in tasks] for name, tasks in waiting.items()}
            msg = f"Unsatisfied requires remain: {_sorted(remain)}"
            cycle = _find_cycle(batch, set(waiting))
            if cycle:
                msg += f" (dependency cycle: {' -> '.join(repr(n) for n in cycle)})"
            raise DepcheckError(msg, remain)
        for spec in batch:
            self._required |= spec.requires

    def unrequired(self, batch: Iterable[TaskSpec]) -> Iterator[tuple[TaskSpec, Hashable]]:
        """Yield ``(spec, name)`` for each name a task of ``batch`` provides that
        no task added so far requires (call it after :meth:`add`)."""
        required = self._required
        for spec in batch:
            for name in _sorted(n for n in spec.provides if n not in required):
                yield spec, name


def check_satisfiable(specs: Iterable[TaskSpec]) -> None:
    """Raise :class:`DepcheckError` unless every task of ``specs`` could run.

    The check of :meth:`DepChecker.add` for one whole task set.
    """
    DepChecker().add(specs)


def _find_cycle(specs: list[TaskSpec], unmet: set[Hashable]) -> list[Hashable]:
    """A cycle among unmet names: name -> name it needs (via a provider)."""
    providers: dict[Hashable, list[TaskSpec]] = defaultdict(list)
    for spec in specs:
        for name in spec.provides & unmet:
            providers[name].append(spec)
    # edge a -> b: some provider of a requires b (b unmet)
    edges = {
        name: _sorted({r for p in providers.get(name, ()) for r in p.requires & unmet})
        for name in _sorted(unmet)
    }
    state: dict[Hashable, int] = {}  # 1 = on the path, 2 = done
    for start in edges:
        if state.get(start):
            continue
        path: list[Hashable] = [start]
        iters = [iter(edges[start])]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(edges[nxt]))
    return []
