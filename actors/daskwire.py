"""What runs on a dask cluster worker for the dask pool, and how its outcomes come back.

A *unit* (one cluster task) is :func:`run_unit` with the cloudpickled list
of its tasks; it returns each task's outcome as
:func:`actors.wire.encode_outcome` encodes a worker process's, which
:func:`decode_outcome` reads in the scheduling process. pexen must be
importable on the cluster's workers (this module is sent by reference).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from types import CodeType
from typing import Any

import cloudpickle

from pexen.state.taskspec import TaskSpec
from pexen.vocab.results import ExceptionInfo

from .taskrun import run_task
from .wire import decode_outcome, encode_outcome

__all__ = ["decode_outcome", "end_worker_process", "filename_of", "run_unit"]

_DYNAMIC = "<dynamic-code>"


def run_unit(blob: bytes) -> list[tuple[bytes, ...]]:
    """Cluster worker: run the tasks of one unit in order; their encoded outcomes.

    ``blob`` is the cloudpickled list of ``(spec, shared)``; each outcome is
    what :func:`actors.wire.encode_outcome` makes of it (tracebacks through
    tblib), as for a worker process.
    """
    from tblib import pickling_support

    pickling_support.install()
    items: list[tuple[TaskSpec, dict[str, Any], str | None]] = cloudpickle.loads(blob)
    out = []
    for spec, shared, filename in items:
        if filename is not None:
            _restore_filename(spec.func, filename)
        outcome = run_task(spec, shared)
        messages = encode_outcome(outcome, spec.func)
        if outcome.excinfo is not None:
            messages = _with_dynamic_classes(messages, outcome.excinfo)
        out.append(messages)
    return out


def _with_dynamic_classes(messages: tuple[bytes, ...], excinfo: ExceptionInfo) -> tuple[bytes, ...]:
    """A failure's messages, with what :mod:`pickle` could not send sent by cloudpickle.

    An exception class defined in the caller's ``__main__`` came here by
    value; pickle cannot name it on the way back (this ``__main__`` is
    dask's), cloudpickle can, and the caller gets its own class back.
    """
    head = pickle.loads(messages[0])
    fields = head[3]
    if fields is None or all(
        f is not None for f, v in zip(fields, excinfo, strict=True) if v is not None
    ):
        return messages
    again = []
    for data, value in zip(fields, excinfo, strict=True):
        if data is None and value is not None:
            with contextlib.suppress(Exception):
                data = cloudpickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        again.append(data)
    return (pickle.dumps((*head[:3], tuple(again), *head[4:]), pickle.HIGHEST_PROTOCOL),)


def _restore_filename(func: Any, filename: str) -> None:
    """Give a function cloudpickle sent by value its file back, for tracebacks.

    cloudpickle names the file of such code ``<dynamic-code>``; a traceback
    then shows neither the file nor its lines.
    """
    code = getattr(func, "__code__", None)
    if isinstance(code, CodeType) and code.co_filename == _DYNAMIC:
        with contextlib.suppress(Exception):
            func.__code__ = _renamed(code, filename)


def _renamed(code: CodeType, filename: str) -> CodeType:
    consts = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def filename_of(func: Any) -> str | None:
    """The file of ``func``'s code, sent along so that :func:`run_unit` restores it."""
    code = getattr(func, "__code__", None)
    return code.co_filename if isinstance(code, CodeType) else None


async def end_worker_process() -> None:
    """Cluster worker: end this worker's process now (its nanny starts another).

    A coroutine: dask runs only those without waiting for an answer, and
    this one never answers.
    """
    os._exit(1)
