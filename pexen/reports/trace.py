"""A run's timeline as Chrome trace-event JSON (Perfetto, chrome://tracing)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pexen.vocab.events import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskEvent,
    TaskLockWait,
    TaskSkipped,
    TaskUnblocked,
)
from pexen.vocab.results import TaskRes

from ._files import write_atomically
from .naming import task_name

__all__ = ["TraceReport"]

#: the process id of the run in the trace (one run per file)
PID = 1


@dataclass(slots=True)
class _Slice:
    worker: int
    started: float
    ended: float
    failed: bool
    error: str | None = None


class TraceReport(RunObserver):
    """Writes a run's timeline to ``path`` as it ends.

    Chrome trace-event JSON (``{"traceEvents": [...]}``, microseconds from
    the run's start), which Perfetto (ui.perfetto.dev) and chrome://tracing
    open:

    - one track (``tid``) per worker, named ``worker N`` (``"M"`` metadata
      events), and the run as the process (``pid`` 1);
    - one complete event (``"ph": "X"``) per task that ran, named by
      :func:`~pexen.reports.task_name`, on its worker's track, from when it
      started to when it ended as its worker measured them; its ``args`` say
      whether it failed, and with what;
    - a flow arrow (``"s"`` then ``"f"``, one id per edge) from each provider
      to each task whose requirement its end met;
    - each wait for locks as a slice of its own on the ``lock waits`` track,
      as an async event (``"b"``/``"e"``) so that waits at the same time
      stack instead of overlapping;
    - each task that could not run as an instant event (``"i"``) at the
      run's end on the ``skipped`` track, with its cause.

    Written at the run's end (a cancelled or interrupted run too), through a
    temporary file and a rename.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._t0 = 0.0
        self._workers = 0
        self._pool = ""
        self._slices: dict[Any, _Slice] = {}
        self._edges: list[tuple[Any, Any]] = []
        self._waits: list[TaskLockWait] = []
        self._skips: list[TaskSkipped] = []

    def run_started(self, run: RunStarted) -> None:
        self._t0, self._workers, self._pool = run.at, run.workers, run.pool
        self._slices, self._edges, self._waits, self._skips = {}, [], [], []

    def task_event(self, event: TaskEvent) -> None:
        kind = type(event)
        if kind is TaskEnded:
            assert isinstance(event, TaskEnded)
            self._slices[event.task] = _Slice(
                event.worker, event.started, event.ended, event.failed
            )
        elif kind is TaskUnblocked:
            assert isinstance(event, TaskUnblocked)
            self._edges.append((event.provider, event.task))
        elif kind is TaskLockWait:
            assert isinstance(event, TaskLockWait)
            self._waits.append(event)
        elif kind is TaskSkipped:
            assert isinstance(event, TaskSkipped)
            self._skips.append(event)

    def task_result(self, result: TaskRes) -> None:
        info = result.excinfo
        piece = self._slices.get(result.task)
        if piece is not None and info is not None:
            kind = getattr(info.type, "__name__", "an exception")
            piece.error = f"{kind}: {info.val}" if info.val is not None else kind

    def run_ended(self, run: RunFinished) -> None:
        data = json.dumps(self.to_dict(run.at), separators=(",", ":"), default=repr)
        write_atomically(self.path, data.encode())

    def _ns(self, t: float) -> int:
        return round((t - self._t0) * 1e9)

    def _us(self, t: float) -> float:
        """Microseconds since the run's start, to the nanosecond."""
        return self._ns(t) / 1000

    def to_dict(self, end: float | None = None) -> dict[str, Any]:
        """The trace as it stands (``end``: when the run ended)."""
        events: list[dict[str, Any]] = []
        workers = max([self._workers, *(s.worker + 1 for s in self._slices.values())])
        locks_tid, skipped_tid = workers, workers + 1
        meta: list[tuple[int, int | None, str, str]] = [
            (PID, None, "process_name", f"pexen run ({self._pool or 'unknown'} pool)")
        ]
        meta += [(PID, i, "thread_name", f"worker {i}") for i in range(workers)]
        meta.append((PID, locks_tid, "thread_name", "lock waits"))
        meta.append((PID, skipped_tid, "thread_name", "skipped"))
        for pid, tid, what, name in meta:
            event: dict[str, Any] = {"ph": "M", "pid": pid, "name": what, "args": {"name": name}}
            if tid is not None:
                event["tid"] = tid
            events.append(event)
        for i in range(workers + 2):
            events.append(
                {
                    "ph": "M",
                    "pid": PID,
                    "tid": i,
                    "name": "thread_sort_index",
                    "args": {"sort_index": i},
                }
            )
        ts: dict[Any, tuple[float, float]] = {}
        for task, piece in self._slices.items():
            # whole nanoseconds first, so that one slice's end is never after
            # the next one's start by a rounding
            start_ns, end_ns = self._ns(piece.started), self._ns(piece.ended)
            start, dur = start_ns / 1000, (end_ns - start_ns) / 1000
            ts[task] = (start, dur)
            args: dict[str, Any] = {"failed": piece.failed}
            if piece.error is not None:
                args["error"] = piece.error
            events.append({
                "ph": "X", "pid": PID, "tid": piece.worker, "name": task_name(task),
                "cat": "task", "ts": start, "dur": dur, "args": args,
            })  # fmt: skip
        for flow, (provider, task) in enumerate(self._edges, start=1):
            if provider not in ts or task not in ts:
                continue  # one of them did not run (the run was interrupted)
            (p_start, p_dur), (t_start, t_dur) = ts[provider], ts[task]
            # inside each slice (a flow binds to the slice enclosing it): the
            # provider's end, the requirer's start
            events.append({
                "ph": "s", "pid": PID, "tid": self._slices[provider].worker, "id": flow,
                "name": "unblocks", "cat": "dependency", "ts": _inside(p_start, p_dur, 0.999),
            })  # fmt: skip
            events.append({
                "ph": "f", "bp": "e", "pid": PID, "tid": self._slices[task].worker, "id": flow,
                "name": "unblocks", "cat": "dependency", "ts": _inside(t_start, t_dur, 0.001),
            })  # fmt: skip
        for n, wait in enumerate(self._waits, start=1):
            name = f"{task_name(wait.task)} waits for " + ", ".join(
                sorted(map(str, wait.resources))
            )
            common = {"pid": PID, "tid": locks_tid, "cat": "lock", "id": n, "name": name}
            events.append({**common, "ph": "b", "ts": self._us(wait.since)})
            events.append({**common, "ph": "e", "ts": self._us(wait.until)})
        at = self._us(end) if end is not None else 0.0
        for skip in self._skips:
            events.append({
                "ph": "i", "s": "t", "pid": PID, "tid": skipped_tid, "ts": at, "cat": "skipped",
                "name": task_name(skip.task), "args": {"cause": skip.cause},
            })  # fmt: skip
        return {"traceEvents": events, "displayTimeUnit": "ms"}


def _inside(start: float, dur: float, fraction: float) -> float:
    return round(start + dur * fraction, 3)
