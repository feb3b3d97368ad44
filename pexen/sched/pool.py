"""Worker pools: where tasks run.

:class:`ThreadWorkerPool` runs tasks in threads of the scheduler's process;
:class:`ProcessWorkerPool` in worker processes. Either is given to
:meth:`pexen.sched.Sched.run`, or used on its own through the standalone API
(``register``, ``start``, ``submit``, ``iter_results``, ``shutdown``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from actors.messages import RunTasks, TaskDone, WorkerLost
from actors.workerset import ProcessWorkerSet, ThreadWorkerSet, WorkerSet
from pexen.state.taskspec import TaskSpec, compile_task
from pexen.vocab.errors import SchedulerError
from pexen.vocab.results import ExceptionInfo, TaskRes

__all__ = ["PoolError", "ProcessWorkerPool", "ThreadWorkerPool"]


class PoolError(SchedulerError):
    """Misuse of a pool: registering while running, re-starting, ..."""


class _Sink:
    """Where a standalone pool's workers report: a thread-safe queue."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def tell(self, message: Any) -> None:
        self.queue.put(message)


class _Standalone:
    """A pool's workers started by :meth:`_WorkerPool.start`, and their results."""

    def __init__(self, workers: WorkerSet, specs: list[TaskSpec], sink: _Sink) -> None:
        self.workers = workers
        self.specs = specs
        self.sink = sink
        self.refs = workers.launch(sink, None)
        self.generation = [0] * len(self.refs)
        # per worker, (tid, shared) handed to it and not ended, in order (a
        # task may be submitted more than once)
        self.handed: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in self.refs]
        self.unfinished = 0  # submitted, result not yet received
        self.done: deque[TaskRes] = deque()  # received, not yet yielded
        self.shutting_down = False

    def submit(self, spec: TaskSpec, shared: dict[str, Any]) -> None:
        worker = min(range(len(self.refs)), key=lambda w: len(self.handed[w]))
        self.handed[worker].append((spec.tid, shared))
        self.unfinished += 1
        self.refs[worker].tell(RunTasks(((spec, shared),), self.generation[worker]))

    def collect(self) -> None:
        """Wait for the next message of a worker and account for it."""
        message = self.sink.queue.get()
        if isinstance(message, TaskDone):
            for outcome in message.outcomes:
                self._ended(message.worker, outcome.tid, outcome.shared, outcome.ret,
                            outcome.excinfo)  # fmt: skip
        elif isinstance(message, WorkerLost):
            worker = message.worker
            if message.replacement is not None:
                self.refs[worker] = message.replacement
            if message.generation is not None:
                self.generation[worker] = message.generation
            handed = self.handed[worker]
            if message.culprit is not None and handed and handed[0][0] == message.culprit:
                err = message.error
                excinfo = ExceptionInfo(type(err), err, None)
                self._ended(worker, message.culprit, handed[0][1], None, excinfo)
            requeue, self.handed[worker] = self.handed[worker], []
            self.unfinished -= len(requeue)
            for tid, shared in requeue:  # never started: hand out again
                self.submit(self.specs[tid], shared)

    def _ended(self, worker: int, tid: int, shared: Any, ret: Any, excinfo: Any) -> None:
        handed = self.handed[worker]
        for i, (handed_tid, _) in enumerate(handed):
            if handed_tid == tid:  # outcomes come in the order handed: i is 0
                del handed[i]
                break
        self.unfinished -= 1
        self.done.append(TaskRes(self.specs[tid].func, shared, ret, excinfo))


class _WorkerPool:
    """What both pools share: sizing, and the standalone API."""

    def __init__(self, workers: int = 1, spare: int = 1) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        if not isinstance(spare, int) or isinstance(spare, bool) or spare < 0:
            raise ValueError(f"spare must be a non-negative int, not {spare!r}")
        self.workers = workers
        self.spare = spare
        self._registered: dict[Any, TaskSpec] = {}
        self._run: _Standalone | None = None
        self._in_use = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers}, spare={self.spare})"

    # -- used by the scheduler ---------------------------------------------

    def _worker_set(self, table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        """The workers for one run of ``table``; called before any actor starts."""
        raise NotImplementedError

    def _claim(self) -> None:
        """Take the pool for a run of the scheduler: one user at a time."""
        if self._run is not None or not self._in_use.acquire(blocking=False):
            raise PoolError("Cannot re-start a running pool")

    def _unclaim(self) -> None:
        self._in_use.release()

    # -- standalone API ----------------------------------------------------

    def register(self, tasks: Iterable[Any]) -> None:
        """Make tasks known to the pool before :meth:`start`."""
        if self.alive():
            raise PoolError("Cannot register tasks while the pool is running")
        for task in tasks:
            if task not in self._registered:
                self._registered[task] = compile_task(task, len(self._registered))

    def start(self) -> None:
        """Start the workers, with the registered tasks known to them."""
        self._claim()
        try:
            specs = list(self._registered.values())
            workers = self._worker_set(specs, threading.Event())
            self._run = _Standalone(workers, specs, _Sink())
        finally:
            self._unclaim()

    def _running(self) -> _Standalone:
        if self._run is None:
            raise PoolError("The pool is not running")
        return self._run

    def _spec_for(self, task: Any) -> TaskSpec:
        spec = self._registered.get(task)
        if spec is None:
            raise PoolError(f"Cannot submit unregistered task {task}")
        return spec

    def submit(self, task: Any, shared: dict[str, Any] | None = None) -> None:
        """Run a task with a copy of ``shared``; its result comes from :meth:`iter_results`."""
        run = self._running()
        if run.shutting_down:
            raise PoolError("The pool is shutting down")
        run.submit(self._spec_for(task), dict(shared or {}))

    def iter_results(self) -> Iterator[TaskRes]:
        """Yield a :class:`TaskRes` per submitted task, as each ends.

        Ends when every submitted task's result was yielded; after
        :meth:`shutdown`, that also stops the workers.
        """
        run = self._run
        while run is not None and (run.done or run.unfinished > 0):
            if not run.done:
                run.collect()
            while run.done:
                yield run.done.popleft()
        if run is not None and run.shutting_down:
            self._stop(kill=False)

    def shutdown(self, wait: bool = False) -> None:
        """Accept no more tasks; stop the workers once every task has ended.

        With ``wait``, block until then (results stay available to
        :meth:`iter_results`); else they stop when :meth:`iter_results` has
        yielded the last result.
        """
        run = self._run
        if run is None:
            return
        run.shutting_down = True
        if wait:
            while run.unfinished > 0:
                run.collect()
        if run.unfinished == 0:
            self._stop(kill=False, keep_results=True)

    def _stop(self, kill: bool, keep_results: bool = False) -> None:
        run = self._run
        if run is None:
            return
        run.workers.close(kill=kill)
        if not (keep_results and run.done):
            self._run = None
        else:
            run.workers = _STOPPED

    def alive(self) -> bool:
        """Whether the pool's workers are running."""
        return self._run is not None and self._run.workers.alive()

    def empty(self) -> bool:
        """Whether no submitted task is unfinished."""
        return self._run is None or self._run.unfinished <= 0

    def full(self) -> bool:
        """Whether ``workers + spare`` submitted tasks are unfinished."""
        return self._run is not None and self._run.unfinished >= self.workers + self.spare

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._stop(kill=True)


class _Stopped:
    """The worker set of a stopped pool whose results are still to be taken."""

    def close(self, kill: bool) -> None:
        pass

    def alive(self) -> bool:
        return False

    def launch(self, report_to: Any, mailbox: Any) -> list[Any]:
        return []


_STOPPED: Any = _Stopped()


class ThreadWorkerPool(_WorkerPool):
    """Runs tasks in ``workers`` threads; ``spare`` more may be handed out ahead.

    Anything can be passed to and returned from a task. A thread cannot be
    interrupted: a cancelled run waits for the tasks already running.
    """

    def _worker_set(self, table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        return ThreadWorkerSet(self.workers, table, cancelled)

    def _spec_for(self, task: Any) -> TaskSpec:
        # Threads need no registration: a new task joins the running table.
        spec = self._registered.get(task)
        if spec is None:
            run = self._running()
            spec = self._registered[task] = compile_task(task, len(run.specs))
            run.specs.append(spec)
        return spec


class ProcessWorkerPool(_WorkerPool):
    """Runs tasks in ``workers`` worker processes; ``spare`` more may be handed out ahead.

    Tasks need no pickling: worker processes are forked (from a single-threaded
    helper process) with the task table in memory, so closures, lambdas,
    ``__main__`` functions and ``multiprocessing`` objects in ``kwargs`` work,
    also in scripts without a main guard. What a task returns or leaves in its
    shared dict must pickle with the standard :mod:`pickle`.
    """

    def _worker_set(self, table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        return ProcessWorkerSet(self.workers, table)
