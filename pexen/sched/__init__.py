"""The scheduler: run tasks by their metadata, on threads or processes.

Public surface::

    Sched, TaskRes, ExceptionInfo, TaskFailError, task_fail_wrap,
    SchedulerError, DepcheckError, MutexError, WorkerLostError,
    TaskTimeoutError, meta, pool

``Sched`` and ``pool`` load the engine (pykka, cloudpickle) on first use, so
that the vocabulary here (``meta``, ``common``) can be imported by every layer
of pexen without import cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import common, meta
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

if TYPE_CHECKING:
    from . import pool
    from .scheduler import Sched

__all__ = [
    "DepcheckError",
    "ExceptionInfo",
    "MutexError",
    "Sched",
    "SchedulerError",
    "TaskFailError",
    "TaskRes",
    "TaskTimeoutError",
    "WorkerLostError",
    "common",
    "meta",
    "pool",
    "task_fail_wrap",
]

_LAZY = {"Sched": ("pexen.sched.scheduler", "Sched"), "pool": ("pexen.sched.pool", None)}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pexen.sched' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
