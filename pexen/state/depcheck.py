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

    While a run stays open (:meth:`open` to :meth:`close`), the rule is
    :meth:`add_open`'s instead: a task may wait for a name that a later task
    provides, so only a dependency cycle is refused. The checker then keeps
    the providers of tasks not yet finished, by name, and the names provided
    so far (:meth:`forget` moves a finished task from one to the other).
    """

    def __init__(self) -> None:
        self._provided: set[Hashable] = set()  # by tasks that can run
        self._required: set[Hashable] = set()  # by any task accepted
        # while open: name -> {tid: spec} of its providers not yet finished,
        # and the names provided in the open run
        self._live: dict[Hashable, dict[int, TaskSpec]] | None = None
        self._done: set[Hashable] = set()

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` is in force."""
        return self._live is not None

    def open(self, specs: Iterable[TaskSpec]) -> None:
        """A run that stays open starts with ``specs`` (its task set)."""
        self._live = {}
        self._done = set()
        self._register(specs)

    def close(self, specs: Iterable[TaskSpec]) -> None:
        """The open run ended; ``specs``: the tasks left. Back to :meth:`add`'s rule.

        The names provided during the open run will not be provided again by
        a later run, so what the tasks left can provide is worked out anew,
        leniently: a task left that could never run is kept (a later run
        skips it) rather than refused.
        """
        self._live = None
        self._done = set()
        specs = list(specs)
        self._provided = set()
        self._required = {name for spec in specs for name in spec.requires}
        self._simulate(specs)

    def _register(self, specs: Iterable[TaskSpec]) -> None:
        live = self._live
        assert live is not None
        for spec in specs:
            for name in spec.provides:
                live.setdefault(name, {})[spec.tid] = spec

    def forget(self, spec: TaskSpec, provided: bool) -> None:
        """While open: ``spec`` finished (``provided``: its names are provided)."""
        live = self._live
        if live is None or not spec.provides:
            return
        for name in spec.provides:
            tids = live.get(name)
            if tids is not None:
                tids.pop(spec.tid, None)
                if not tids:
                    del live[name]
        if provided:
            self._done |= spec.provides

    def add_open(self, batch: Iterable[TaskSpec]) -> None:
        """While open: accept ``batch`` unless it closes a dependency cycle.

        A task may require a name provided earlier or one that no task known
        yet provides: it waits. Refused (:class:`DepcheckError`, nothing
        accepted) is a cycle of names not yet provided, each required by a
        provider of the one before, where no provider of any of them waits
        for nothing (such a provider would break it). O(batch and its edges,
        plus the not-yet-provided names reachable from its ``requires``).
        """
        batch = list(batch)
        for spec in batch:
            if spec.requires or spec.provides:
                break
        else:
            return  # no names: nothing to keep, no cycle to close (a service's usual task)
        self._register(batch)
        cycle = self._cycle_from({name for spec in batch for name in spec.requires})
        if cycle:
            for spec in batch:
                self.forget(spec, provided=False)
            on = set(cycle)
            remain = {name: [s.func for s in batch if name in s.requires] for name in _sorted(on)}
            raise DepcheckError(
                f"Unsatisfied requires remain: {_sorted(on)} "
                f"(dependency cycle: {' -> '.join(repr(n) for n in cycle)})",
                remain,
            )

    def _cycle_from(self, starts: Iterable[Hashable]) -> list[Hashable]:
        """A cycle among stuck names reachable from ``starts``, or ``[]``."""
        live, done = self._live, self._done
        assert live is not None

        def stuck(name: Hashable) -> bool:
            providers = live.get(name)
            if name in done or not providers:
                return False  # provided, or open: a later provider may come
            return all(any(r not in done for r in p.requires) for p in providers.values())

        def needs(name: Hashable) -> list[Hashable]:
            return _sorted(
                {r for p in live[name].values() for r in p.requires if r not in done and stuck(r)}
            )

        state: dict[Hashable, int] = {}  # 1 = on the path, 2 = done
        for start in _sorted(starts):
            if state.get(start) or not stuck(start):
                continue
            path: list[Hashable] = [start]
            iters = [iter(needs(start))]
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
                    iters.append(iter(needs(nxt)))
        return []

    def _simulate(
        self, specs: list[TaskSpec], added: list[Hashable] | None = None
    ) -> dict[Hashable, list[TaskSpec]]:
        """Provide what ``specs`` can; return what stays unmet (name -> requirers).

        The names provided are kept; those new to the checker are also
        appended to ``added``, so that a refused batch can take them back.
        """
        provided = self._provided
        waiting: dict[Hashable, list[TaskSpec]] = defaultdict(list)
        unmet: dict[int, int] = {}
        frontier: deque[TaskSpec] = deque()
        for spec in specs:
            if not spec.requires:  # runs at once: a start of the frontier, if it provides
                if spec.provides:
                    frontier.append(spec)
                continue
            missing = 0
            for name in spec.requires:
                if name not in provided:
                    waiting[name].append(spec)
                    missing += 1
            unmet[spec.tid] = missing
            if not missing and spec.provides:
                frontier.append(spec)
        while frontier:
            spec = frontier.popleft()
            for name in spec.provides:
                if name in provided:
                    continue
                provided.add(name)
                if added is not None:
                    added.append(name)
                for dependant in waiting.pop(name, ()):
                    unmet[dependant.tid] -= 1
                    if unmet[dependant.tid] == 0:
                        frontier.append(dependant)
        return waiting

    def add(self, batch: Iterable[TaskSpec]) -> None:
        """Accept ``batch``, or raise :class:`DepcheckError` and accept nothing.

        Simulates the batch's run: a task runs once all its ``requires`` are
        provided, and then provides its ``provides``. What remains unmet is
        either required but never provided, or provided only by tasks on a
        dependency cycle, which the message then spells out.
        ``DepcheckError.remain`` maps each unmet name to the tasks requiring it.
        """
        batch = list(batch)
        if len(batch) == 1:  # one task (a service's add): met unless a name is not provided yet
            spec = batch[0]
            provided = self._provided
            for name in spec.requires:
                if name not in provided:
                    break  # unmet: the general way, for its error
            else:
                provided.update(spec.provides)
                self._required |= spec.requires
                return
        added: list[Hashable] = []  # names first provided by this batch
        waiting = self._simulate(batch, added)
        if waiting:
            self._provided.difference_update(added)
            remain = {name: [s.func for s in tasks] for name, tasks in waiting.items()}
            msg = f"Unsatisfied requires remain: {_sorted(remain)}"
            cycle = _find_cycle(batch, set(waiting))
            if cycle:
                msg += f" (dependency cycle: {' -> '.join(repr(n) for n in cycle)})"
            raise DepcheckError(msg, remain)
        required = self._required
        for spec in batch:
            if spec.requires:
                required |= spec.requires

    def unrequired(self, batch: Iterable[TaskSpec]) -> Iterator[tuple[TaskSpec, Hashable]]:
        """Yield ``(spec, name)`` for each name a task of ``batch`` provides that
        no task added so far requires (call it after :meth:`add`)."""
        required = self._required
        for spec in batch:
            if spec.provides:  # most tasks provide nothing: no list, no sort for them
                names = [n for n in spec.provides if n not in required]
                if names:
                    for name in _sorted(names):
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
