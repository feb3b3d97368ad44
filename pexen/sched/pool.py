"""Worker pools: where tasks run.

:class:`ThreadWorkerPool` runs tasks in threads of the scheduler's process;
:class:`ProcessWorkerPool` in worker processes; :class:`DaskWorkerPool` on a
dask.distributed cluster (the extra ``pexen[dask]``). Any is given to
:meth:`pexen.sched.Sched.run`, or used on its own through the standalone API
(``register``, ``start``, ``submit``, ``iter_results``, ``shutdown``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from actors.engine import Engine
from actors.messages import RunEnded
from actors.workerset import ProcessWorkerSet, ThreadWorkerSet, WorkerSet
from pexen.state.taskspec import TaskSpec, compile_task
from pexen.vocab.errors import SchedulerError
from pexen.vocab.results import TaskRes

__all__ = ["DaskWorkerPool", "PoolError", "ProcessWorkerPool", "ThreadWorkerPool"]

#: a standalone session never pauses its workers for results not taken yet
#: (as in the legacy; the caller throttles with full())
_UNBOUNDED = sys.maxsize

_NO_NAMES: frozenset[Any] = frozenset()


class PoolError(SchedulerError):
    """Misuse of a pool: registering while running, re-starting, ..."""


class _Session:
    """A pool started by :meth:`_WorkerPool.start`: an open run of the engine.

    The run's table starts with the registered tasks (the workers' table, not
    run); each submission is a task of its own, added under a fresh tid with
    the registered task as its ``origin``. The engine does the rest: least
    loaded worker, capacity, lost workers and their requeued tasks.
    """

    def __init__(self, pool: _WorkerPool, registered: list[TaskSpec]) -> None:
        self.engine: Engine | None = Engine(
            registered, {}, pool._worker_set, pool.workers + pool.spare, _UNBOUNDED,
            keep_open=True, run_table=False, forget_finished=True,
        )  # fmt: skip
        self.compiled: dict[Any, TaskSpec] = {}  # tasks compiled at submit (thread pool)
        self.unyielded = 0  # submitted, result not yet yielded by iter_results()
        self.taken: deque[TaskRes] = deque()  # taken from the engine, not yet yielded
        self.stopping = False
        self._lock = threading.Lock()  # tids in table order; unyielded

    def submit(self, spec: TaskSpec, origin: int | None, shared: dict[str, Any]) -> None:
        """Run ``spec``'s callable with its kwargs (no deps, locks, priority).

        ``origin``: the entry of the workers' table holding it, if any.
        """
        assert self.engine is not None
        with self._lock:
            run = TaskSpec(
                len(self.engine.table), spec.func, _NO_NAMES, _NO_NAMES, _NO_NAMES,
                _NO_NAMES, 0, spec.kwargs, spec.pass_shared, None, origin,
            )  # fmt: skip
            self.engine.add([run], [shared])
            self.unyielded += 1

    def yielded(self) -> TaskRes:
        """The next result taken, now handed to the caller."""
        with self._lock:
            self.unyielded -= 1
        return self.taken.popleft()

    def take(self) -> bool:
        """Take the engine's next result; ``False`` once the run has ended.

        Raises :class:`SchedulerError` if the engine failed (an internal error,
        or every worker lost for good); the workers are stopped then.
        """
        if self.engine is None:
            return False
        item = self.engine.take()
        if type(item) is RunEnded:
            self.close(kill=item.error is not None)
            if item.error is not None:
                raise SchedulerError(f"the pool failed: {item.error!r}") from item.error
            return False
        self.engine.consumed()
        self.taken.append(item)
        return True

    def stop(self) -> None:
        """Let the run end once every task submitted has ended."""
        if not self.stopping:
            self.stopping = True
            if self.engine is not None:
                self.engine.stop()

    def finish(self) -> None:
        """Stop, wait for every task to end (keeping the results), close."""
        self.stop()
        while self.engine is not None and self.take():
            pass
        self.close(kill=False)

    def close(self, kill: bool) -> None:
        """Stop the workers (with ``kill``, abandon what they run)."""
        self.stopping = True
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close(cancel=kill)

    def alive(self) -> bool:
        return self.engine is not None and self.engine.alive()


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
        self._run: _Session | None = None
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
            self._run = _Session(self, list(self._registered.values()))
        finally:
            self._unclaim()

    def _running(self) -> _Session:
        if self._run is None:
            raise PoolError("The pool is not running")
        return self._run

    def _unregistered(self, run: _Session, task: Any) -> TaskSpec:
        """The spec of a task submitted without being registered."""
        raise PoolError(f"Cannot submit unregistered task {task}")

    def submit(self, task: Any, shared: dict[str, Any] | None = None) -> None:
        """Run a task with a copy of ``shared``; its result comes from :meth:`iter_results`.

        The task's callable runs with its ``kwargs``; its dependencies, locks,
        priority and timeout are for :meth:`~pexen.sched.Sched.run` and play
        no part here. The same task may be submitted again before it ended:
        each submission runs.
        """
        run = self._running()
        if run.stopping:
            raise PoolError("The pool is shutting down")
        spec = self._registered.get(task)
        origin = spec.tid if spec is not None else None  # in the workers' table
        if spec is None:
            spec = self._unregistered(run, task)
        run.submit(spec, origin, dict(shared or {}))

    def iter_results(self) -> Iterator[TaskRes]:
        """Yield a :class:`TaskRes` per submitted task, as each ends.

        Ends when every submitted task's result was yielded; after
        :meth:`shutdown`, that also stops the workers.
        """
        run = self._run
        while run is not None and run.unyielded > 0:
            if not run.taken and not run.take():
                break  # the run ended: nothing more will come
            while run.taken:
                yield run.yielded()
        if run is not None and run.stopping and self._run is run:
            run.finish()
            self._run = None

    def shutdown(self, wait: bool = False) -> None:
        """Accept no more tasks; stop the workers once every task has ended.

        With ``wait``, block until then (results stay available to
        :meth:`iter_results`); else they stop when :meth:`iter_results` has
        yielded the last result.
        """
        run = self._run
        if run is None:
            return
        run.stop()
        if wait or run.unyielded == len(run.taken):  # nothing more to come: at once
            run.finish()
            if not run.taken:
                self._run = None

    def alive(self) -> bool:
        """Whether the pool's workers are running."""
        return self._run is not None and self._run.alive()

    def empty(self) -> bool:
        """Whether every submitted task's result was taken from :meth:`iter_results`."""
        return self._run is None or self._run.unyielded == 0

    def full(self) -> bool:
        """Whether ``workers + spare`` submitted tasks' results are still to be taken."""
        return self._run is not None and self._run.unyielded >= self.workers + self.spare

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._run is not None:
                self._run.close(kill=True)


class ThreadWorkerPool(_WorkerPool):
    """Runs tasks in ``workers`` threads; ``spare`` more may be handed out ahead.

    Anything can be passed to and returned from a task. A thread cannot be
    interrupted: a cancelled run waits for the tasks already running.
    """

    def _worker_set(self, table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        return ThreadWorkerSet(self.workers, table, cancelled)

    def _unregistered(self, run: _Session, task: Any) -> TaskSpec:
        # Threads need no registration: the spec goes to the worker with the task.
        spec = run.compiled.get(task)
        if spec is None:
            spec = run.compiled[task] = compile_task(task, 0)  # the tid is the submission's
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


class DaskWorkerPool(_WorkerPool):
    """Runs tasks on a dask.distributed cluster; the rules stay in this process.

    The planner and the lock manager run here, as with the other pools: a
    task is sent to the cluster once its requirements are met and its locks
    granted, so no cluster worker ever waits on a lock. Tasks and their
    shared dicts travel with cloudpickle; what a task returns or leaves in
    ``shared`` must pickle with the standard :mod:`pickle`, and exceptions
    come back with their tracebacks, as from a :class:`ProcessWorkerPool`.

    - No ``address``/``client``: a private cluster is started on this machine,
      a dask scheduler and ``workers`` worker processes of one thread each
      (default ``os.cpu_count()``), started as ``dask`` command-line
      processes (a script without a main guard works), listening on loopback
      only, dashboards included. :meth:`close` stops it, as does leaving
      ``with DaskWorkerPool() as pool:`` and interpreter exit.
    - ``address`` (``"tcp://host:port"``, ``"tls://..."``) or ``client``: an
      existing cluster (pexen must be importable on its workers). ``workers``
      is then how many tasks run at once (default: the cluster's threads).
      ``security`` (a :class:`distributed.security.Security`) goes to dask.
      A client given is the caller's: :meth:`close` leaves it open.
    - A task whose cluster worker dies fails with
      :class:`~pexen.sched.WorkerLostError` naming the worker. A task over its
      timeout fails with :class:`~pexen.sched.TaskTimeoutError`, and the
      process of the cluster worker running it is ended (its nanny starts a
      new one), as are those running tasks at a cancel: dask cannot stop a
      running task otherwise.
    - ``spare`` (default ``256 * workers``): short tasks without locks go in
      batches of up to that many per cluster task, which is what makes the
      pool fast; a larger value trades priority precision for throughput.

    ``Sched.status()`` names the lane (``0..workers-1``) running each task;
    :meth:`where` tells which cluster worker runs a lane's task now.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        client: Any = None,
        spare: int | None = None,
        security: Any = None,
    ) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ImportError("DaskWorkerPool needs dask.distributed: pexen[dask]") from exc
        from actors.daskcluster import PrivateCluster

        _close_at_exit(self)
        if address is not None and client is not None:
            raise ValueError("give address= or client=, not both")
        if workers is not None and (
            not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
        ):
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        self._cluster: PrivateCluster | None = None
        self._own_client = client is None
        if client is None and address is None:
            workers = workers or os.cpu_count() or 1
            self._cluster = PrivateCluster(workers)
            address = self._cluster.address
        try:
            if client is None:
                client = Client(address, security=security, set_as_default=False)
            self._client = client
            if self._cluster is not None:
                client.wait_for_workers(workers, timeout=60)
            if workers is None:
                info = client.scheduler_info(n_workers=-1)
                workers = sum(w.get("nthreads", 1) for w in info["workers"].values()) or 1
        except BaseException:
            self._close_cluster()
            raise
        super().__init__(workers=workers, spare=256 * workers if spare is None else spare)
        self.address: str = client.scheduler.address

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(workers={self.workers}, spare={self.spare}, address={self.address!r})"

    def _worker_set(self, table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        from actors.daskpool import DaskWorkerSet

        if self._client is None:
            raise PoolError("The pool is closed")
        self._last_set = DaskWorkerSet(self._client, self.workers, table, cancelled)
        return self._last_set

    def _unregistered(self, run: _Session, task: Any) -> TaskSpec:
        # Tasks travel to the cluster with their spec: no registration needed.
        spec = run.compiled.get(task)
        if spec is None:
            spec = run.compiled[task] = compile_task(task, 0)
        return spec

    @property
    def client(self) -> Any:
        """The :class:`distributed.Client` the pool submits with."""
        return self._client

    def where(self, lane: int) -> str | None:
        """The address of the cluster worker running lane ``lane``'s task now, if any."""
        workers = getattr(self, "_last_set", None)
        return None if workers is None else workers.where(lane)

    def close(self) -> None:
        """Stop a run going on, close the client (if pexen's) and the private cluster."""
        if self._run is not None:
            self._run.close(kill=True)
            self._run = None
        client, self._client = self._client, None
        if client is not None and self._own_client:
            with contextlib.suppress(Exception):
                client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> DaskWorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if sys.is_finalizing():
            return  # dask's event loop is gone; the exit hook closed the pool
        with contextlib.suppress(Exception):
            self.close()


_open_dask_pools: weakref.WeakSet[DaskWorkerPool] = weakref.WeakSet()
_exit_hook = False


def _close_at_exit(pool: DaskWorkerPool) -> None:
    """Close ``pool`` at interpreter exit, if it is still open then.

    The hook is registered after dask.distributed was imported, so it runs
    before dask's own exit hooks: the client closes while its event loop and
    the cluster are still there.
    """
    global _exit_hook
    if not _exit_hook:
        atexit.register(_close_open_dask_pools)
        _exit_hook = True
    _open_dask_pools.add(pool)


def _close_open_dask_pools() -> None:
    for pool in list(_open_dask_pools):
        with contextlib.suppress(Exception):
            pool.close()
    _open_dask_pools.clear()
