"""A run's timeline as Chrome trace-event JSON (Perfetto, chrome://tracing)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, cast

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

#: Worker ``i`` is thread ``i + TID0`` of the trace: Perfetto takes thread
#: (and process) id 0 for the kernel's idle task.
TID0 = 1


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

    - the run as the process (``pid``: the scheduler's), one thread track per
      worker, named ``worker N`` (``"M"`` metadata events; worker ``N`` is
      ``tid`` ``N + 1``, since Perfetto takes id 0 for the idle task);
    - one complete event (``"ph": "X"``) per task that ran, named by
      :func:`~pexen.reports.task_name`, on its worker's track, from when it
      started to when it ended as its worker measured them; a task that
      failed has ``args`` saying with what (``{"failed": true, "error":
      "ValueError: ..."}``);
    - a flow arrow (``"s"`` then ``"f"``, one id per edge) from each provider
      to each task whose requirement its end met;
    - each wait for locks as a slice of its own named ``lock wait`` (its
      ``args``: the task, the resources), an async event (``"b"``/``"e"``,
      one id each): viewers put waits at the same time on rows of their own
      under the run, where slices on one thread track would overlap;
    - each task that could not run as an instant event (``"i"``) at the
      run's end on the ``skipped`` track, with its cause.

    Written at the run's end (a cancelled or interrupted run too), through a
    temporary file and a rename.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._t0 = 0.0
        self._workers = 0
        self._pid = os.getpid()  # the run: the scheduler's process
        self._pool = ""
        self._slices: dict[Any, _Slice] = {}
        self._edges: list[tuple[Any, Any]] = []
        self._waits: list[TaskLockWait] = []
        self._skips: list[TaskSkipped] = []

    def run_started(self, run: RunStarted) -> None:
        self._t0, self._workers, self._pool = run.at, run.workers, run.pool
        self._pid = os.getpid()
        self._slices, self._edges, self._waits, self._skips = {}, [], [], []

    def task_event(self, event: TaskEvent) -> None:
        kind = type(event)
        if kind is TaskEnded:
            ended = cast(TaskEnded, event)
            self._slices[ended.task] = _Slice(
                ended.worker, ended.started, ended.ended, ended.failed
            )
        elif kind is TaskUnblocked:
            edge = cast(TaskUnblocked, event)
            self._edges.append((edge.provider, edge.task))
        elif kind is TaskLockWait:
            self._waits.append(cast(TaskLockWait, event))
        elif kind is TaskSkipped:
            self._skips.append(cast(TaskSkipped, event))

    def task_result(self, result: TaskRes) -> None:
        info = result.excinfo
        piece = self._slices.get(result.task)
        if piece is not None and info is not None:
            kind = getattr(info.type, "__name__", "an exception")
            piece.error = f"{kind}: {info.val}" if info.val is not None else kind

    def run_ended(self, run: RunFinished) -> None:
        trace = self.to_dict(run.at)
        data = json.dumps(trace, separators=(",", ":"), default=repr, check_circular=False)
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
        pid = self._pid
        locks_tid, skipped_tid = workers + TID0, workers + TID0 + 1
        meta: list[tuple[int, int | None, str, str]] = [
            (pid, None, "process_name", f"pexen run ({self._pool or 'unknown'} pool)")
        ]
        meta += [(pid, i + TID0, "thread_name", f"worker {i}") for i in range(workers)]
        meta.append((pid, locks_tid, "thread_name", "lock waits"))
        meta.append((pid, skipped_tid, "thread_name", "skipped"))
        for pid, tid, what, name in meta:
            event: dict[str, Any] = {
                "ph": "M",
                "ts": 0,
                "pid": pid,
                "name": what,
                "args": {"name": name},
            }
            if tid is not None:
                event["tid"] = tid
            events.append(event)
        for i in range(TID0, workers + TID0 + 2):
            events.append(
                {
                    "ph": "M",
                    "ts": 0,
                    "pid": pid,
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
            x = {
                "ph": "X", "pid": pid, "tid": piece.worker + TID0, "name": task_name(task),
                "cat": "task", "ts": start, "dur": dur,
            }  # fmt: skip
            if piece.failed:  # only then: an args dict per task costs a third of the file
                x["args"] = {"failed": True, "error": piece.error or "(no result taken)"}
            events.append(x)
        for flow, (provider, task) in enumerate(self._edges, start=1):
            if provider not in ts or task not in ts:
                continue  # one of them did not run (the run was interrupted)
            (p_start, p_dur), (t_start, t_dur) = ts[provider], ts[task]
            # inside each slice (a flow binds to the slice enclosing it): the
            # provider's end, the requirer's start
            src, dst = self._slices[provider].worker + TID0, self._slices[task].worker + TID0
            events.append({
                "ph": "s", "pid": pid, "tid": src, "id": flow, "name": "unblocks",
                "cat": "dependency", "ts": _inside(p_start, p_dur, 0.999),
            })  # fmt: skip
            events.append({
                "ph": "f", "bp": "e", "pid": pid, "tid": dst, "id": flow, "name": "unblocks",
                "cat": "dependency", "ts": _inside(t_start, t_dur, 0.001),
            })  # fmt: skip
        for n, wait in enumerate(self._waits, start=1):
            # one name for all: viewers group async slices by name, one row each
            common = {"pid": pid, "tid": locks_tid, "cat": "lock", "id": n, "name": "lock wait"}
            args = {"task": task_name(wait.task), "resources": sorted(map(str, wait.resources))}
            events.append({**common, "ph": "b", "ts": self._us(wait.since), "args": args})
            events.append({**common, "ph": "e", "ts": self._us(wait.until)})
        at = self._us(end) if end is not None else 0.0
        for skip in self._skips:
            events.append({
                "ph": "i", "s": "t", "pid": pid, "tid": skipped_tid, "ts": at, "cat": "skipped",
                "name": task_name(skip.task), "args": {"cause": skip.cause},
            })  # fmt: skip
        return {"traceEvents": events, "displayTimeUnit": "ms"}


def _inside(start: float, dur: float, fraction: float) -> float:
    return round(start + dur * fraction, 3)
