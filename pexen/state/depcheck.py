"""The static check that every ``requires`` of a task set can be met."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Iterator

from pexen.vocab.errors import DepcheckError

from .taskspec import TaskSpec

__all__ = ["check_satisfiable", "unrequired_provides"]


def _sorted(names: Iterable[Hashable]) -> list[Hashable]:
    return sorted(names, key=repr)


def check_satisfiable(specs: Iterable[TaskSpec]) -> None:
    """Raise :class:`DepcheckError` unless every task could eventually run.

    Simulates the run in O(tasks + edges): a task runs once all its
    ``requires`` are provided, and then provides its ``provides``. What remains
    unmet is either required but never provided, or provided only by tasks on
    a dependency cycle, which the message then spells out.
    ``DepcheckError.remain`` maps each unmet name to the tasks requiring it.
    """
    specs = list(specs)
    waiting: dict[Hashable, list[TaskSpec]] = defaultdict(list)
    unmet: dict[int, int] = {}
    frontier: deque[TaskSpec] = deque()
    for spec in specs:
        unmet[spec.tid] = len(spec.requires)
        for name in spec.requires:
            waiting[name].append(spec)
        if not spec.requires:
            frontier.append(spec)
    provided: set[Hashable] = set()
    while frontier:
        spec = frontier.popleft()
        for name in spec.provides:
            if name in provided:
                continue
            provided.add(name)
            for dependant in waiting.pop(name, ()):
                unmet[dependant.tid] -= 1
                if unmet[dependant.tid] == 0:
                    frontier.append(dependant)
    if not waiting:
        return
    remain = {name: [s.func for s in tasks] for name, tasks in waiting.items()}
    names = _sorted(remain)
    msg = f"Unsatisfied requires remain: {names}"
    cycle = _find_cycle(specs, set(waiting))
    if cycle:
        msg += f" (dependency cycle: {' -> '.join(repr(n) for n in cycle)})"
    raise DepcheckError(msg, remain)


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


def unrequired_provides(
    specs: Iterable[TaskSpec], new: Iterable[TaskSpec]
) -> Iterator[tuple[TaskSpec, Hashable]]:
    """Yield ``(spec, name)`` for each name a task of ``new`` provides that no
    task of ``specs`` requires."""
    required: set[Hashable] = set()
    for spec in specs:
        required |= spec.requires
    for spec in new:
        for name in _sorted(spec.provides - required):
            yield spec, name
