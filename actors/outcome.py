"""How one task ended: the one message a worker process builds.

Its own module, so that an exec'd zygote, which needs only this of the
actors' messages, does not build the other message classes as it boots
(:mod:`actors.messages` re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pexen.vocab.results import ExceptionInfo

__all__ = ["Outcome"]


@dataclass(frozen=True, init=False)
class Outcome:
    """How one task ended. Built by a worker, read by the planner.

    ``excinfo`` is ``None`` when the task returned. ``deps_ok``/``locks_ok``
    say whether its provides are provided and its locks released: both true
    on success, the flags of a :class:`~pexen.sched.TaskFailError`, both false
    on any other exception.

    ``started`` and ``ended``: when the task ran, in :func:`time.monotonic`
    seconds measured where it ran (``0.0``: not measured; the planner then
    uses what it knows). Not part of equality.
    """

    tid: int
    ret: Any
    shared: dict[str, Any]
    excinfo: ExceptionInfo | None
    deps_ok: bool
    locks_ok: bool
    started: float = field(default=0.0, compare=False)
    ended: float = field(default=0.0, compare=False)

    # One per task: the fields go in as one instance dict, set by one call,
    # in 0.55 us where slots set one by one through their descriptors (a
    # frozen class cannot assign them) took 0.9 us; reading a field costs
    # the same either way.
    def __init__(
        self,
        tid: int,
        ret: Any,
        shared: dict[str, Any],
        excinfo: ExceptionInfo | None,
        deps_ok: bool,
        locks_ok: bool,
        started: float = 0.0,
        ended: float = 0.0,
    ) -> None:
        _set(
            self,
            "__dict__",
            {
                "tid": tid,
                "ret": ret,
                "shared": shared,
                "excinfo": excinfo,
                "deps_ok": deps_ok,
                "locks_ok": locks_ok,
                "started": started,
                "ended": ended,
            },
        )


_set = object.__setattr__  # past the frozen class's own __setattr__
