"""The scheduler facade: :class:`Sched`."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any

from actors.engine import Engine
from actors.messages import RunEnded
from pexen.state.depcheck import DepChecker
from pexen.state.taskspec import TaskSpec, check_priorities, compile_task
from pexen.state.tasktable import TaskTable
from pexen.util import PexenWarning, gc_paused
from pexen.vocab.errors import SchedulerError, TaskFailError
from pexen.vocab.events import RunFinished, RunObserver, RunStarted, TaskSkipped
from pexen.vocab.results import TaskRes
from pexen.vocab.status import RunStatus

from .pool import ThreadWorkerPool, _WorkerPool

__all__ = ["DEFAULT_BACKLOG", "Sched"]


#: How many results may wait for the caller before dispatch pauses.
DEFAULT_BACKLOG = 1024

#: A list of at most this many tasks is added without pausing the collector.
_SMALL_BATCH = 16


class Sched:
    """Runs tasks in parallel as their metadata allows.

    ``Sched(tasks)`` or ``Sched()`` then :meth:`add_tasks`; optionally
    :meth:`add_shared`; then iterate :meth:`run`, or :meth:`serve` for a run
    that stays open (a service) until :meth:`stop`. The task set is
    validated as it is added, so bad metadata raises there, never inside a
    run. :meth:`add_tasks`, :meth:`stop`, :meth:`cancel` and :meth:`status`
    may be called from any thread, also while a run goes on.
    """

    def __init__(self, tasks: Iterable[Any] = ()) -> None:
        self._tasks: dict[Any, TaskSpec] = {}
        self._next_tid = 0  # tids grow; a run's table is renumbered from 0
        self._deps = DepChecker()  # what validating the next addition needs
        self._shared: dict[str, Any] = {}
        self._active = threading.Lock()  # held while a run goes on
        self._guard = threading.RLock()  # the task set and the current engine
        self._engine: Engine | None = None
        self._serving = False  # a serve() goes on: its tasks are forgotten as they end
        self._stopped = False  # stop() was called during this serve()
        self._add_tasks(tasks)

    def add_tasks(self, tasks: Iterable[Any]) -> None:
        """Add tasks (a task already added is not added again).

        Validates the tasks added (against what was added before: the cost
        is that of the batch, not of the task set) and adds nothing when it
        fails: ``TypeError``/``SchedulerError`` for bad metadata,
        :class:`~pexen.sched.MutexError` for a resource both claimed and used,
        :class:`~pexen.sched.DepcheckError` for ``requires`` that can never be
        met. Warns (:class:`~pexen.PexenWarning`) of a provided name that no
        task requires.

        While a run goes on, the tasks join it (their ``requires`` may name
        what the run already provided); the run then ends only once they
        are done too. During :meth:`serve`, a task may also require a name
        no task known yet provides (it waits for a later provider), so only a
        dependency cycle is a ``DepcheckError``, and there is no
        unrequired-provides warning (a later task may require the name);
        after :meth:`stop`, adding raises :class:`SchedulerError`.
        """
        if type(tasks) is list and len(tasks) == 1:  # a service's add: a frame less
            with self._guard:
                self._add_one(tasks[0], 4)
            return
        self._add_tasks(tasks)

    def _add_tasks(self, tasks: Iterable[Any]) -> None:
        if type(tasks) is list and len(tasks) <= _SMALL_BATCH:
            # a few tasks allocate too little for the collector to matter, and
            # pausing it costs a service as much as the rest of a one-task add
            with self._guard:
                if len(tasks) == 1:
                    self._add_one(tasks[0], 5)
                else:
                    self._add_locked(tasks)
            return
        with self._guard, gc_paused():
            self._add_locked(tasks)

    def _add_one(self, task: Any, stacklevel: int) -> None:
        """:meth:`_add_locked` for one task: what a service adds per result.

        The same checks in the same order, minus what one task without names
        cannot need: no batch to build, no dependency check to consult (a
        task that neither requires nor provides changes nothing there, open
        or not), the priority compared only when it differs from the
        reference's by identity. ``stacklevel``: that of a warning raised
        here, for :meth:`_accept` (``add_tasks()`` calls this directly).
        """
        if self._stopped:
            raise SchedulerError("This scheduler's serve() was stopped: it takes no more tasks")
        tasks = self._tasks
        if task in tasks:
            return
        spec = compile_task(task, self._next_tid)
        if spec.requires or spec.provides:
            self._accept({task: spec}, [spec], stacklevel)
            return
        for ref in tasks.values():  # the reference priority: the first task's
            if spec.priority is not ref.priority:
                check_priorities([spec], ref)
            break
        self._next_tid = spec.tid + 1
        tasks[task] = spec
        if self._engine is not None:
            self._engine.add((spec,))

    def _add_locked(self, tasks: Iterable[Any]) -> None:
        if self._stopped:
            raise SchedulerError("This scheduler's serve() was stopped: it takes no more tasks")
        new: dict[Any, TaskSpec] = {}
        tid = self._next_tid
        for task in tasks:
            if task not in self._tasks and task not in new:
                new[task] = compile_task(task, tid)
                tid += 1
        if new:
            self._accept(new, list(new.values()), 5)

    def _accept(self, new: dict[Any, TaskSpec], batch: list[TaskSpec], stacklevel: int) -> None:
        """Validate the compiled ``batch`` (``new``: by task) as a whole; add it.

        ``stacklevel``: the unrequired-provides warning's, so that it names
        the caller of ``Sched()`` or ``add_tasks()``.
        """
        # one reference priority for the whole set: the first task's
        # (a served task set's first task still there, else the batch's)
        ref = next(iter(self._tasks.values()), batch[0])
        if len(batch) > 1 or batch[0].priority is not ref.priority:  # else nothing to compare
            check_priorities(batch, ref)
        if self._deps.is_open:
            self._deps.add_open(batch)  # raises, and keeps nothing of the batch
        else:
            self._deps.add(batch)  # raises, and keeps nothing of the batch
            for spec, name in self._deps.unrequired(batch):
                warnings.warn(
                    f"Dep {name!r} provided by {spec.func}, but not required by any task",
                    PexenWarning,
                    stacklevel=stacklevel,
                )
        self._next_tid = batch[-1].tid + 1
        self._tasks.update(new)
        if self._engine is not None:
            # when the run just ended, the tasks wait for the next one
            self._engine.add(batch)

    def add_shared(self, **shared: Any) -> None:
        """Preset keys of the shared dict every task starts with (a copy each)."""
        self._shared.update(shared)

    def run(
        self,
        pool: _WorkerPool | None = None,
        *,
        backlog: int = DEFAULT_BACKLOG,
        observers: Iterable[RunObserver] = (),
    ) -> Iterator[TaskRes]:
        """Run every task; yield a :class:`TaskRes` per task that ran, as it ends.

        ``pool`` defaults to ``ThreadWorkerPool(workers=1, spare=1)``. At most
        ``backlog`` results wait for the caller before dispatch pauses.
        Leaving the loop early (``break``, ``close()``, an exception) cancels
        the run; its workers are gone before control returns. At the end, a
        :class:`~pexen.PexenWarning` reports tasks skipped for unmet
        dependencies and locks still held, both caused by failed tasks.

        ``observers``: :class:`~pexen.vocab.events.RunObserver` objects (the
        reports of :mod:`pexen.reports`, or your own) fed with the run's
        events and results, in the thread that iterates, in order; each
        one's ``run_ended`` is called exactly once, also when the run is
        cancelled, fails or is left early. An observer that raises ends the
        run with its error. Without observers the engine builds no events.

        Raises :class:`SchedulerError` if another run of this scheduler is
        going on.
        """
        return self._run(*self._checked(pool, backlog, observers), serve=False)

    def serve(
        self,
        pool: _WorkerPool | None = None,
        *,
        backlog: int = DEFAULT_BACKLOG,
        observers: Iterable[RunObserver] = (),
    ) -> Iterator[TaskRes]:
        """Run as a service: a run that stays open while nothing is left to do.

        Yields a :class:`TaskRes` per task as it ends, like :meth:`run`, for
        the tasks added before and the tasks added while it goes on (from
        any thread), until :meth:`stop`: the tasks already added still run,
        and once nothing more can start or is running the generator ends;
        tasks still waiting then (for a name nobody provided, for a lock
        held for good) are skipped and reported as :meth:`run` reports them.

        A served task is forgotten once its result was taken: the scheduler
        keeps nothing of it (spec, shared dict, callable), so memory is
        bounded by the tasks not yet finished and the names provided so far.
        A later :meth:`run` or :meth:`serve` does not see it again, and the
        same callable added again is a new task. ``requires`` may name what
        an earlier task of the serve provided, or what no task known yet
        provides (the task waits for a provider that ends well). Arguments
        (``observers`` too), :meth:`cancel`, :meth:`status` and leaving the
        loop are as for :meth:`run`.
        """
        return self._run(*self._checked(pool, backlog, observers), serve=True)

    def _checked(
        self, pool: _WorkerPool | None, backlog: int, observers: Iterable[RunObserver]
    ) -> tuple[_WorkerPool, int, tuple[RunObserver, ...]]:
        if self._active.locked():
            raise SchedulerError("This scheduler is already running")
        if pool is None:
            pool = ThreadWorkerPool(workers=1, spare=1)
        elif not isinstance(pool, _WorkerPool):
            raise TypeError(
                "pool must be a ThreadWorkerPool, ProcessWorkerPool or DaskWorkerPool, "
                f"not {pool!r}"
            )
        if not isinstance(backlog, int) or backlog < 1:
            raise ValueError(f"backlog must be a positive int, not {backlog!r}")
        if isinstance(observers, RunObserver):
            raise TypeError("observers must be a list of observers, not one observer")
        observers = tuple(observers)
        for observer in observers:
            if not all(callable(getattr(observer, name, None)) for name in _OBSERVER_METHODS):
                raise TypeError(
                    f"observer {observer!r} is not a RunObserver "
                    f"(it needs the methods {', '.join(_OBSERVER_METHODS)})"
                )
        return pool, backlog, observers

    def stop(self) -> None:
        """End the :meth:`serve` going on, gracefully (from any thread).

        :meth:`add_tasks` raises :class:`SchedulerError` from now on; the
        tasks already added still run; the generator ends once nothing more
        can start or is running. Outside a serve (none going on, or a
        :meth:`run`, which ends by itself) it does nothing.
        """
        with self._guard:
            if not self._serving or self._stopped:
                return
            self._stopped = True
            if self._engine is not None:
                self._engine.stop()

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

    def _run(
        self,
        pool: _WorkerPool,
        backlog: int,
        observers: tuple[RunObserver, ...],
        serve: bool,
    ) -> Generator[TaskRes, None, None]:
        if not self._active.acquire(blocking=False):
            raise SchedulerError("This scheduler is already running")
        try:
            pool._claim()
            try:
                if observers:
                    ended = yield from self._observed(pool, backlog, serve, _Fanout(observers))
                else:
                    ended = yield from self._drain(pool, backlog, serve)
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

    def _table(self) -> TaskTable:
        """The task set as a run's table: tids 0..n-1 (renumbered after a serve)."""
        specs = list(self._tasks.values())
        if specs and specs[-1].tid != len(specs) - 1:  # tids grow: only gaps differ
            specs = [spec._replace(tid=i) for i, spec in enumerate(specs)]
            self._tasks = {spec.func: spec for spec in specs}
        self._next_tid = len(specs)
        return TaskTable(specs)

    def _observed(
        self, pool: _WorkerPool, backlog: int, serve: bool, fanout: _Fanout
    ) -> Generator[TaskRes, None, RunEnded | None]:
        """:meth:`_drain`, observed: ``run_ended`` in the end, whatever happens."""
        ended = None
        error: BaseException | None = None
        try:
            ended = yield from self._drain(pool, backlog, serve, fanout)
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            if ended is not None and ended.error is not None:
                error = ended.error
            fanout.run_ended(
                RunFinished(
                    time.monotonic(),
                    cancelled=ended is None or ended.cancelled,
                    error=error,
                    skipped=fanout.skipped,
                    locks_held=ended.held if ended is not None else 0,
                )
            )
        return ended

    def _drain(
        self, pool: _WorkerPool, backlog: int, serve: bool, fanout: _Fanout | None = None
    ) -> Generator[TaskRes, None, RunEnded | None]:
        with self._guard:
            table = self._table()
            engine = None
            if len(table) or serve:
                started = time.monotonic()
                engine = self._engine = Engine(
                    table, dict(self._shared), pool._worker_set, pool.workers + pool.spare,
                    backlog, keep_open=serve, observed=fanout is not None,
                )  # fmt: skip
                if serve:
                    self._serving, self._stopped = True, False
                    self._deps.open(table)
        if engine is None:  # nothing to run
            if fanout is None:
                return None
            fanout.run_started(RunStarted((), pool.workers, _pool_kind(pool), time.monotonic()))
            return RunEnded(0, 0)
        ended = None
        take, consumed = engine.mailbox.take, engine.mailbox.consumed  # Engine's, one call less
        try:
            if fanout is not None:
                # after the engine started (and a process pool forked): an
                # observer may start threads of its own (a live display)
                tasks = tuple(spec.func for spec in table)
                fanout.run_started(RunStarted(tasks, pool.workers, _pool_kind(pool), started))
                del tasks
                ended = yield from self._observed_results(engine, fanout, serve)
            elif serve:
                ended = yield from self._serve_results(engine)
            else:
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
                if serve:
                    self._serving = self._stopped = False
                    self._deps.close(self._tasks.values())
            engine.close(cancel=cancel)
        return ended

    def _serve_results(self, engine: Engine) -> Generator[TaskRes, None, RunEnded]:
        """Yield a serve's results; forget each task as its result is taken.

        The result is not kept in a local while the caller has it: once the
        caller drops it, nothing of the task is left.
        """
        # the mailbox's and table's own methods: one call less each, per task
        take, consumed = engine.mailbox.take, engine.mailbox.consumed
        forget, guard, tasks = engine.table.forgetter, self._guard, self._tasks
        box: list[TaskRes] = []  # one list for every result (see below)
        while True:
            item = take()
            if type(item) is RunEnded:
                return item
            with guard:
                spec = tasks.pop(item.task, None)
                if spec is not None:
                    forget(spec.tid, None)
                    if spec.provides:  # what the dependency check keeps is by name
                        self._deps.forget(spec, _provided(item))
            box.append(item)
            del item, spec
            yield box.pop()  # the frame keeps no reference while the caller has it
            consumed()

    def _observed_results(
        self, engine: Engine, fanout: _Fanout, serve: bool
    ) -> Generator[TaskRes, None, RunEnded]:
        """Yield the results of an observed run; hand every event to the observers.

        As :meth:`_serve_results` for a serve: each task is forgotten as its
        result is taken, and no local keeps the result while the caller has it.
        """
        take, consumed, events, result = engine.take, engine.consumed, fanout.events, fanout.result
        while True:
            item = take()
            kind = type(item)
            if kind is RunEnded:
                return item  # type: ignore[no-any-return]
            if kind is list:  # the events between two results
                events(item)
                continue
            if serve:
                with self._guard:
                    spec = self._tasks.pop(item.task, None)
                    if spec is not None:
                        engine.forget(spec.tid)
                        self._deps.forget(spec, _provided(item))
                del spec
            result(item)
            box = [item]
            del item
            yield box.pop()
            consumed()


#: what an observer must have (the methods of RunObserver)
_OBSERVER_METHODS = ("run_started", "task_event", "task_result", "run_ended")


class _Fanout:
    """The observers of one run: each event to each, in order.

    ``run_ended`` reaches every observer even if one raises; the first error
    is raised after.
    """

    def __init__(self, observers: Sequence[RunObserver]) -> None:
        self._observers = observers
        self.skipped = 0  # TaskSkipped events delivered

    def run_started(self, run: RunStarted) -> None:
        for observer in self._observers:
            observer.run_started(run)

    def events(self, events: list[Any]) -> None:
        # here, not in the caller's loop: no local of the generator's frame
        # keeps the last event (and its task) while the caller has a result
        observers = self._observers
        for event in events:
            if type(event) is TaskSkipped:
                self.skipped += 1
            for observer in observers:
                observer.task_event(event)

    def result(self, result: TaskRes) -> None:
        for observer in self._observers:
            observer.task_result(result)

    def run_ended(self, run: RunFinished) -> None:
        first: BaseException | None = None
        for observer in self._observers:
            try:
                observer.run_ended(run)
            except BaseException as exc:
                if first is None:
                    first = exc
        if first is not None:
            raise first


def _pool_kind(pool: _WorkerPool) -> str:
    """``"thread"`` for a ThreadWorkerPool, ``"process"``, ``"dask"``..."""
    name = type(pool).__name__
    return name.removesuffix("WorkerPool").lower() or name.lower()


def _provided(res: TaskRes) -> bool:
    """Whether the task of ``res`` provided its names (it ended well, or its
    :class:`TaskFailError` said ``deps_ok``)."""
    if res.excinfo is None:
        return True
    return isinstance(res.excinfo.val, TaskFailError) and res.excinfo.val.deps_ok
