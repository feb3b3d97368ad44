"""The engine's side of the observer API: what the planner posts, and when.

The planner is driven by hand (workers are probes that record what they are
told), so each event is checked against the message that caused it.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from typing import Any

import pytest
from specs import spec

from actors.engine import Engine
from actors.mailbox import ResultMailbox
from actors.messages import BacklogDrained, Begin, Outcome, RunEnded, RunTasks, TaskDone
from actors.planner import Planner
from actors.threadpool import ThreadWorkerSet
from pexen.vocab.events import (
    TaskEnded,
    TaskHandedOut,
    TaskSkipped,
    TaskStarted,
    TaskUnblocked,
    describe_task,
)
from pexen.vocab.results import ExceptionInfo, TaskRes

WAIT = 10  # seconds: a bound against hangs, never reached when all is well


class Probe:
    """Stands in for a worker actor: records what it is told."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def tell(self, message: Any) -> None:
        self.inbox.put(message)

    def tids(self) -> list[int]:
        msg = self.inbox.get(timeout=WAIT)
        assert isinstance(msg, RunTasks)
        return [s.tid for s, _ in msg.items]


def _drain(mailbox: ResultMailbox, until_end: bool = False) -> list[Any]:
    """What the mailbox holds (consuming the results); with ``until_end``,
    up to the run's end."""
    out = []
    while True:
        try:
            item = mailbox.take(timeout=WAIT if until_end else 0)
        except queue.Empty:
            assert not until_end, "the run did not end"
            return out
        if type(item) is list:  # the events between two results
            out.extend(item)
            continue
        out.append(item)
        if type(item) is TaskRes:
            mailbox.consumed()
        if type(item) is RunEnded:
            return out


@pytest.fixture
def planner():
    made = []

    def make(specs, observed=True, capacity=1):
        mailbox = ResultMailbox(100)
        ref = Planner(specs, {}, capacity, mailbox, threading.Event(), observed=observed)
        made.append(ref)
        mailbox.on_drained = lambda: ref.tell(BacklogDrained())
        worker = Probe()
        ref.tell(Begin((worker,)))
        return ref, mailbox, worker

    yield make
    for ref in made:
        ref.stop()


def test_unobserved_the_planner_posts_results_only(planner):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    ref, mailbox, worker = planner(specs, observed=False)
    assert worker.tids() == [0]
    ref.tell(TaskDone(0, (Outcome(0, None, {}, None, True, True, 1.0, 2.0),)))
    assert worker.tids() == [1]
    ref.tell(TaskDone(0, (Outcome(1, None, {}, None, True, True),)))
    items = _drain(mailbox, until_end=True)
    assert [type(i) for i in items] == [TaskRes, TaskRes, RunEnded]


def test_observed_the_planner_posts_each_event_before_its_result(planner):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    ref, mailbox, worker = planner(specs)
    assert worker.tids() == [0]
    [handed] = mailbox.take(timeout=WAIT)
    assert type(handed) is TaskHandedOut and handed.task is specs[0].func
    began = time.monotonic()
    ref.tell(TaskDone(0, (Outcome(0, None, {}, None, True, True, began, began),)))
    assert worker.tids() == [1]
    items = _drain(mailbox)
    assert [type(i) for i in items] == [
        TaskStarted, TaskEnded, TaskUnblocked, TaskRes, TaskHandedOut,
    ]  # fmt: skip
    assert items[0].at == items[1].started == items[1].ended == began
    assert items[2].provider is specs[0].func and items[2].task is specs[1].func
    assert items[2].names == frozenset({"x"})


def test_times_not_measured_or_from_another_clock_are_replaced(planner):
    specs = [spec(0), spec(1), spec(2)]
    ref, mailbox, worker = planner(specs)
    assert worker.tids() == [0]
    ref.tell(TaskDone(0, (Outcome(0, None, {}, None, True, True),)))  # not measured
    assert worker.tids() == [1]
    # a clock far ahead of this machine's (another host's): not possible here
    ref.tell(TaskDone(0, (Outcome(1, None, {}, None, True, True, 1e12, 1e12 + 1),)))
    assert worker.tids() == [2]
    ref.tell(TaskDone(0, (Outcome(2, None, {}, None, True, True, 0.5, 0.25),)))  # ends first
    items = _drain(mailbox, until_end=True)
    handed = {i.task: i.at for i in items if type(i) is TaskHandedOut}
    ended = [i for i in items if type(i) is TaskEnded]
    assert [e.task for e in ended] == [s.func for s in specs]
    last = 0.0
    for e in ended:
        assert handed[e.task] <= e.started <= e.ended
        assert last <= e.started  # one worker: one after the other
        last = e.ended
    assert last <= time.monotonic()


def test_a_failed_provider_is_the_cause_of_a_skip(planner):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"]), spec(2, requires=["x"])]
    ref, mailbox, worker = planner(specs)
    assert worker.tids() == [0]
    err = KeyError("gone")
    ref.tell(TaskDone(0, (Outcome(0, None, {}, ExceptionInfo(KeyError, err, None), False, False),)))
    items = _drain(mailbox, until_end=True)
    skips = [i for i in items if type(i) is TaskSkipped]
    assert [s.task for s in skips] == [specs[1].func, specs[2].func]
    for s in skips:
        assert s.failed == (specs[0].func,) and s.requires == frozenset({"x"})
        assert "KeyError" in s.cause
    assert type(items[-1]) is RunEnded and items[-1].skipped == 2


def test_an_engine_on_a_real_pool_posts_events_only_when_observed():
    table = [spec(i) for i in range(20)]

    def run(observed: bool) -> list[type]:
        engine = Engine(
            table,
            {},
            lambda t, c: ThreadWorkerSet(2, t, c),
            3,
            backlog=100,
            observed=observed,
        )
        kinds = []
        try:
            while True:
                item = engine.take()
                kinds.extend(map(type, item) if type(item) is list else [type(item)])
                if type(item) is RunEnded:
                    return kinds
                if type(item) is TaskRes:
                    engine.consumed()
        finally:
            engine.close(cancel=False)

    plain = run(False)
    assert set(plain) == {TaskRes, RunEnded} and plain.count(TaskRes) == 20
    seen = run(True)
    assert seen.count(TaskRes) == 20
    assert seen.count(TaskHandedOut) == seen.count(TaskStarted) == seen.count(TaskEnded) == 20


def test_outcome_times_are_not_part_of_equality():
    a = Outcome(1, "r", {}, None, True, True, 1.0, 2.0)
    b = Outcome(1, "r", {}, None, True, True)
    assert a == b
    assert dataclasses.replace(a, ret="other") != b


def test_describe_task_names_a_task_as_reports_do():
    def plain() -> None: ...

    class Callable:
        def __call__(self) -> None: ...

    assert describe_task(plain) == "test_describe_task_names_a_task_as_reports_do.<locals>.plain"
    assert describe_task(functools.partial(plain)).endswith("plain")
    assert describe_task(Callable()).endswith("Callable")
    plain.pexen_callpath = ["pkg", "mod", "plain"]  # type: ignore[attr-defined]
    assert describe_task(plain) == "pkg/mod/plain"
