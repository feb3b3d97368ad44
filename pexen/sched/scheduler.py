"""The scheduler facade: :class:`Sched`."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from actors.engine import Engine
from actors.messages import RunEnded

from ..state.depcheck import check_satisfiable, unrequired_provides
from ..state.taskspec import TaskSpec, check_priorities, compile_task
from ..util import PexenWarning
from .common import SchedulerError, TaskRes
from .pool import ThreadWorkerPool, _WorkerPool

__all__ = ["DEFAULT_BACKLOG", "Sched"]

#: How many results may wait for the caller before dispatch pauses.
DEFAULT_BACKLOG = 1024


class Sched:
    """Runs tasks in parallel as their metadata allows.

    ``Sched(tasks)`` or ``Sched()`` then :meth:`add_tasks`; optionally
    :meth:`add_shared`; then iterate :meth:`run`. The task set is validated
    as it is added, so bad metadata raises there, never inside a run.
    """

    def __init__(self, tasks: Iterable[Any] = ()) -> None:
        self._tasks: dict[Any, TaskSpec] = {}
        self._shared: dict[str, Any] = {}
        self._active = threading.Lock()
        self._add_tasks(tasks)

    def add_tasks(self, tasks: Iterable[Any]) -> None:
        """Add tasks (a task already added is not added again).

        Validates the whole task set and adds nothing when it fails:
        ``TypeError``/``SchedulerError`` for bad metadata,
        :class:`~pexen.sched.MutexError` for a resource both claimed and used,
        :class:`~pexen.sched.DepcheckError` for ``requires`` that can never be
        met. Warns (:class:`~pexen.PexenWarning`) of a provided name that no
        task requires.
        """
        self._add_tasks(tasks)

    def _add_tasks(self, tasks: Iterable[Any]) -> None:
        new: dict[Any, TaskSpec] = {}
        for task in tasks:
            if task not in self._tasks and task not in new:
                new[task] = compile_task(task, len(self._tasks) + len(new))
        if not new:
            return
        specs = [*self._tasks.values(), *new.values()]
        check_priorities(list(new.values()), specs[0])
        check_satisfiable(specs)
        for spec, name in unrequired_provides(specs, new.values()):
            warnings.warn(
                f"Dep {name!r} provided by {spec.func}, but not required by any task",
                PexenWarning,
                stacklevel=3,  # the caller of Sched() or add_tasks()
            )
        self._tasks.update(new)

    def add_shared(self, **shared: Any) -> None:
        """Preset keys of the shared dict every task starts with (a copy each)."""
        self._shared.update(shared)

    def run(self, pool: _WorkerPool | None = None) -> Iterator[TaskRes]:
        """Run every task; yield a :class:`TaskRes` per task that ran, as it ends.

        ``pool`` defaults to ``ThreadWorkerPool(workers=1, spare=1)``. Leaving
        the loop early (``break``, ``close()``, an exception) cancels the run;
        its workers are gone before control returns. At the end, a
        :class:`~pexen.PexenWarning` reports tasks skipped for unmet
        dependencies and locks still held, both caused by failed tasks.

        Raises :class:`SchedulerError` if another run of this scheduler is
        going on.
        """
        if self._active.locked():
            raise SchedulerError("This scheduler is already running")
        if pool is None:
            pool = ThreadWorkerPool(workers=1, spare=1)
        elif not isinstance(pool, _WorkerPool):
            raise TypeError(f"pool must be a ThreadWorkerPool or ProcessWorkerPool, not {pool!r}")
        return self._run(pool, list(self._tasks.values()), dict(self._shared))

    def _run(
        self, pool: _WorkerPool, specs: list[TaskSpec], preset: dict[str, Any]
    ) -> Iterator[TaskRes]:
        if not self._active.acquire(blocking=False):
            raise SchedulerError("This scheduler is already running")
        try:
            if not specs:
                return
            pool._claim()
            try:
                ended = yield from self._drain(pool, specs, preset)
            finally:
                pool._unclaim()
        finally:
            self._active.release()
        if ended.error is not None:
            raise SchedulerError(f"the run failed: {ended.error!r}") from ended.error
        if ended.skipped:
            warnings.warn(
                f"{ended.skipped} tasks skipped due to unmet deps caused by parent exception",
                PexenWarning,
                stacklevel=2,
            )
        if ended.held:
            warnings.warn(
                f"{ended.held} locks still held at exit due to parent exception",
                PexenWarning,
                stacklevel=2,
            )

    @staticmethod
    def _drain(
        pool: _WorkerPool, specs: list[TaskSpec], preset: dict[str, Any]
    ) -> Generator[TaskRes, None, RunEnded]:
        engine = Engine(
            specs,
            preset,
            lambda cancelled: pool._worker_set(specs, cancelled),
            pool.workers + pool.spare,
            DEFAULT_BACKLOG,
        )
        finished = False
        try:
            while True:
                item = engine.take()
                if isinstance(item, RunEnded):
                    finished = item.error is None
                    break
                yield item
        finally:
            engine.close(cancel=not finished)
        return item
