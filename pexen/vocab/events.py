"""The events of a run, and the observer that receives them.

Vocabulary: imports nothing of pexen, so that the engine can build these
events and every layer above can read them. Users find them in
:mod:`pexen.sched` and :mod:`pexen.reports`.

Pass observers to :meth:`pexen.sched.Sched.run` or
:meth:`~pexen.sched.Sched.serve` (``observers=[...]``). Each one is called in
the thread that iterates the run's generator, in event order, never
concurrently:

- :meth:`RunObserver.run_started` once, as the run starts;
- :meth:`RunObserver.task_event` for each :data:`TaskEvent`;
- :meth:`RunObserver.task_result` with each :class:`~pexen.sched.TaskRes`,
  right before the caller gets it;
- :meth:`RunObserver.run_ended` exactly once, also when the run is
  cancelled, fails, or the caller leaves the loop (``break``, an exception,
  Ctrl-C).

A task's events come in this order: :class:`TaskLockWait` (if it waited for
its locks), :class:`TaskHandedOut`, :class:`TaskStarted`,
:class:`TaskEnded`, then one :class:`TaskUnblocked` per task whose
requirement its end met, then its result. A task that could not run gets
one :class:`TaskSkipped` instead, as the run ends.

Times are :func:`time.monotonic` seconds, one clock for every process of the
machine; start and end times are measured where the task ran. ``worker`` is
the worker's index, ``0`` to ``workers - 1``, as in
:meth:`~pexen.sched.Sched.status`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import TaskRes

__all__ = [
    "RunFinished",
    "RunObserver",
    "RunStarted",
    "TaskEnded",
    "TaskEvent",
    "TaskHandedOut",
    "TaskLockWait",
    "TaskSkipped",
    "TaskStarted",
    "TaskUnblocked",
    "TasksAdded",
    "describe_task",
]

Task = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run started: its ``tasks`` (as added), its pool's ``workers`` and kind.

    ``pool`` is ``"thread"``, ``"process"`` (``"dask"`` for a dask pool): the
    pool class's name without ``WorkerPool``, in lower case.
    """

    tasks: tuple[Task, ...]
    workers: int
    pool: str
    at: float


@dataclass(frozen=True, slots=True)
class TasksAdded:
    """Tasks joined the run going on (:meth:`~pexen.sched.Sched.add_tasks`)."""

    tasks: tuple[Task, ...]
    at: float


@dataclass(frozen=True, slots=True)
class TaskHandedOut:
    """The scheduler handed ``task`` to ``worker`` (it may wait in its queue).

    Once more for a task whose worker was lost before it began: the
    scheduler hands it out again.
    """

    task: Task
    worker: int
    at: float


@dataclass(frozen=True, slots=True)
class TaskStarted:
    """``task`` started on ``worker`` at ``at`` (measured where it ran).

    It arrives with the task's outcome, right before :class:`TaskEnded`:
    what runs at this moment, and since when, is in
    :meth:`~pexen.sched.Sched.status`.
    """

    task: Task
    worker: int
    at: float


@dataclass(frozen=True, slots=True)
class TaskLockWait:
    """``task`` waited for its locks from ``since`` until they were granted.

    ``resources``: the names it uses or claims. Only waits that ended in a
    grant; a task that never got them is :class:`TaskSkipped`.
    """

    task: Task
    resources: frozenset[Hashable]
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class TaskEnded:
    """``task`` ran on ``worker`` from ``started`` to ``ended``.

    ``failed``: it raised (its result's ``excinfo`` says what). For a task
    whose worker was lost or that timed out, ``started`` is the latest the
    scheduler knows it may have started at, and ``ended`` when the loss was
    noticed.
    """

    task: Task
    worker: int
    started: float
    ended: float
    failed: bool


@dataclass(frozen=True, slots=True)
class TaskUnblocked:
    """``provider``'s end met ``names`` of ``task``'s ``requires``.

    One per dependency edge that mattered: the provider that first provided
    a name the task was waiting for (a later provider of the same name
    unblocks nothing). The task may still wait for other names.
    """

    task: Task
    provider: Task
    names: frozenset[Hashable]


@dataclass(frozen=True, slots=True)
class TaskSkipped:
    """``task`` could not run; ``cause`` says why, in words.

    The same in fields: ``requires``, the names it still waited for;
    ``failed``, the tasks that failed to provide them (a provider that
    failed or was itself skipped); ``locks``, the resources never released
    to it, held for good by ``holders`` (tasks that failed holding them).
    ``interrupted``: the task was left over by a run that was cancelled or
    failed (it did not run for that, whatever it waited for); it then has
    only a ``cause``.
    """

    task: Task
    cause: str
    requires: frozenset[Hashable] = frozenset()
    failed: tuple[Task, ...] = ()
    locks: frozenset[Hashable] = frozenset()
    holders: tuple[Task, ...] = ()
    interrupted: bool = False


#: What :meth:`RunObserver.task_event` receives.
TaskEvent = (
    TasksAdded
    | TaskHandedOut
    | TaskStarted
    | TaskLockWait
    | TaskEnded
    | TaskUnblocked
    | TaskSkipped
)


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run ended, at ``at``.

    ``cancelled``: it did not run to its end (:meth:`~pexen.sched.Sched.cancel`,
    or the caller left the loop); ``error``: what ended it early (an internal
    error, an observer's, an exception such as ``KeyboardInterrupt`` raised
    while the generator waited), else ``None``; ``skipped``: the
    :class:`TaskSkipped` events delivered; ``locks_held``: resources still
    locked by tasks that failed holding them.
    """

    at: float
    cancelled: bool
    error: BaseException | None
    skipped: int
    locks_held: int


class RunObserver:
    """Receives the events of a run. Override what you need; every method is a no-op.

    Called in the thread that iterates the run, in event order, never
    concurrently. An observer that raises ends the run with that error
    (every observer's :meth:`run_ended` is still called).
    """

    def run_started(self, run: RunStarted) -> None:
        """The run started."""

    def task_event(self, event: TaskEvent) -> None:
        """Something happened to a task (see :data:`TaskEvent`)."""

    def task_result(self, result: TaskRes) -> None:
        """A task's result, right before the caller gets it."""

    def run_ended(self, run: RunFinished) -> None:
        """The run ended (exactly once per run)."""


#: the attribute pexen's factories keep a collected task's callpath in
_CALLPATH_ATTR = "pexen_callpath"


def describe_task(task: Any) -> str:
    """A task's name in messages: its callpath joined with ``/`` when a
    factory collected it, else its qualified name."""
    path = getattr(task, _CALLPATH_ATTR, None)
    if isinstance(path, list) and path:
        return "/".join(map(str, path))
    func = getattr(task, "func", None)  # a functools.partial
    for obj in (task, func, type(task)):
        name = getattr(obj, "__qualname__", None)
        if isinstance(name, str):
            return name
    return repr(task)
