"""Every message the actors exchange: immutable, one frozen dataclass each,
except the three sent for every task (:class:`RunTasks`, :class:`TaskDone`,
:class:`AddTasks`): named tuples, built in a third of a dataclass's time.

A message may carry a task's ``shared`` dict or return value: ownership of such
a payload passes with the message, and the sender never touches it again.
Tasks are named by ``tid``, their key in the run's task table
(:class:`~pexen.state.tasktable.TaskTable`: tids grow with each addition, and
the entry of a served task goes once the caller took its result).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .outcome import Outcome

if TYPE_CHECKING:  # annotations only: an exec'd zygote imports this module, not these
    from pexen.state.taskspec import TaskSpec

    from .workerset import WorkerActor

__all__ = [
    "AcquireLocks",
    "AddTasks",
    "BacklogDrained",
    "Begin",
    "Cancel",
    "ForfeitLocks",
    "LockDecisions",
    "LockRequest",
    "LockStatus",
    "Outcome",
    "PlannerStatus",
    "Reconnect",
    "ReleaseLocks",
    "RunEnded",
    "RunTasks",
    "StatusQuery",
    "Stop",
    "TaskDone",
    "WorkerLost",
]


# -- planner -> workers ------------------------------------------------------


class RunTasks(NamedTuple):
    """Planner -> worker: run these tasks, in order, each with its shared dict.

    ``generation`` is the worker's generation the planner knows of; a worker
    that has been replaced since drops the message (its tasks were requeued).

    ``after`` (only to a worker that declares ``chains()``, see
    :mod:`actors.workerset`): for the items chained, tid -> the tid of the
    task right before it on this worker, which it is *chained* behind. Such a task runs only if that
    one ends with ``deps_ok``, its shared dict then updated with that one's
    final dict (as it was reported); else it is not run, nor is any task
    chained behind it, and nothing is reported for it (the planner, reading
    the outcome before, knows).
    """

    items: tuple[tuple[TaskSpec, dict[str, Any]], ...]
    generation: int = 0
    after: Mapping[int, int] | None = None


# -- workers -> planner ------------------------------------------------------


class TaskDone(NamedTuple):
    """Worker -> planner: these tasks ended (in order).

    No outcomes: an idle thread worker looking for tasks held for it (see
    :meth:`actors.planner.Planner._pump`).
    """

    worker: int
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """Worker set -> planner: worker ``worker`` died or was abandoned.

    ``culprit`` is the task it was running (``None``: it was idle), which
    fails with ``error``. The worker's other unfinished tasks never started:
    the planner hands them out again. A fresh worker of ``generation`` took
    the index; ``generation`` is ``None`` when it could not be replaced.
    ``replacement`` is the fresh worker's actor when it is a new actor.
    """

    worker: int
    generation: int | None
    culprit: int | None
    error: BaseException | None
    replacement: WorkerActor | None = None


# -- worker set -> process worker --------------------------------------------


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Result reader -> process worker: drive this new process from now on."""

    conn: Any
    generation: int


# -- planner <-> lock manager ------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockRequest:
    """One task's locks: ``uses`` shared, ``claims`` exclusive."""

    tid: int
    uses: frozenset[Hashable]
    claims: frozenset[Hashable]


@dataclass(frozen=True, slots=True)
class AcquireLocks:
    """Planner -> lock manager: grant these tasks their locks when possible.

    Answered by one :class:`LockDecisions`.
    """

    requests: tuple[LockRequest, ...]


@dataclass(frozen=True, slots=True)
class ReleaseLocks:
    """Planner -> lock manager: these tasks ended; free their locks.

    Answered by one :class:`LockDecisions` (waiters granted as a result).
    """

    tids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ForfeitLocks:
    """Planner -> lock manager: these tasks failed and keep their locks for good.

    Requests that conflict with those locks can never be granted and stop
    blocking the queues. Answered by one :class:`LockDecisions`.
    """

    tids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LockDecisions:
    """Lock manager -> planner: the answer to one acquire, release or forfeit.

    ``granted`` hold their locks now (earlier waiters included); ``waiting``
    are queued and will come back in a later ``granted``.
    """

    granted: tuple[int, ...]
    waiting: tuple[int, ...]


# -- facade -> planner -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    """Facade -> planner: the workers are up; start dispatching to them.

    ``workers[i]`` is the actor of worker ``i``; each takes :class:`RunTasks`.
    """

    workers: tuple[WorkerActor, ...]


class AddTasks(NamedTuple):
    """Facade -> planner: more tasks for the run going on (already validated).

    ``shared``, when given, holds the shared dict each task starts with (one
    per spec, in order; the planner owns them from now on); without it, each
    starts with a copy of the run's preset.
    """

    specs: tuple[TaskSpec, ...]
    shared: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class BacklogDrained:
    """Facade -> planner: the caller consumed results; dispatch (or end) may go on."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Facade -> planner: an open run may end, as any run does, once idle.

    A run started with ``keep_open`` goes on while idle, waiting for more
    tasks, until this arrives; then it ends once nothing is out, nothing can
    start and the caller consumed every result (with the usual skipped and
    held counts). Tasks added meanwhile still join it.
    """


@dataclass(frozen=True, slots=True)
class Cancel:
    """Facade -> planner: dispatch nothing more; end the run now."""


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """Facade -> planner or lock manager, by ``ask``: answered with a status."""


@dataclass(frozen=True, slots=True)
class PlannerStatus:
    """Planner -> facade: the answer to :class:`StatusQuery` (tids).

    ``running`` is every task handed out: also those queued ahead on a busy
    worker, and those chained behind their provider (see
    :meth:`actors.planner.Planner._chain`), which are not ``waiting_deps``.
    """

    running: tuple[tuple[int, int], ...]  # (tid, worker), in hand-out order
    ready: tuple[int, ...]
    waiting_deps: tuple[int, ...]
    waiting_locks: tuple[int, ...]
    finished: int
    skipped: int


@dataclass(frozen=True, slots=True)
class LockStatus:
    """Lock manager -> facade: the answer to :class:`StatusQuery`."""

    held: tuple[tuple[Hashable, str, tuple[int, ...]], ...]  # (resource, mode, tids)
    waiting: tuple[int, ...]


# -- planner -> facade (through the result mailbox) --------------------------


@dataclass(frozen=True, slots=True)
class RunEnded:
    """Planner -> facade: the last message of a run.

    ``skipped``: tasks that never ran for an unmet requirement; ``held``:
    resources still locked by failed tasks; ``error``: an internal error
    that ended the run early (re-raised by the facade), else ``None``;
    ``cancelled``: the run was cancelled.
    """

    skipped: int
    held: int
    error: BaseException | None = None
    cancelled: bool = False
