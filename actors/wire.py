"""How task outcomes cross from a worker process to the scheduler's process.

Results travel with the standard :mod:`pickle` (the contract: what a task
returns or leaves in ``shared`` must be picklable). Exception type, value and traceback
are pickled one by one (tracebacks through tblib), so that whatever can cross
does, and whatever cannot arrives as ``None``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import mmap
import os
import pickle
import socket
import struct
from typing import Any

from pexen.vocab.results import ExceptionInfo

from .outcome import Outcome
from .taskrun import failure

__all__ = [
    "FrameReader",
    "OutcomeReader",
    "decode_head",
    "decode_outcome",
    "encode_outcome",
    "frame",
    "send_message",
]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_loads = pickle.loads

# The framing of multiprocessing.connection (the worker process's side uses a
# Connection): a signed 4-byte length, or -1 and an unsigned 8-byte length.
_SHORT = struct.Struct("!i")
_HEAD = _SHORT.size
_short_from = _SHORT.unpack_from
_read = os.read
_new_object = object.__new__
_set_attr = object.__setattr__  # past the frozen Outcome's own __setattr__
_LONG = struct.Struct("!Q")
_SHORT_MAX = 0x7FFFFFFF
_CHUNK = 1 << 16

#: An anonymous mapping whose pages are made at once, not one fault each as
#: they are first written (half the time of faulting 32 MB in, here).
_POPULATED = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)

#: What :meth:`FrameReader.read` returns: a small message's bytes, or a large
#: one's buffer (anything :func:`pickle.loads` reads).
Message = bytes | bytearray | mmap.mmap
#: Messages larger than this are read into a buffer of their own size.
_BIG = 1 << 20

_bytes_new: Any
_bytes_data: Any
try:  # the C API that makes a bytes object to be filled in (CPython)
    _capi = ctypes.PyDLL(None)  # our own handle: ctypes.pythonapi's types are everyone's
    _bytes_new = _capi.PyBytes_FromStringAndSize
    _bytes_new.restype = ctypes.py_object
    _bytes_new.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
    _bytes_data = _capi.PyBytes_AsString
    _bytes_data.restype = ctypes.c_void_p
    _bytes_data.argtypes = (ctypes.py_object,)
except (AttributeError, OSError):  # another interpreter: large bytes are copied once more
    _bytes_new = _bytes_data = None


def _unfilled_bytes(size: int) -> tuple[bytes, memoryview] | None:
    """A new ``bytes`` object of ``size`` bytes not yet filled in, and a
    writable view of its contents; ``None`` where that cannot be had.

    What C code does to build a bytes object (``PyBytes_FromStringAndSize``
    with no source): the object is filled in before anything else sees it,
    and its hash is computed only when first asked for, so it is a plain
    immutable ``bytes`` from then on. ``size`` must be over 1 (smaller ones
    are shared singletons).
    """
    if _bytes_new is None or _bytes_data is None or size < 2:
        return None
    obj = _bytes_new(None, size)
    contents = (ctypes.c_char * size).from_address(_bytes_data(obj))
    return obj, memoryview(contents).cast("B")


def frame(data: bytes) -> bytes:
    """``data`` with the header :meth:`Connection.recv_bytes` expects."""
    if len(data) > _SHORT_MAX:
        return _SHORT.pack(-1) + _LONG.pack(len(data)) + data
    return _SHORT.pack(len(data)) + data


def send_message(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` framed as :func:`frame` does, blocking until it is sent.

    A large message is sent after its header, not copied into one buffer
    with it (:meth:`Connection.send_bytes` does the same).
    """
    if len(data) <= _BIG:
        sock.sendall(frame(data))
        return
    size = len(data)
    sock.sendall(_SHORT.pack(-1) + _LONG.pack(size) if size > _SHORT_MAX else _SHORT.pack(size))
    sock.sendall(data)


class FrameReader:
    """Splits what one socket delivers into messages, without blocking.

    Each :meth:`read` is one system call on the socket (call it when the
    socket is readable): every message that arrived in full is returned, a
    partial one waits for the next call. One system call for any number of
    small messages, and no poll between them.

    A large message (over :data:`_BIG` bytes) is read straight into a buffer
    of its final size, which is returned as the message: each byte is copied
    once from the kernel, whatever the size, where growing a buffer chunk by
    chunk would copy it again at each growth. The buffer is an anonymous
    ``mmap`` whose pages the kernel makes at once, where a ``bytearray``
    would be zero-filled first and fault each page in (23 ms for 32 MB here,
    against 12 ms).

    With ``into_bytes``, a large message is read into a new ``bytes`` object
    instead (:func:`_unfilled_bytes`), for a reader that wants the message
    itself as ``bytes``: no copy after the read, and no second buffer of its
    size while it is made (a 256 MB return value took one 256 MB buffer, not
    two, and half the CPU time of reading into a mapping and copying that).
    """

    def __init__(self, fd: int, *, into_bytes: bool = False) -> None:
        self._fd = fd
        self._into_bytes = into_bytes
        self._buf = bytearray()  # small messages, and headers, not yet complete
        self._big: Message | None = None  # the body of a large message, filling
        self._view: memoryview | None = None  # the part of _big still to fill

    def read(self) -> list[Message] | None:
        """The messages complete so far; ``None`` once the peer has closed.

        Raises :class:`OSError` if the socket fails.
        """
        if self._view is not None:
            return self._fill()
        chunk = os.read(self._fd, _CHUNK)
        if not chunk:
            return None
        return self.feed(chunk)

    def feed(self, chunk: bytes) -> list[Message]:
        """The messages complete with ``chunk``, what :meth:`read` just read
        (for a reader that made that system call itself)."""
        buf = self._buf
        if not buf and len(chunk) > _SHORT.size:  # the common case: one whole message
            (size,) = _SHORT.unpack_from(chunk)
            if size == len(chunk) - _SHORT.size:
                return [chunk[_SHORT.size :]]
        buf += chunk
        messages: list[Message] = []
        start, end = 0, len(buf)
        view = memoryview(buf)
        try:
            while end - start >= _SHORT.size:
                (size,) = _SHORT.unpack_from(buf, start)
                header = _SHORT.size
                if size == -1:
                    if end - start < _SHORT.size + _LONG.size:
                        break
                    (size,) = _LONG.unpack_from(buf, start + _SHORT.size)
                    header += _LONG.size
                body = start + header
                if end - body >= size:
                    messages.append(bytes(view[body : body + size]))
                    start = body + size
                    continue
                if size > _BIG:  # read the rest of it in place
                    have = end - body
                    self._big, into = self._buffer(size)
                    into[:have] = view[body:end]
                    self._view = into[have:]
                    start = end
                break
        finally:
            view.release()
        del buf[:start]
        return messages

    def _buffer(self, size: int) -> tuple[Message, memoryview]:
        """A buffer for a large message, and a writable view of all of it."""
        if self._into_bytes and (made := _unfilled_bytes(size)) is not None:
            return made
        big = mmap.mmap(-1, size, flags=_POPULATED)
        return big, memoryview(big)

    def _fill(self) -> list[Message] | None:
        assert self._view is not None and self._big is not None
        got = os.readv(self._fd, [self._view])
        if not got:
            return None
        self._view = self._view[got:]
        if len(self._view):
            return []
        self._view.release()  # nothing writes into a finished bytes object
        message, self._big, self._view = self._big, None, None
        return [message]


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


def encode_outcome(outcome: Outcome, task: Any) -> tuple[bytes, ...]:
    """Worker process: the outcome as messages for the scheduler's process.

    One message, or two when the return value is ``bytes`` over :data:`_BIG`
    (the outcome, then the bytes themselves). A return value or shared dict
    that cannot be pickled turns the outcome into a failure with
    ``AttributeError("Can't pickle ...")`` naming the field; the picklable
    part of ``shared`` still crosses.
    """
    if outcome.excinfo is None:
        ret = outcome.ret
        raw = type(ret) is bytes and len(ret) > _BIG
        try:
            # raw: whether the return value follows on its own; then when it ran
            head = pickle.dumps(
                (
                    outcome.tid,
                    None if raw else ret,
                    outcome.shared,
                    None,
                    True,
                    True,
                    raw,
                    outcome.started,
                    outcome.ended,
                ),
                _PROTOCOL,
            )
            return (head, ret) if raw else (head,)
        except Exception as exc:
            problem = exc
        shared, bad = _picklable_part(outcome.shared)
        what = [f"shared[{', '.join(bad)}]"] if bad else []
        if not _picklable(outcome.ret):
            what.insert(0, "ret (the return value)")
        err = AttributeError(f"Can't pickle {' and '.join(what)} of task {task!r}: {problem}")
        outcome = dataclasses.replace(
            failure(outcome.tid, shared, err), started=outcome.started, ended=outcome.ended
        )
    else:
        shared, _ = _picklable_part(outcome.shared)
    fields = tuple(_dumps_or_none(f) for f in outcome.excinfo)  # type: ignore[union-attr]
    return (
        pickle.dumps(
            (
                outcome.tid,
                None,
                shared,
                fields,
                outcome.deps_ok,
                outcome.locks_ok,
                False,
                outcome.started,
                outcome.ended,
            ),
            _PROTOCOL,
        ),
    )


def decode_head(data: Message) -> tuple[Outcome, bool]:
    """The outcome in the first message :func:`encode_outcome` wrote, and
    whether its return value follows as a message of its own (``ret`` is
    ``None`` until then)."""
    return _decode_fields(pickle.loads(data))


def _decode_fields(head: tuple[Any, ...]) -> tuple[Outcome, bool]:
    tid, ret, shared, fields, deps_ok, locks_ok, raw, started, ended = head
    excinfo = None if fields is None else ExceptionInfo(*map(_loads_or_none, fields))
    return Outcome(tid, ret, shared, excinfo, deps_ok, locks_ok, started, ended), raw


def decode_outcome(messages: tuple[bytes, ...]) -> Outcome:
    """The :class:`Outcome` :func:`encode_outcome` encoded as ``messages``, all at hand."""
    outcome, raw = decode_head(messages[0])
    return dataclasses.replace(outcome, ret=messages[1]) if raw else outcome


class OutcomeReader:
    """Scheduler's process: the outcomes one worker process sends, as they arrive.

    Reads with a :class:`FrameReader` (the same contract: call :meth:`read`
    when the socket is readable) and decodes what :func:`encode_outcome`
    wrote, keeping an outcome whose return value is still on its way. A
    large return value is read straight into the ``bytes`` object it
    becomes.
    """

    def __init__(self, fd: int) -> None:
        self._frames = FrameReader(fd, into_bytes=True)
        self._waiting: Outcome | None = None  # for its raw return value

    def read(self) -> list[Outcome] | None:
        """The outcomes complete so far; ``None`` once the peer has closed.

        Raises :class:`OSError` if the socket fails.
        """
        frames = self._frames
        if frames._view is None and not frames._buf and self._waiting is None:
            # FrameReader.read() and the loop below, inlined for what comes
            # once per task: one whole message, of a task that returned
            chunk = _read(frames._fd, _CHUNK)
            if not chunk:
                return None
            if len(chunk) > _HEAD:
                (size,) = _short_from(chunk)
                if size == len(chunk) - _HEAD:
                    fields = _loads(chunk[_HEAD:])
                    if fields[3] is None and not fields[6]:
                        tid, ret, shared, _, deps_ok, locks_ok, _, started, ended = fields
                        # Outcome(...), without its Python-level __init__
                        outcome = _new_object(Outcome)
                        _set_attr(
                            outcome,
                            "__dict__",
                            {
                                "tid": tid,
                                "ret": ret,
                                "shared": shared,
                                "excinfo": None,
                                "deps_ok": deps_ok,
                                "locks_ok": locks_ok,
                                "started": started,
                                "ended": ended,
                            },
                        )
                        return [outcome]
            messages: list[Message] | None = frames.feed(chunk)
        else:
            messages = frames.read()
        if messages is None:
            return None
        outcomes = []
        for data in messages:
            waiting = self._waiting
            if waiting is not None:
                self._waiting = None
                ret = data if type(data) is bytes else bytes(data)
                outcomes.append(dataclasses.replace(waiting, ret=ret))
                if isinstance(data, mmap.mmap):
                    data.close()
                continue
            fields = _loads(data)
            if fields[3] is None and not fields[6]:  # decode_head() of a task that returned
                tid, ret, shared, _, deps_ok, locks_ok, _, started, ended = fields
                outcomes.append(Outcome(tid, ret, shared, None, deps_ok, locks_ok, started, ended))
                continue
            outcome, raw = _decode_fields(fields)
            if raw:
                self._waiting = outcome
            else:
                outcomes.append(outcome)
        return outcomes
