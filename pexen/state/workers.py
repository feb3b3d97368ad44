"""What the planner knows of each worker of a run: its load, generation, life."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["WorkerState", "Workers"]


class WorkerState:
    """One worker as the planner sees it.

    ``actor`` is what tasks are told to (anything with ``tell``); ``load`` the
    count of tasks handed to it and not ended; ``generation`` the generation
    of the process or thread behind the index (it grows when a lost worker is
    replaced); ``alive`` is false once it was lost and could not be replaced;
    ``last_done`` when its last task ended (``time.monotonic()``; 0 before).
    """

    __slots__ = ("actor", "alive", "generation", "index", "last_done", "load")

    def __init__(self, index: int, actor: Any) -> None:
        self.index = index
        self.actor = actor
        self.load = 0
        self.generation = 0
        self.alive = True
        self.last_done = 0.0

    def __repr__(self) -> str:
        return (
            f"WorkerState({self.index}, load={self.load}, generation={self.generation}, "
            f"alive={self.alive})"
        )


class Workers(list[WorkerState]):
    """The workers of a run, by index: a list of :class:`WorkerState`.

    Plain state, no threads: the planner is its only user. A list itself, so
    that indexing (once or twice per task) costs no Python call.
    """

    __slots__ = ()

    def __init__(self, actors: Iterable[Any] = ()) -> None:
        super().__init__(WorkerState(i, actor) for i, actor in enumerate(actors))

    def least_loaded(self, prefer: int = -1) -> WorkerState | None:
        """The live worker with the fewest tasks.

        Among equals: worker ``prefer`` when it is one of them (the caller
        knows it is awake), else the lowest index. ``None`` when no worker is
        alive.
        """
        best: WorkerState | None = None
        for worker in self:
            if worker.alive and (
                best is None
                or worker.load < best.load
                or (worker.load == best.load and worker.index == prefer)
            ):
                best = worker
        return best

    def for_tiny(self, awake: int = -1, most: int = 1) -> WorkerState | None:
        """The worker a tiny task goes to, or ``None``: hold it.

        For lazy workers only (their actors have ``hold()``, which says
        whether an idle worker will come and look for held tasks: see the
        thread pool). Waking an idle worker costs more than a tiny task
        runs, so: the worker ``awake`` (whose report is being handled: it
        takes the task without a wake-up) while it has fewer than ``most``
        tasks; with every worker idle, the lowest index. ``None`` (the task
        waits for the next report, or an idle worker's look) when every
        worker has a task, or an idle one will come and look (``hold()`` is
        true: the first such is enough, so that the others may sleep); else
        the first idle worker, asleep for good.
        """
        if awake >= 0:
            worker = self[awake]
            if worker.alive and worker.load < most:
                return worker
        idle: list[WorkerState] = []
        for worker in self:
            if worker.alive:
                if worker.load:
                    break
                idle.append(worker)
        else:
            return idle[0] if idle else None  # every worker idle: wake one
        asleep = None
        for worker in self:
            if worker.alive and not worker.load:
                if worker.actor.hold():
                    return None  # it comes and looks: one such worker is enough
                if asleep is None:
                    asleep = worker
        return asleep

    def all_busy(self) -> bool:
        """Whether every live worker has a task (handed out or running)."""
        return not any(worker.alive and not worker.load for worker in self)

    def any_alive(self) -> bool:
        """Whether any worker is still alive."""
        return any(worker.alive for worker in self)

    def lost(self, index: int, generation: int | None, replacement: Any = None) -> WorkerState:
        """Worker ``index`` was lost: a fresh one of ``generation`` took its index.

        ``generation`` ``None``: it could not be replaced, and is dead for good.
        ``replacement``: the fresh worker's actor, when it is a new actor.
        """
        worker = self[index]
        if generation is None:
            worker.alive = False
        else:
            worker.generation = generation
        if replacement is not None:
            worker.actor = replacement
        return worker
