"""Calling one task: the calling convention and the classification of failures.

Used by every worker, in a thread of the scheduler's process or in a worker
process alike.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from pexen.state.taskspec import TaskSpec
from pexen.vocab.errors import TaskFailError
from pexen.vocab.results import ExceptionInfo

from .messages import Outcome

__all__ = ["failure", "run_task"]


def failure(tid: int, shared: dict[str, Any], exc: BaseException, started: float = 0.0) -> Outcome:
    """The outcome of a task that raised ``exc`` (it started at ``started``,
    when it started at all, and ends now).

    A :class:`TaskFailError` is a controlled failure carrying its own
    ``deps_ok``/``locks_ok``; anything else keeps locks and provides nothing.
    """
    if isinstance(exc, TaskFailError):
        deps_ok = bool(getattr(exc, "deps_ok", True))
        locks_ok = bool(getattr(exc, "locks_ok", True))
    else:
        deps_ok = locks_ok = False
    excinfo = ExceptionInfo(type(exc), exc, exc.__traceback__)
    ended = monotonic() if started else 0.0
    return Outcome(tid, None, shared, excinfo, deps_ok, locks_ok, started, ended)


def run_task(spec: TaskSpec, shared: dict[str, Any]) -> Outcome:
    """Call the task as its signature asks and report how it ended.

    The shared dict is passed first when the task takes a positional
    parameter; the metadata's ``kwargs`` as keyword arguments. The
    outcome carries when the task started and ended.
    """
    started = monotonic()
    try:
        if spec.pass_shared:
            ret = spec.func(shared, **spec.kwargs)
        else:
            ret = spec.func(**spec.kwargs)
    except BaseException as exc:  # a task's SystemExit is its failure too
        # Drop this frame: the traceback starts in the task.
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
            exc.__traceback__ = exc.__traceback__.tb_next
        return failure(spec.tid, shared, exc, started)
    return Outcome(spec.tid, ret, shared, None, True, True, started, monotonic())
