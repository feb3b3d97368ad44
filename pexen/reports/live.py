"""The live display of a run: what runs now, how far the run is, what failed.

:class:`LiveDisplay` is a run observer (pass it to ``Sched.run(...,
observers=[...])``): it is fed with the run's events and results. On a terminal
(as rich decides it: ``isatty``, ``TTY_COMPATIBLE``, ``FORCE_COLOR``,
``TERM=dumb``) it shows a rich ``Live`` display: the tasks running now and
for how long, a bar with the counts of passed, failed and skipped tasks and
an estimate of the time left; failures are printed above it as they come.
Elsewhere (a CI log, a pipe) it prints one plain line per finished task and
no control characters. Either way the run ends with a summary: the counts,
every failure and skip with its callpath, and the wall time.
"""

from __future__ import annotations

import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pexen.sched import TaskFailError, TaskRes, TaskTimeoutError, WorkerLostError
from pexen.vocab.events import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskEvent,
    TasksAdded,
    TaskSkipped,
)

from .naming import task_name

__all__ = ["Finished", "LiveDisplay", "outcome"]

#: the most running tasks the display lists (the longest running first)
MAX_ROWS = 12

#: how each outcome is shown
STYLES = {
    "PASSED": "green",
    "FAILED": "red",
    "TIMEOUT": "red",
    "CRASHED": "red",
    "SKIPPED": "yellow",
}


def outcome(res: TaskRes) -> str:
    """``PASSED``, ``FAILED`` (it raised), ``TIMEOUT`` or ``CRASHED`` (its worker died)."""
    if res.excinfo is None:
        return "PASSED"
    if res.excinfo.type is not None and issubclass(res.excinfo.type, TaskTimeoutError):
        return "TIMEOUT"
    if res.excinfo.type is not None and issubclass(res.excinfo.type, WorkerLostError):
        return "CRASHED"
    return "FAILED"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _message(res: TaskRes) -> str:
    """The failure of ``res`` in one line: ``Type: message``."""
    exc = res.excinfo
    name = exc.type.__name__ if exc.type is not None else "Exception"
    if (
        isinstance(exc.val, TaskFailError)
        and exc.val.args
        and isinstance(exc.val.args[0], BaseException)
    ):  # a wrapped exception says more than its wrapper
        inner = exc.val.args[0]
        text = f"{name}: {type(inner).__name__}: {inner}"
    else:
        text = f"{name}: {exc.val}" if exc.val is not None else name
    # the scheduler's messages name the task by its repr: the display, by its name
    return _one_line(text.replace(f"task {res.task!r}", f"task {task_name(res.task)}"))


def _details(res: TaskRes) -> str:
    """The traceback of a failure, and a failed script's output."""
    exc = res.excinfo
    parts = []
    if exc.val is not None:
        parts.append("".join(traceback.format_exception(exc.type, exc.val, exc.tb)).rstrip())
    if isinstance(exc.val, subprocess.CalledProcessError) and exc.val.output:
        out = exc.val.output
        parts.append("output:\n" + (out if isinstance(out, str) else out.decode(errors="replace")))
    return "\n".join(parts)


@dataclass(frozen=True)
class Finished:
    """A task as the summary tells it: status, name, one-line message, details."""

    status: str
    name: str
    message: str = ""
    details: str = ""
    duration: float | None = None


class LiveDisplay(RunObserver):
    """The live display of a run, and its summary: a run observer.

    ``console``: where to draw (default: a rich ``Console`` on stdout);
    ``verbosity``: ``-1`` only the summary, ``0`` the default, ``1`` also a
    line per passed task on a terminal and each failure's traceback in the
    summary; ``status``: the run's :meth:`~pexen.sched.Sched.status`, which
    the display polls for the tasks running now (a task's start reaches
    observers only with its end).

    Before the run ends, :attr:`notes` may get lines for the summary and
    :attr:`interrupted` be set (the summary then says the run was
    interrupted rather than cancelled).
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        verbosity: int = 0,
        status: Callable[[], Any] | None = None,
    ) -> None:
        self.console = console or Console()
        self.verbosity = verbosity
        self.live_mode = self.console.is_interactive and verbosity >= 0
        self.finished: list[Finished] = []
        self.counts = {"PASSED": 0, "FAILED": 0, "SKIPPED": 0}
        self.total = 0
        self.notes: list[str] = []
        self.interrupted = False
        self.ended: RunFinished | None = None
        self._status = status
        self._durations: dict[Any, float] = {}
        self._t0 = time.monotonic()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._bar = self._progress.add_task("running", total=None, counts="")
        self._live: Live | None = None

    # -- the observer --------------------------------------------------------

    def run_started(self, run: RunStarted) -> None:
        self._t0 = run.at
        self.total = len(run.tasks)
        self._progress.update(self._bar, total=self.total, counts=self._counts_text())
        if self.live_mode:
            # what tasks in this process print (a thread pool's) goes above the display
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def task_event(self, event: TaskEvent) -> None:
        kind = type(event)
        if kind is TaskEnded:
            assert isinstance(event, TaskEnded)
            self._durations[event.task] = max(0.0, event.ended - event.started)
        elif kind is TaskSkipped:
            assert isinstance(event, TaskSkipped)
            if event.interrupted:
                return  # left over by a cancelled run: counted as not run
            self.counts["SKIPPED"] += 1
            self._record(Finished("SKIPPED", task_name(event.task), _one_line(event.cause)))
        elif kind is TasksAdded:
            assert isinstance(event, TasksAdded)
            self.total += len(event.tasks)
            self._progress.update(self._bar, total=self.total)

    def task_result(self, result: TaskRes) -> None:
        duration = self._durations.pop(result.task, None)
        status = outcome(result)
        name = task_name(result.task)
        if status == "PASSED":
            item = Finished(status, name, duration=duration)
        else:
            item = Finished(status, name, _message(result), _details(result), duration)
        self.counts["PASSED" if status == "PASSED" else "FAILED"] += 1
        self._record(item)

    def run_ended(self, run: RunFinished) -> None:
        """Stop the live display; print the summary."""
        self.ended = run
        if self._live is not None:
            self._live.stop()
            self._live = None
        stopped = run.cancelled or run.error is not None
        self._summary(run.at - self._t0, stopped, self.total - len(self.finished))

    # -- drawing -----------------------------------------------------------

    def _counts_text(self) -> str:
        c = self.counts
        return f"{c['PASSED']} passed, {c['FAILED']} failed, {c['SKIPPED']} skipped"

    def _record(self, item: Finished) -> None:
        self.finished.append(item)
        self._progress.update(self._bar, advance=1, counts=self._counts_text())
        if self.verbosity < 0:
            return
        if self.live_mode and item.status == "PASSED" and self.verbosity < 1:
            return  # counted in the bar; a terminal shows passes with -v
        self._line(item)

    def _line(self, item: Finished) -> None:
        line = Text()
        line.append(f"{item.status:<8}", style=STYLES.get(item.status, ""))
        line.append(item.name)
        if item.duration is not None:
            line.append(f" ({item.duration:.2f}s)", style="dim")
        if item.message:
            line.append(f"  {item.message}")
        if self.live_mode:  # one screen line each above the display: the summary has it all
            self.console.print(line, no_wrap=True, overflow="ellipsis", highlight=False)
        else:  # a log: whole lines, however long
            self.console.print(line, soft_wrap=True, highlight=False)

    def _running_now(self) -> list[tuple[Any, int, float]]:
        if self._status is None:
            return []
        status = self._status()  # safe from any thread, rich's refresh thread here
        return [(r.task, r.worker, r.started) for r in status.running if r.started is not None]

    def __rich__(self) -> RenderableType:
        """What the live display shows now: the running tasks, and the bar
        (drawn again at each refresh, from rich's refresh thread)."""
        now = time.monotonic()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="cyan", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        running = sorted(self._running_now(), key=lambda r: r[2])  # the longest first
        shown = max(1, min(MAX_ROWS, self.console.height - 4))
        for task, worker, at in running[:shown]:
            table.add_row(f"worker {worker}", task_name(task), f"{now - at:.1f}s")
        if len(running) > shown:
            table.add_row("", f"... and {len(running) - shown} more running", "")
        return Group(table, self._progress)

    def _summary(self, wall: float, stopped: bool, not_run: int) -> None:
        c = self.counts
        parts = [f"{c['PASSED']} passed"]
        if c["FAILED"]:
            parts.append(f"{c['FAILED']} failed")
        if c["SKIPPED"]:
            parts.append(f"{c['SKIPPED']} skipped")
        if not_run:
            parts.append(f"{not_run} not run")
        head = "interrupted: " if self.interrupted else "cancelled: " if stopped else ""
        text = f"{head}{self.total} tasks: {', '.join(parts)} in {wall:.2f}s"
        bad = [item for item in self.finished if item.status != "PASSED"]
        style = "red" if bad or stopped else "green"
        for item in bad:
            if item.details and self.verbosity >= 1:
                self.console.print(
                    Text(f"--- {item.status} {item.name}", style=style), soft_wrap=True
                )
                self.console.print(Text(item.details), soft_wrap=True, highlight=False)
        if bad:
            self.console.print(Text("failures and skips:", style="bold"), soft_wrap=True)
            for item in bad:
                line = Text("  ")
                line.append(f"{item.status:<8}", style=STYLES.get(item.status, ""))
                line.append(item.name)
                if item.message:
                    line.append(f"  {item.message}")
                self.console.print(line, soft_wrap=True, highlight=False)
        for note in self.notes:
            self.console.print(note, soft_wrap=True, highlight=False, markup=False)
        self.console.print(Text(f"== {text} ==", style=f"bold {style}"), soft_wrap=True)
