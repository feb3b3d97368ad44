"""The errors of the scheduler, and the controlled failure of a task.

Vocabulary: imports nothing of pexen above :mod:`pexen.util`, so that every
layer (facade, engine, plain scheduling state) can use it. The public classes
are presented as ``pexen.sched.common`` (their import path since the first
release), which is where reprs and pickles name them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pexen.util import PexenError

__all__ = [
    "DepcheckError",
    "MutexError",
    "SchedulerError",
    "TaskFailError",
    "TaskTimeoutError",
    "WorkerLostError",
    "task_fail_wrap",
]


class SchedulerError(PexenError):
    """Base class of the errors the scheduler raises."""


class WorkerLostError(SchedulerError):
    """A task's worker process died under it (a crash, a signal, the OOM killer).

    The message says how: the signal or the exit code. The task counts as an
    uncontrolled failure; the worker is replaced and the run goes on.
    """


class TaskTimeoutError(SchedulerError, TimeoutError):
    """A task ran longer than its ``timeout``.

    A process task is killed (its worker is replaced); a thread task cannot be
    killed, so it is abandoned: it goes on in its thread, its result is
    dropped, and a fresh thread takes its worker's place. Either way it counts
    as an uncontrolled failure.
    """


class DepcheckError(SchedulerError):
    """``requires`` that can never be met: nobody provides them, or a cycle.

    ``remain`` maps each unmet name to the tasks that require it.
    """

    def __init__(self, msg: str, remain: Any) -> None:
        super().__init__(msg, remain)
        self.remain = remain

    def __str__(self) -> str:
        return str(self.args[0])


class MutexError(SchedulerError):
    """A task names the same resource in both ``claims`` and ``uses``."""

    def __init__(self, msg: str, task: Any) -> None:
        super().__init__(msg, task)
        self.task = task

    def __str__(self) -> str:
        return str(self.args[0])


def _rebuild_exception(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class TaskFailError(Exception):
    """A controlled task failure.

    Raise it (or a subclass, which may carry data in its args and attributes)
    from a task to tell the scheduler the failure was expected: with
    ``locks_ok=True`` the task's locks are released, with ``deps_ok=True`` its
    ``provides`` are provided and its shared state flows to its dependants.
    """

    def __init__(self, *args: Any, deps_ok: bool = True, locks_ok: bool = True) -> None:
        super().__init__(*args)
        self.deps_ok = deps_ok
        self.locks_ok = locks_ok

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle without calling __init__, so subclasses with any signature
        # cross process boundaries with their flags and attributes intact.
        return (_rebuild_exception, (type(self), self.args, dict(self.__dict__)))


F = TypeVar("F", bound=Callable[..., Any])


@overload
def task_fail_wrap(func: F, /) -> F: ...
@overload
def task_fail_wrap(
    *, deps_ok: bool = True, locks_ok: bool = True, reraise: type[TaskFailError] = TaskFailError
) -> Callable[[F], F]: ...
def task_fail_wrap(
    func: Callable[..., Any] | None = None,
    /,
    *,
    deps_ok: bool = True,
    locks_ok: bool = True,
    reraise: type[TaskFailError] = TaskFailError,
) -> Any:
    """Make any exception of the wrapped callable a controlled failure.

    Use bare (``@task_fail_wrap``) or with arguments
    (``@task_fail_wrap(deps_ok=False, reraise=MyError)``). The exception raised
    is ``reraise(original, deps_ok=..., locks_ok=...)``, chained to the
    original. A :class:`TaskFailError` raised by the callable itself passes
    through untouched. The wrapper keeps the callable's signature and metadata.
    """
    if not (isinstance(reraise, type) and issubclass(reraise, TaskFailError)):
        raise TypeError(f"reraise must be a TaskFailError subclass, not {reraise!r}")

    def decorate(inner: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except TaskFailError:
                raise
            except Exception as exc:
                raise reraise(exc, deps_ok=deps_ok, locks_ok=locks_ok) from exc

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


for _public in (
    SchedulerError, WorkerLostError, TaskTimeoutError, DepcheckError, MutexError, TaskFailError,
):  # fmt: skip
    _public.__module__ = "pexen.sched.common"
del _public
