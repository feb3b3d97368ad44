"""How task outcomes cross from a worker process to the scheduler's process.

Results travel with the standard :mod:`pickle` (SPEC: what a task returns or
leaves in ``shared`` must be picklable). Exception type, value and traceback
are pickled one by one (tracebacks through tblib), so that whatever can cross
does, and whatever cannot arrives as ``None``.
"""

from __future__ import annotations

import pickle
from typing import Any

from pexen.sched.common import ExceptionInfo

from .messages import Outcome
from .taskrun import failure

__all__ = ["decode_outcome", "encode_outcome"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _dumps_or_none(obj: Any) -> bytes | None:
    if obj is None:
        return None
    try:
        return pickle.dumps(obj, _PROTOCOL)
    except Exception:
        return None


def _picklable(obj: Any) -> bool:
    try:
        pickle.dumps(obj, _PROTOCOL)
    except Exception:
        return False
    return True


def _loads_or_none(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return pickle.loads(data)
    except Exception:
        return None


def _picklable_part(shared: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The items of ``shared`` that pickle, and the keys of those that don't."""
    good, bad = {}, []
    for key, value in shared.items():
        if _picklable((key, value)):
            good[key] = value
        else:
            bad.append(repr(key))
    return good, bad


def encode_outcome(outcome: Outcome, task: Any) -> bytes:
    """Worker process: the outcome as bytes for the scheduler's process.

    A return value or shared dict that cannot be pickled turns the outcome
    into a failure with ``AttributeError("Can't pickle ...")`` naming the
    field; the picklable part of ``shared`` still crosses.
    """
    if outcome.excinfo is None:
        try:
            return pickle.dumps(
                (outcome.tid, outcome.ret, outcome.shared, None, True, True), _PROTOCOL
            )
        except Exception as exc:
            problem = exc
        shared, bad = _picklable_part(outcome.shared)
        what = [f"shared[{', '.join(bad)}]"] if bad else []
        if not _picklable(outcome.ret):
            what.insert(0, "ret (the return value)")
        err = AttributeError(f"Can't pickle {' and '.join(what)} of task {task!r}: {problem}")
        outcome = failure(outcome.tid, shared, err)
    else:
        shared, _ = _picklable_part(outcome.shared)
    fields = tuple(_dumps_or_none(f) for f in outcome.excinfo)  # type: ignore[union-attr]
    return pickle.dumps(
        (outcome.tid, None, shared, fields, outcome.deps_ok, outcome.locks_ok), _PROTOCOL
    )


def decode_outcome(data: bytes) -> Outcome:
    """Scheduler's process: the outcome from :func:`encode_outcome`'s bytes."""
    tid, ret, shared, fields, deps_ok, locks_ok = pickle.loads(data)
    excinfo = None if fields is None else ExceptionInfo(*map(_loads_or_none, fields))
    return Outcome(tid, ret, shared, excinfo, deps_ok, locks_ok)
