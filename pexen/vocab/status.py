"""A snapshot of a scheduler's run, as :meth:`Sched.status` returns it."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["HeldLock", "RunStatus", "RunningTask", "WaitingTask"]


@dataclass(frozen=True, slots=True)
class RunningTask:
    """A task handed to a worker.

    ``started`` is its ``time.monotonic()`` start, or ``None`` while it waits
    at the worker behind another task.
    """

    task: Any
    worker: int
    started: float | None


@dataclass(frozen=True, slots=True)
class WaitingTask:
    """A task waiting for locks, with the resources it asks for."""

    task: Any
    uses: frozenset[Hashable]
    claims: frozenset[Hashable]


@dataclass(frozen=True, slots=True)
class HeldLock:
    """A locked resource: ``mode`` is ``"claims"`` or ``"uses"``."""

    resource: Hashable
    mode: str
    holders: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What a run is doing at one moment. Immutable; safe to keep.

    - ``active``: whether a run is going on;
    - ``running``: tasks handed to workers (also those queued behind the
      task a worker runs: handed out ahead, or, on a process pool, a task
      sent behind the one task it waits for, to run as that one provides);
    - ``ready``: tasks that may start as soon as a worker is free;
    - ``waiting_deps``: tasks waiting for a requirement;
    - ``waiting_locks``: tasks waiting for locks (and which);
    - ``held_locks``: locked resources and their holders;
    - ``finished``: tasks that ended (well or not) in this run;
    - ``skipped``: tasks that will never run (known once the run ended).
    """

    active: bool
    running: tuple[RunningTask, ...] = ()
    ready: tuple[Any, ...] = ()
    waiting_deps: tuple[Any, ...] = ()
    waiting_locks: tuple[WaitingTask, ...] = ()
    held_locks: tuple[HeldLock, ...] = ()
    finished: int = 0
    skipped: int = 0
