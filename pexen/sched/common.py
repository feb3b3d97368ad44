"""Values and errors of the scheduler (public path; defined in :mod:`pexen.vocab`)."""

from pexen.vocab.errors import (
    DepcheckError,
    MutexError,
    SchedulerError,
    TaskFailError,
    TaskTimeoutError,
    WorkerLostError,
    task_fail_wrap,
)
from pexen.vocab.results import ExceptionInfo, TaskRes

__all__ = [
    "DepcheckError",
    "ExceptionInfo",
    "MutexError",
    "SchedulerError",
    "TaskFailError",
    "TaskRes",
    "TaskTimeoutError",
    "WorkerLostError",
    "task_fail_wrap",
]
