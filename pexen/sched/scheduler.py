"""The scheduler facade: :class:`Sched`."""

from __future__ import annotations

import contextlib
import gc
import threading
import warnings
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from actors.engine import Engine
from actors.messages import RunEnded
from pexen.state.depcheck import DepChecker
from pexen.state.taskspec import TaskSpec, check_priorities, compile_task
from pexen.util import PexenWarning
from pexen.vocab.errors import SchedulerError
from pexen.vocab.results import TaskRes
from pexen.vocab.status import RunStatus

from .pool import ThreadWorkerPool, _WorkerPool

__all__ = ["DEFAULT_BACKLOG", "Sched"]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a task set is compiled.

    Compiling allocates a few containers per task; with 100,000 tasks that
    triggers collections that each walk every object alive, a third of the
    time spent. Nothing compiled is garbage; reference counting still frees.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: How many results may wait for the caller before dispatch pauses.
DEFAULT_BACKLOG = 1024


class Sched:
    """Runs tasks in parallel as their metadata allows.

    ``Sched(tasks)`` or ``Sched()`` then :meth:`add_tasks`; optionally
    :meth:`add_shared`; then iterate :meth:`run`. The task set is validated
    as it is added, so bad metadata raises there, never inside a run.
    :meth:`add_tasks`, :meth:`cancel` and :meth:`status` may be called from
    any thread, also while a run goes on.
    """

    def __init__(self, tasks: Iterable[Any] = ()) -> None:
        self._tasks: dict[Any, TaskSpec] = {}
        self._deps = DepChecker()  # what validating the next addition needs
        self._shared: dict[str, Any] = {}
        self._active = threading.Lock()  # held while a run goes on
        self._guard = threading.RLock()  # the task set and the current engine
        self._engine: Engine | None = None
        self._add_tasks(tasks)

    def add_tasks(self, tasks: Iterable[Any]) -> None:
        """Add tasks (a task already added is not added again).

        Validates the whole task set and adds nothing when it fails:
        ``TypeError``/``SchedulerError`` for bad metadata,
        :class:`~pexen.sched.MutexError` for a resource both claimed and used,
        :class:`~pexen.sched.DepcheckError` for ``requires`` that can never be
        met. Warns (:class:`~pexen.PexenWarning`) of a provided name that no
        task requires.

        While a run goes on, the tasks join it (their ``requires`` may name
        what the run already provided); the run then ends only once they
        are done too.
        """
        self._add_tasks(tasks)

    def _add_tasks(self, tasks: Iterable[Any]) -> None:
        with self._guard, _gc_paused():
            new: dict[Any, TaskSpec] = {}
            for task in tasks:
                if task not in self._tasks and task not in new:
                    new[task] = compile_task(task, len(self._tasks) + len(new))
            if not new:
                return
            batch = list(new.values())
            # one reference priority for the whole set: the first task's
            check_priorities(batch, next(iter(self._tasks.values()), batch[0]))
            self._deps.add(batch)  # raises, and keeps nothing of the batch
            for spec, name in self._deps.unrequired(batch):
                warnings.warn(
                    f"Dep {name!r} provided by {spec.func}, but not required by any task",
                    PexenWarning,
                    stacklevel=3,  # the caller of Sched() or add_tasks()
                )
            self._tasks.update(new)
            if self._engine is not None:
                # when the run just ended, the tasks wait for the next one
                self._engine.add(batch)

    def add_shared(self, **shared: Any) -> None:
        """Preset keys of the shared dict every task starts with (a copy each)."""
        self._shared.update(shared)

    def run(
        self, pool: _WorkerPool | None = None, *, backlog: int = DEFAULT_BACKLOG
    ) -> Iterator[TaskRes]:
        """Run every task; yield a :class:`TaskRes` per task that ran, as it ends.

        ``pool`` defaults to ``ThreadWorkerPool(workers=1, spare=1)``. At most
        ``backlog`` results wait for the caller before dispatch pauses.
        Leaving the loop early (``break``, ``close()``, an exception) cancels
        the run; its workers are gone before control returns. At the end, a
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
        if not isinstance(backlog, int) or backlog < 1:
            raise ValueError(f"backlog must be a positive int, not {backlog!r}")
        return self._run(pool, backlog)

    def cancel(self) -> None:
        """Cancel the run going on, if any (from any thread).

        Nothing more is dispatched, running process tasks are killed; the
        generator of :meth:`run` yields the results already there and ends.
        """
        with self._guard:
            if self._engine is not None:
                self._engine.cancel()

    def status(self) -> RunStatus:
        """A snapshot of the run going on (``active=False`` when there is none)."""
        with self._guard:
            engine = self._engine
        if engine is None:
            return RunStatus(active=False)
        return engine.status()

    def _run(self, pool: _WorkerPool, backlog: int) -> Generator[TaskRes, None, None]:
        if not self._active.acquire(blocking=False):
            raise SchedulerError("This scheduler is already running")
        try:
            pool._claim()
            try:
                ended = yield from self._drain(pool, backlog)
            finally:
                pool._unclaim()
        finally:
            self._active.release()
        if ended is None or ended.cancelled:
            return
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

    def _drain(self, pool: _WorkerPool, backlog: int) -> Generator[TaskRes, None, RunEnded | None]:
        with self._guard:
            table = list(self._tasks.values())
            if not table:
                return None
            engine = self._engine = Engine(
                table, dict(self._shared), pool._worker_set, pool.workers + pool.spare, backlog
            )
        ended = None
        take, consumed = engine.take, engine.consumed
        try:
            while True:
                item = take()
                if type(item) is RunEnded:
                    ended = item
                    break
                yield item
                consumed()
        finally:
            cancel = ended is None or ended.cancelled or ended.error is not None
            if cancel:
                engine.cancelled.set()  # before anything else: no more dispatch
            with self._guard:
                self._engine = None
            engine.close(cancel=cancel)
        return ended
