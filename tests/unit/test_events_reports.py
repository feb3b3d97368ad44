"""The report writers fed with hand-made events: exact output, no run."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import junitparser
import pytest

from pexen.factory import set_callpath
from pexen.reports import JUnitReport, TraceReport, junit_names, task_name
from pexen.vocab.errors import TaskTimeoutError, WorkerLostError
from pexen.vocab.events import (
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskLockWait,
    TasksAdded,
    TaskSkipped,
    TaskUnblocked,
    describe_task,
)
from pexen.vocab.results import ExceptionInfo, TaskRes

T0 = 1000.0


def make(name: str, path: list[str] | None = None):
    def task() -> None: ...

    task.__name__ = task.__qualname__ = name
    if path is not None:
        set_callpath(task, path)
    return task


def feed(observer, tasks, steps, end=T0 + 1.0, cancelled=False):
    observer.run_started(RunStarted(tuple(tasks), 2, "thread", T0))
    for step in steps:
        if isinstance(step, TaskRes):
            observer.task_result(step)
        else:
            observer.task_event(step)
    observer.run_ended(RunFinished(end, cancelled, None, 0, 0))


def test_names_with_and_without_a_callpath():
    collected = make("test_x", ["pkg", "mod", "test_x"])
    loose = make("helper")
    assert task_name(collected) == describe_task(collected) == "pkg/mod/test_x"
    assert junit_names(collected) == ("pkg.mod", "test_x")
    assert task_name(loose) == describe_task(loose) == "helper"
    assert junit_names(loose) == (__name__, "helper")
    top = make("top", ["top"])
    assert junit_names(top) == ("", "top")


def test_junit_from_hand_made_events(tmp_path):
    ok, bad, lost, late, skipped, never = (
        make("ok", ["s", "ok"]), make("bad", ["s", "bad"]), make("lost"), make("late"),
        make("skipped"), make("never"),
    )  # fmt: skip
    try:
        raise AssertionError("1 != 2\x00")  # a NUL byte XML cannot hold
    except AssertionError as exc:
        failed = ExceptionInfo(AssertionError, exc, exc.__traceback__)
    path = tmp_path / "r.xml"
    steps = [
        TaskEnded(ok, 0, T0 + 0.1, T0 + 0.35, False),
        TaskRes(ok),
        TaskEnded(bad, 1, T0 + 0.1, T0 + 0.2, True),
        TaskRes(bad, {}, None, failed),
        TaskEnded(lost, 0, T0 + 0.4, T0 + 0.5, True),
        TaskRes(lost, {}, None, ExceptionInfo(WorkerLostError, WorkerLostError("died"), None)),
        TasksAdded((late,), T0 + 0.5),
        TaskEnded(late, 1, T0 + 0.6, T0 + 0.7, True),
        TaskRes(late, {}, None, ExceptionInfo(TaskTimeoutError, None, None)),  # value lost
        TaskSkipped(skipped, "unmet requires: 'x' (its provider s/bad failed: boom)"),
    ]
    feed(JUnitReport(path, suite="hand"), [ok, bad, lost, skipped, never], steps, cancelled=True)
    xml = junitparser.JUnitXml.fromfile(str(path))
    [suite] = list(xml)
    assert suite.name == "hand"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (6, 1, 2, 2)
    assert suite.time == pytest.approx(1.0)
    cases = {(c.classname, c.name): c for c in suite}
    assert list(cases) == [
        ("s", "ok"), ("s", "bad"), (__name__, "lost"), (__name__, "skipped"),
        (__name__, "never"), (__name__, "late"),
    ]  # fmt: skip
    assert cases["s", "ok"].time == pytest.approx(0.25)
    [f] = cases["s", "bad"].result
    assert isinstance(f, junitparser.Failure) and f.type == "AssertionError"
    assert f.message == "1 != 2\ufffd" and "Traceback" in f.text
    [e] = cases[__name__, "lost"].result
    assert isinstance(e, junitparser.Error) and e.message == "died"
    [e] = cases[__name__, "late"].result
    assert isinstance(e, junitparser.Error) and e.type.endswith("TaskTimeoutError")
    assert "could not cross back" in e.text
    [s] = cases[__name__, "skipped"].result
    assert s.message.startswith("unmet requires: 'x'")
    [s] = cases[__name__, "never"].result
    assert s.message == "not run: the run was interrupted"
    # totals on the root too
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("errors") == "2"


def test_trace_from_hand_made_events(tmp_path):
    a, b, c = make("a", ["p", "a"]), make("b"), make("c")
    path = tmp_path / "t.json"
    steps = [
        TaskEnded(a, 0, T0 + 0.001, T0 + 0.002, False),
        TaskUnblocked(b, a, frozenset({"x"})),
        TaskUnblocked(c, a, frozenset({"x"})),
        TaskRes(a),
        TaskLockWait(c, frozenset({"db", "cache"}), T0 + 0.0015, T0 + 0.003),
        TaskEnded(b, 1, T0 + 0.0025, T0 + 0.004, True),
        TaskRes(b, {}, None, ExceptionInfo(KeyError, KeyError("k"), None)),
        TaskEnded(c, 0, T0 + 0.004, T0 + 0.005, False),
        TaskSkipped(make("d"), "lock 'db' was never released"),
    ]
    feed(TraceReport(path), [a, b, c], steps, end=T0 + 0.01)
    events = json.loads(path.read_text())["traceEvents"]
    xs = {e["name"]: e for e in events if e["ph"] == "X"}
    # worker N is thread N + 1 (Perfetto takes 0 for the idle task)
    assert xs["p/a"]["ts"] == 1000.0 and xs["p/a"]["dur"] == 1000.0 and xs["p/a"]["tid"] == 1
    assert xs["b"]["tid"] == 2 and xs["b"]["args"] == {"failed": True, "error": "KeyError: 'k'"}
    assert xs["c"]["ts"] == 4000.0 and "args" not in xs["c"]  # only a failure says more
    flows = [(e["ph"], e["id"], e["tid"]) for e in events if e["ph"] in "sf"]
    assert flows == [("s", 1, 1), ("f", 1, 2), ("s", 2, 1), ("f", 2, 1)]
    [b_wait] = [e for e in events if e["ph"] == "b"]
    [e_wait] = [e for e in events if e["ph"] == "e"]
    assert b_wait["name"] == e_wait["name"] == "lock wait"
    assert b_wait["args"] == {"task": "c", "resources": ["cache", "db"]}
    assert (b_wait["ts"], e_wait["ts"]) == (1500.0, 3000.0)
    assert b_wait["id"] == e_wait["id"] and b_wait["tid"] == e_wait["tid"] == 3
    [skip] = [e for e in events if e["ph"] == "i"]
    assert skip["name"] == "d" and skip["ts"] == 10000.0 and skip["tid"] == 4
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {1: "worker 0", 2: "worker 1", 3: "lock waits", 4: "skipped"}
    assert {e["pid"] for e in events} == {os.getpid()}


def test_a_flow_to_a_task_that_never_ran_is_left_out(tmp_path):
    a, b = make("a"), make("b")
    path = tmp_path / "t.json"
    feed(
        TraceReport(path),
        [a, b],
        [TaskEnded(a, 0, T0, T0 + 0.1, False), TaskUnblocked(b, a, frozenset({"x"}))],
        cancelled=True,
    )
    events = json.loads(path.read_text())["traceEvents"]
    assert [e["name"] for e in events if e["ph"] == "X"] == ["a"]
    assert not [e for e in events if e["ph"] in "sf"]
