"""Chaining on the process pool, through Sched.run(): a task that can only wait
for one provider goes to that provider's worker process right behind it, and
runs there the moment the provider ends with deps_ok. Nothing a task sees may
change: results and shared dicts are compared with thread pool runs (which
never chain). Observers see a chained task handed out only once it is sure to
run, with the time it went out: before its provider ended. A chain that comes
undone (the provider did not provide) shows in no event, so those tests watch
the planner put the task back (a spy around its own method)."""

from __future__ import annotations

import itertools
import os
import threading
import time
import warnings
from typing import Any

import pytest
from helpers import (
    SKIP_MSG,
    by_task,
    end_messages,
    new_pool,
    recorded_warnings,
    run_all,
    tagged,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pexen
from actors.planner import Planner
from pexen import sched
from pexen.sched import TaskFailError, TaskTimeoutError, WorkerLostError
from pexen.vocab.events import TaskEnded, TaskHandedOut, TaskSkipped, TaskStarted, TaskUnblocked


class Events:
    """An observer keeping the run's events, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def run_started(self, start: Any) -> None:
        pass

    def task_event(self, event: Any) -> None:
        self.events.append(event)

    def task_result(self, result: Any) -> None:
        pass

    def run_ended(self, end: Any) -> None:
        pass

    def of(self, kind: type, task: Any) -> list[Any]:
        return [e for e in self.events if type(e) is kind and e.task is task]

    def chained(self, task: Any, provider: Any) -> bool:
        """Whether ``task`` was handed out before ``provider`` ended: chained.

        By the times: its event comes after the provider's end either way
        (it is posted once the task is sure to run).
        """
        handed = self.of(TaskHandedOut, task)
        ended = self.of(TaskEnded, provider)
        return len(handed) == 1 and len(ended) == 1 and handed[0].at < ended[0].ended


@pytest.fixture
def unchained(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The tasks the planner puts back from a chain, in order (the planner's
    own method runs: this only watches it)."""
    seen: list[Any] = []
    put_back = Planner._unchain

    def watched(self: Planner, tid: int) -> None:
        seen.append(self._specs[tid].func)
        put_back(self, tid)

    monkeypatch.setattr(Planner, "_unchain", watched)
    return seen


def observed_run(tasks: list[Any], pool: Any) -> tuple[dict[Any, Any], list[str], Events]:
    rec = Events()
    with recorded_warnings() as got:
        results = list(sched.Sched(tasks).run(pool, observers=[rec]))
    messages = [str(w.message) for w in got if issubclass(w.category, pexen.PexenWarning)]
    return by_task(results), messages, rec


def chain_of(count: int) -> list[Any]:
    """Task i requires what task i-1 provides and adds its own key to the dict."""
    tasks = []
    for i in range(count):

        def task(shared: dict[str, Any], i: int = i) -> list[str]:
            seen = sorted(shared)
            shared[f"k{i:03}"] = i
            return seen

        fields: dict[str, Any] = {"provides": [f"n{i}"]} if i < count - 1 else {}
        if i:
            fields["requires"] = [f"n{i - 1}"]
        tasks.append(tagged(f"t{i}", task, **fields))
    return tasks


def test_a_long_chain_runs_in_order_with_the_shared_dicts_of_a_thread_run():
    want, _ = run_all(sched.Sched(chain_of(200)), new_pool("thread", workers=1))
    tasks = chain_of(200)
    got, messages, rec = observed_run(tasks, new_pool("process", workers=2))
    assert messages == []
    assert [(r.task.__name__, r.ret, r.shared) for r in got.values()] == [
        (r.task.__name__, r.ret, r.shared) for r in want
    ]
    # task i saw every key of 0..i-1
    assert got[tasks[150]].ret == [f"k{i:03}" for i in range(150)]
    chained = sum(rec.chained(b, a) for a, b in itertools.pairwise(tasks))
    assert chained > 0  # most hops, but how many is up to timing
    edges = {(e.task, e.provider) for e in rec.events if type(e) is TaskUnblocked}
    assert edges == set(zip(tasks[1:], tasks, strict=False))  # every edge, chained or not


def _slow_provider(name: str, seconds: float, then: Any = None, **fields: Any) -> Any:
    def task(shared: dict[str, Any]) -> None:
        time.sleep(seconds)  # long enough for the dependant to be chained behind it
        shared[name] = True
        if then is not None:
            then()

    return tagged(name, task, **fields)


def _raise_value() -> None:
    raise ValueError("boom")


def _recorder(name: str, **fields: Any) -> Any:
    def task(shared: dict[str, Any]) -> tuple[str, int]:
        return (name, os.getpid())

    return tagged(name, task, **fields)


def test_a_provider_failing_uncontrolled_leaves_its_chained_task_skipped_never_run(unchained):
    a = _slow_provider("a", 0.2, _raise_value, provides=["x"])
    b = _recorder("b", requires=["x"])
    got, messages, rec = observed_run([a, b], new_pool("process", workers=1))
    assert list(got) == [a]
    assert isinstance(got[a].excinfo.val, ValueError)
    assert end_messages(messages) == [SKIP_MSG.format(1)]
    assert unchained == [b]  # it was chained behind a, and came back
    assert rec.of(TaskHandedOut, b) == [] and rec.of(TaskStarted, b) == []
    [skip] = rec.of(TaskSkipped, b)
    assert skip.requires == {"x"} and skip.failed == (a,)


def _fail_with(deps_ok: bool) -> Any:
    def fail() -> None:
        raise TaskFailError("controlled", deps_ok=deps_ok)

    return fail


def test_a_controlled_failure_with_deps_ok_runs_the_chained_task_with_its_dict():
    a = _slow_provider("a", 0.2, _fail_with(True), provides=["x"])
    b = tagged("b", lambda shared: dict(shared), requires=["x"])
    got, messages, rec = observed_run([a, b], new_pool("process", workers=1))
    assert messages == []
    assert isinstance(got[a].excinfo.val, TaskFailError)
    assert got[b].ret == {"a": True} == got[a].shared
    assert rec.chained(b, a)


def test_a_controlled_failure_without_deps_ok_brings_the_chained_task_back_skipped(unchained):
    a = _slow_provider("a", 0.2, _fail_with(False), provides=["x"])
    b = _recorder("b", requires=["x"])
    c = _recorder("c", requires=["x"], uses=["r"])  # locks: never chained
    got, messages, rec = observed_run([a, b, c], new_pool("process", workers=2))
    assert list(got) == [a]
    assert end_messages(messages) == [SKIP_MSG.format(2)]
    assert unchained == [b]
    assert rec.of(TaskHandedOut, b) == [] and rec.of(TaskHandedOut, c) == []
    assert {e.task for e in rec.events if type(e) is TaskSkipped} == {b, c}


def test_a_worker_killed_by_the_provider_fails_it_and_skips_the_chained_task(unchained):
    a = _slow_provider("a", 0.2, lambda: os._exit(3), provides=["x"])
    b = _recorder("b", requires=["x"])
    got, messages, rec = observed_run([a, b], new_pool("process", workers=1))
    assert list(got) == [a]
    assert isinstance(got[a].excinfo.val, WorkerLostError)
    assert end_messages(messages) == [SKIP_MSG.format(1)]
    assert unchained == [b]
    assert rec.of(TaskHandedOut, b) == [] and rec.of(TaskStarted, b) == []


def test_a_chained_tasks_timeout_counts_from_when_it_starts():
    a = _slow_provider("a", 0.6, provides=["x"])
    quick = tagged("quick", lambda: "done", requires=["x"], provides=["y"], timeout=0.3)
    hangs = tagged("hangs", lambda: time.sleep(30), requires=["y"], timeout=0.3)
    got, messages, rec = observed_run([a, quick, hangs], new_pool("process", workers=1, spare=2))
    assert got[a].excinfo is None
    assert got[quick].excinfo is None and got[quick].ret == "done"  # waited 0.6 s behind a
    assert isinstance(got[hangs].excinfo.val, TaskTimeoutError)
    assert rec.chained(quick, a) and rec.chained(hangs, quick)
    assert messages == []


def test_a_task_with_another_provider_still_to_end_is_not_chained():
    a = _slow_provider("a", 0.3, provides=["x"])
    other = _slow_provider("other", 0.3, provides=["x"])
    b = tagged("b", lambda shared: dict(shared), requires=["x"])
    got, messages, rec = observed_run([a, other, b], new_pool("process", workers=2))
    assert messages == []
    ended = [e.ended for e in rec.events if type(e) is TaskEnded and e.task in (a, other)]
    [handed] = rec.of(TaskHandedOut, b)
    assert handed.at > min(ended)  # not before one provider ended
    # one provider ended first; b started after it, with its dict (maybe both)
    assert got[b].ret in ({"a": True}, {"other": True}, {"a": True, "other": True})


def _cancel_as_the_chained_task_starts(tmp_path: Any) -> tuple[Any, Any, list[Any]]:
    """Run a, and b chained behind it; cancel from another thread once b runs.

    Returns ``(a, b, results)``.
    """
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    a = tagged("a", lambda: "from a", provides=["x"])

    def b(*, fifo: str) -> None:
        with open(fifo, "w") as f:
            f.write("started\n")
        time.sleep(30)  # killed with its process by the cancel

    tagged("b", b, requires=["x"], kwargs={"fifo": str(fifo)})
    s = sched.Sched([a, b])

    def cancel_once_b_runs() -> None:
        with open(fifo) as f:  # blocks until b runs
            if f.readline() == "started\n":
                s.cancel()

    canceller = threading.Thread(target=cancel_once_b_runs)
    canceller.start()
    try:
        with recorded_warnings():
            got = list(s.run(new_pool("process", workers=1)))
    finally:
        if canceller.is_alive():  # b never ran: let the thread go
            with open(fifo, "w") as f:
                f.write("\n")
        canceller.join()
    return a, b, got


def test_a_cancel_as_a_chained_task_starts_still_gives_its_providers_result(tmp_path):
    # the worker process starts the chained task right after sending its
    # provider's outcome: a cancel prompted by that start must find that
    # outcome, read before the run ends (the engine's cancel settles first)
    a, b, got = _cancel_as_the_chained_task_starts(tmp_path)
    assert (a, "from a", None) in [(r.task, r.ret, r.excinfo) for r in got]
    assert [r.task for r in got if r.task is not a] in ([], [b])  # b: killed, if reported


def test_a_cancel_waits_for_outcomes_read_but_not_yet_planned(tmp_path, monkeypatch):
    # as above, with the reader slowed down between reading the provider's
    # outcome and telling the planner (where a thread switch can land): the
    # socket is then empty, and the cancel must still wait for that outcome
    from actors import wire

    read = wire.OutcomeReader.read

    def slow_read(self: Any) -> Any:
        outcomes = read(self)
        if outcomes:
            time.sleep(0.02)  # within the engine's settle time (50 ms)
        return outcomes

    monkeypatch.setattr(wire.OutcomeReader, "read", slow_read)
    a, _, got = _cancel_as_the_chained_task_starts(tmp_path)
    assert (a, "from a", None) in [(r.task, r.ret, r.excinfo) for r in got]


# -- property: chaining never changes what tasks see --------------------------

NAMES = tuple(f"n{i}" for i in range(6))


@st.composite
def dags(draw: Any) -> list[tuple[str, frozenset, frozenset, str]]:
    """Tasks (name, requires, provides, outcome); each name has one provider,
    so that which dicts reach a task does not depend on timing."""
    count = draw(st.integers(1, 8))
    names = list(NAMES)
    specs: list[tuple[str, frozenset, frozenset, str]] = []
    provided: list[str] = []
    for i in range(count):
        requires = frozenset(draw(st.sets(st.sampled_from(provided)))) if provided else frozenset()
        provides = frozenset()
        if names and draw(st.booleans()):
            provides = frozenset({names.pop(0)})
            provided.extend(provides)
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "raise", "fail_deps", "fail_nodeps"]))
        specs.append((f"t{i}", requires, provides, outcome))
    return specs


def _dag_task(name: str, outcome: str, **fields: Any) -> Any:
    def task(shared: dict[str, Any]) -> dict[str, Any]:
        seen = dict(shared)
        shared[name] = True
        if outcome == "raise":
            raise ValueError(name)
        if outcome.startswith("fail"):
            raise TaskFailError(name, deps_ok=outcome == "fail_deps")
        return seen

    return tagged(name, task, **fields)


def _run_dag(specs: list[Any], pool: Any) -> tuple[dict[str, Any], list[str]]:
    tasks = [
        _dag_task(name, outcome, requires=sorted(req), provides=sorted(prov))
        for name, req, prov, outcome in specs
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # provides nobody requires: not what is tested
        s = sched.Sched(tasks)
    s.add_shared(preset=0)
    results, messages = run_all(s, pool)
    seen = {
        r.task.__name__: (r.ret, r.shared, None if r.excinfo is None else r.excinfo.type)
        for r in results
    }
    return seen, end_messages(messages)


@pytest.mark.timeout(240)
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(specs=dags(), spare=st.integers(1, 3))
def test_chaining_never_changes_the_shared_dicts_or_the_results(specs, spare):
    want = _run_dag(specs, new_pool("thread", workers=1))
    got = _run_dag(specs, new_pool("process", workers=2, spare=spare))
    assert got == want
