"""Calling one task: the calling convention and the classification of failures.

Used by every worker, in a thread of the scheduler's process or in a worker
process alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any, NamedTuple, Protocol

from pexen.vocab.errors import TaskFailError
from pexen.vocab.results import ExceptionInfo

from .outcome import Outcome

__all__ = ["Call", "Runnable", "failure", "run_task"]


class Runnable(Protocol):
    """What calling a task needs: a :class:`~pexen.state.taskspec.TaskSpec` has it."""

    @property
    def tid(self) -> int: ...
    @property
    def func(self) -> Callable[..., Any]: ...
    @property
    def kwargs(self) -> Mapping[str, Any]: ...
    @property
    def pass_shared(self) -> bool: ...


class Call(NamedTuple):
    """A :class:`Runnable` and nothing more: the form a task crosses in to an
    exec'd worker process (a plain tuple pickles in about half the time of a
    whole spec, whose scheduling fields a worker never reads)."""

    tid: int
    func: Callable[..., Any]
    kwargs: Mapping[str, Any]
    pass_shared: bool


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


def run_task(spec: Runnable, shared: dict[str, Any]) -> Outcome:
    """Call the task as its signature asks and report how it ended.

    The shared dict is passed first when the task takes a positional
    parameter; the metadata's ``kwargs`` as keyword arguments. The
    outcome carries when the task started and ended.
    """
    kwargs = spec.kwargs
    started = monotonic()
    try:
        if kwargs:
            ret = spec.func(shared, **kwargs) if spec.pass_shared else spec.func(**kwargs)
        else:  # most tasks: no keyword arguments to unpack into a fresh dict
            ret = spec.func(shared) if spec.pass_shared else spec.func()
    except BaseException as exc:  # a task's SystemExit is its failure too
        # Drop this frame: the traceback starts in the task.
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
            exc.__traceback__ = exc.__traceback__.tb_next
        return failure(spec.tid, shared, exc, started)
    return Outcome(spec.tid, ret, shared, None, True, True, started, monotonic())
