"""JUnit XML of a run: one test case per task, as CI servers read it."""

from __future__ import annotations

import os
import socket
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pexen.vocab.errors import TaskTimeoutError, WorkerLostError
from pexen.vocab.events import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskEvent,
    TasksAdded,
    TaskSkipped,
)
from pexen.vocab.results import TaskRes

from ._files import write_atomically
from .naming import junit_names

__all__ = ["JUnitReport"]

#: exceptions that are the run's trouble, not the task's assertion: ``error``
_ERRORS = (WorkerLostError, TaskTimeoutError)


@dataclass(slots=True)
class _Case:
    time: float = 0.0
    result: TaskRes | None = None
    skipped: str | None = None


class JUnitReport(RunObserver):
    """Writes a run's JUnit XML to ``path`` as the run ends.

    One ``testcase`` per task of the run, in the order tasks were added:
    ``classname`` and ``name`` from its callpath (the parents joined with
    ``.``, and the last part) or, for a task no factory collected, its module
    and qualified name; ``time`` in seconds, as its worker measured it. A
    task that raised has a ``failure`` (message, type, traceback), one whose
    worker was lost or that timed out an ``error``, one that could not run
    ``skipped`` with the cause (which requirement failed, which lock was
    never released). A task that neither ran nor was skipped by the
    scheduler (the run was interrupted first) is ``skipped`` too. The suite
    carries the totals.

    Written at the run's end, also when it was cancelled or interrupted (a
    partial report), through a temporary file and a rename: the file is
    whole or not there. Usable for one run at a time; a later run writes
    the file anew.
    """

    def __init__(self, path: str | os.PathLike[str], *, suite: str = "pexen") -> None:
        self.path = path
        self.suite = suite
        self._cases: dict[Any, _Case] = {}
        self._started = 0.0
        self._stamp = ""

    def run_started(self, run: RunStarted) -> None:
        self._cases = {task: _Case() for task in run.tasks}
        self._started = run.at
        self._stamp = datetime.now(UTC).isoformat(timespec="seconds")

    def task_event(self, event: TaskEvent) -> None:
        kind = type(event)
        if kind is TaskEnded:
            assert isinstance(event, TaskEnded)
            self._case(event.task).time = max(0.0, event.ended - event.started)
        elif kind is TaskSkipped:
            assert isinstance(event, TaskSkipped)
            self._case(event.task).skipped = event.cause
        elif kind is TasksAdded:
            assert isinstance(event, TasksAdded)
            for task in event.tasks:
                self._case(task)

    def task_result(self, result: TaskRes) -> None:
        self._case(result.task).result = result

    def run_ended(self, run: RunFinished) -> None:
        wall = max(0.0, run.at - self._started) if self._started else 0.0
        write_atomically(
            self.path, self.to_xml(wall, interrupted=run.cancelled or run.error is not None)
        )

    def _case(self, task: Any) -> _Case:
        case = self._cases.get(task)
        if case is None:
            case = self._cases[task] = _Case()
        return case

    def to_xml(self, wall: float = 0.0, interrupted: bool = False) -> bytes:
        """The report as it stands, as XML bytes (``wall``: the suite's time)."""
        suite = ET.Element("testsuite", name=self.suite)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        total = 0.0
        for task, case in self._cases.items():
            classname, name = junit_names(task)
            elem = ET.SubElement(
                suite, "testcase", classname=classname, name=name, time=_seconds(case.time)
            )
            counts["tests"] += 1
            total += case.time
            res = case.result
            if res is not None and res.excinfo is not None:
                kind = "error" if _is_error(res.excinfo.type) else "failure"
                counts["failures" if kind == "failure" else "errors"] += 1
                _problem(elem, kind, res.excinfo)
            elif res is None:
                cause = case.skipped
                if cause is None:
                    cause = "not run: the run was interrupted" if interrupted else "not run"
                ET.SubElement(elem, "skipped", message=_clean(cause))
                counts["skipped"] += 1
        attrs = {key: str(value) for key, value in counts.items()}
        attrs["time"] = _seconds(wall or total)
        suite.attrib.update(attrs)
        suite.set("timestamp", self._stamp or datetime.now(UTC).isoformat(timespec="seconds"))
        suite.set("hostname", socket.gethostname())
        root = ET.Element("testsuites", {"name": self.suite, **attrs})
        root.append(suite)
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _is_error(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, _ERRORS)


def _problem(elem: ET.Element, tag: str, excinfo: Any) -> None:
    kind, val, tb = excinfo
    type_name = _type_name(kind) if kind is not None else "unknown"
    message = str(val) if val is not None else ""
    if kind is not None and val is not None:
        text = "".join(traceback.format_exception(kind, val, tb))
    elif kind is not None:
        text = f"{type_name} (its value could not cross back from the worker process)\n"
    else:
        text = "the exception could not cross back from the worker process\n"
    node = ET.SubElement(elem, tag, message=_clean(message), type=type_name)
    node.text = _clean(text)


def _type_name(kind: Any) -> str:
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", repr(kind))
    return name if module in ("builtins", "") else f"{module}.{name}"


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def _clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (control bytes a
    task printed into its exception message)."""
    return "".join(
        ch
        if ch in "\t\n\r"
        or ("\x20" <= ch <= "\ud7ff")
        or ("\ue000" <= ch <= "\ufffd")
        or ("\U00010000" <= ch <= "\U0010ffff")
        else "\ufffd"
        for ch in text
    )
