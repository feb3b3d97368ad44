"""How task outcomes cross from a worker process to the scheduler's process.

Results travel with the standard :mod:`pickle` (the contract: what a task
returns or leaves in ``shared`` must be picklable). Exception type, value and traceback
are pickled one by one (tracebacks through tblib), so that whatever can cross
does, and whatever cannot arrives as ``None``.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

from pexen.vocab.results import ExceptionInfo

from .messages import Outcome
from .taskrun import failure

__all__ = ["FrameReader", "decode_outcome", "encode_outcome", "frame"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL

# The framing of multiprocessing.connection (the worker process's side uses a
# Connection): a signed 4-byte length, or -1 and an unsigned 8-byte length.
_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")
_SHORT_MAX = 0x7FFFFFFF
_CHUNK = 1 << 16


def frame(data: bytes) -> bytes:
    """``data`` with the header :meth:`Connection.recv_bytes` expects."""
    if len(data) > _SHORT_MAX:
        return _SHORT.pack(-1) + _LONG.pack(len(data)) + data
    return _SHORT.pack(len(data)) + data


class FrameReader:
    """Splits what one socket delivers into messages, without blocking.

    Each :meth:`read` is one ``read()`` of what the socket holds now (call it
    when the socket is readable): every message that arrived in full is
    returned, a partial one waits for the next call. One system call for any
    number of messages, and no poll between them.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = bytearray()
        self._need = _SHORT.size  # bytes the next message needs, header included

    def read(self) -> list[bytes] | None:
        """The messages complete so far; ``None`` once the peer has closed.

        Raises :class:`OSError` if the socket fails.
        """
        chunk = os.read(self._fd, max(_CHUNK, self._need - len(self._buf)))
        if not chunk:
            return None
        buf = self._buf
        buf += chunk
        messages = []
        start, end = 0, len(buf)
        while end - start >= _SHORT.size:
            (size,) = _SHORT.unpack_from(buf, start)
            header = _SHORT.size
            if size == -1:
                if end - start < _SHORT.size + _LONG.size:
                    break
                (size,) = _LONG.unpack_from(buf, start + _SHORT.size)
                header += _LONG.size
            if end - start < header + size:
                self._need = header + size
                break
            messages.append(bytes(buf[start + header : start + header + size]))
            start += header + size
        else:
            self._need = _SHORT.size
        del buf[:start]
        return messages


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
