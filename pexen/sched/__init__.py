"""The scheduler: run tasks by their metadata, on threads, processes or a dask cluster.

Public surface::

    Sched, TaskRes, ExceptionInfo, TaskFailError, task_fail_wrap,
    SchedulerError, DepcheckError, MutexError, WorkerLostError,
    TaskTimeoutError, meta, pool,
    events (RunObserver and the events of a run: RunStarted, TasksAdded,
    TaskHandedOut, TaskStarted, TaskLockWait, TaskEnded, TaskUnblocked,
    TaskSkipped, RunFinished; ``Sched.run(observers=[...])``)

A minimal run::

    from pexen import sched
    from pexen.sched import meta

    @meta.func_meta(provides={"config"})
    def configure(shared):
        shared["cc"] = "gcc"

    @meta.func_meta(requires={"config"})
    def build(shared):
        return f"built with {shared['cc']}"

    for res in sched.Sched([configure, build]).run(sched.pool.ThreadWorkerPool(2)):
        print(res.task.__name__, res.ret)

This package is the facade, the top layer of pexen: it drives the engine
(:mod:`actors`), which works on the plain scheduling state
(:mod:`pexen.state`); all of them share the vocabulary of :mod:`pexen.vocab`
(metadata, results, errors), re-exported here.
"""

from pexen.vocab import events
from pexen.vocab.events import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskEvent,
    TaskHandedOut,
    TaskLockWait,
    TasksAdded,
    TaskSkipped,
    TaskStarted,
    TaskUnblocked,
)

from . import common, meta, pool
from .common import (
    DepcheckError,
    ExceptionInfo,
    MutexError,
    SchedulerError,
    TaskFailError,
    TaskRes,
    TaskTimeoutError,
    WorkerLostError,
    task_fail_wrap,
)
from .scheduler import Sched

__all__ = [
    "DepcheckError",
    "ExceptionInfo",
    "MutexError",
    "RunFinished",
    "RunObserver",
    "RunStarted",
    "Sched",
    "SchedulerError",
    "TaskEnded",
    "TaskEvent",
    "TaskFailError",
    "TaskHandedOut",
    "TaskLockWait",
    "TaskRes",
    "TaskSkipped",
    "TaskStarted",
    "TaskTimeoutError",
    "TaskUnblocked",
    "TasksAdded",
    "WorkerLostError",
    "common",
    "events",
    "meta",
    "pool",
    "task_fail_wrap",
]
