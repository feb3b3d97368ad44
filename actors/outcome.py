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


@dataclass(frozen=True, slots=True, init=False)
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

    # One per task: stored through the slots' setters, in half the time of
    # the dataclass's own __init__ (an object.__setattr__ per field).
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
        _set_tid(self, tid)
        _set_ret(self, ret)
        _set_shared(self, shared)
        _set_excinfo(self, excinfo)
        _set_deps_ok(self, deps_ok)
        _set_locks_ok(self, locks_ok)
        _set_started(self, started)
        _set_ended(self, ended)


(
    _set_tid, _set_ret, _set_shared, _set_excinfo, _set_deps_ok, _set_locks_ok, _set_started,
    _set_ended,
) = (Outcome.__dict__[name].__set__ for name in Outcome.__dataclass_fields__)  # fmt: skip
