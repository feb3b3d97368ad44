"""The run observer API: each kind of event, through ``Sched.run(observers=...)``.

Every test runs on both pools (the ``pool`` fixture). Times are only
compared with each other (hand-out before start before end), never with a
duration.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import threading
import weakref
from typing import Any

import pytest
from helpers import EVENT_TIMEOUT, SKIP_MSG, by_task, new_pool, recorded_warnings, returning, tagged

from pexen import sched
from pexen.sched import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskHandedOut,
    TaskLockWait,
    TasksAdded,
    TaskSkipped,
    TaskStarted,
    TaskUnblocked,
    meta,
)


class Recorder(RunObserver):
    """Keeps every call, in order: ``(method, argument)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def run_started(self, run: RunStarted) -> None:
        self.calls.append(("run_started", run))

    def task_event(self, event: Any) -> None:
        self.calls.append(("task_event", event))

    def task_result(self, result: Any) -> None:
        self.calls.append(("task_result", result))

    def run_ended(self, run: RunFinished) -> None:
        self.calls.append(("run_ended", run))

    def events(self, kind: type) -> list[Any]:
        return [arg for name, arg in self.calls if name == "task_event" and type(arg) is kind]

    def ended(self) -> RunFinished:
        ends = [arg for name, arg in self.calls if name == "run_ended"]
        assert len(ends) == 1, ends
        assert self.calls[-1][0] == "run_ended"
        return ends[0]

    def per_task(self, task: Any) -> list[str]:
        """The kinds of the calls about ``task``, in order."""
        out = []
        for name, arg in self.calls:
            if name == "task_result" and arg.task is task:
                out.append("result")
            elif name == "task_event" and getattr(arg, "task", None) is task:
                out.append(type(arg).__name__)
        return out


def observed(s: sched.Sched, pool: Any, *observers: Any) -> list[Any]:
    with recorded_warnings():
        return list(s.run(pool, observers=observers))


def _raiser(msg: str = "boom", **fields: Any) -> Any:
    def task() -> None:
        raise ValueError(msg)

    return tagged("raiser", task, **fields)


def test_a_run_calls_each_observer_in_order(pool):
    a = returning("a", provides=["x"])
    b = returning("b", requires=["x"])
    c = returning("c")
    rec, other = Recorder(), Recorder()
    results = observed(sched.Sched([a, b, c]), pool, rec, other)
    assert rec.calls == other.calls
    assert rec.calls[0][0] == "run_started"
    start = rec.calls[0][1]
    assert start.tasks == (a, b, c)
    assert start.workers == pool.workers
    assert start.pool in ("thread", "process")
    assert type(pool).__name__.lower().startswith(start.pool)
    end = rec.ended()
    assert end.cancelled is False and end.error is None
    assert end.skipped == 0 and end.locks_held == 0
    # task_result right before the caller gets it: same objects, same order
    assert [arg for name, arg in rec.calls if name == "task_result"] == results
    for task in (a, c):
        assert rec.per_task(task) == ["TaskHandedOut", "TaskStarted", "TaskEnded", "result"]
    # also where a process worker chains b behind a (it is out before a
    # provides x, but observers see it handed out once it is sure to run)
    assert rec.per_task(b) == [
        "TaskUnblocked", "TaskHandedOut", "TaskStarted", "TaskEnded", "result",
    ]  # fmt: skip


def test_times_and_workers_of_each_task(pool):
    tasks = [returning(f"t{i}") for i in range(12)] + [_raiser()]
    rec = Recorder()
    observed(sched.Sched(tasks), pool, rec)
    start, end = rec.calls[0][1], rec.ended()
    handed = {e.task: e for e in rec.events(TaskHandedOut)}
    started = {e.task: e for e in rec.events(TaskStarted)}
    ended = {e.task: e for e in rec.events(TaskEnded)}
    assert set(handed) == set(started) == set(ended) == set(tasks)
    for task in tasks:
        h, s, e = handed[task], started[task], ended[task]
        assert h.worker == s.worker == e.worker
        assert 0 <= e.worker < pool.workers
        assert start.at <= h.at <= s.at == e.started <= e.ended <= end.at
        assert e.failed is (task.__name__ == "raiser")
    # one worker runs one task at a time
    for worker in range(pool.workers):
        spans = sorted((e.started, e.ended) for e in ended.values() if e.worker == worker)
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            assert first_end <= second_start


def test_each_edge_that_mattered_unblocks_once(pool):
    a = returning("a", provides=["x"], priority=0)
    b = returning("b", provides=["y"], priority=1)
    late = returning("late", provides=["x"], priority=5)  # x is provided already by then
    c = returning("c", requires=["x", "y"], priority=9)
    d = returning("d", requires=["x"], priority=9)
    rec = Recorder()
    # one worker: a, b, late run in priority order, before c and d
    observed(sched.Sched([a, b, late, c, d]), new_pool(pool_kind_of(pool), workers=1), rec)
    edges = {(e.provider, e.task, e.names) for e in rec.events(TaskUnblocked)}
    assert edges == {
        (a, c, frozenset({"x"})),
        (a, d, frozenset({"x"})),
        (b, c, frozenset({"y"})),
    }
    # an edge comes after its provider ended, before the requirer is handed out
    order = [(type(arg), getattr(arg, "task", None)) for _, arg in rec.calls]
    calls = [arg for _, arg in rec.calls]
    for edge in rec.events(TaskUnblocked):
        at = calls.index(edge)
        assert order.index((TaskEnded, edge.provider)) < at
        assert at < order.index((TaskHandedOut, edge.task))


def pool_kind_of(pool: Any) -> str:
    return "thread" if type(pool).__name__.startswith("Thread") else "process"


def test_a_lock_wait_that_ended_in_a_grant(pool):
    # the holder is handed out (and granted) first; the waiter, ready in the
    # same round, finds the lock taken and waits until the holder ends
    holder = returning("holder", claims=["db"], priority=0)
    waiter = returning("waiter", uses=["db"], priority=1)
    free = returning("free", priority=2)
    rec = Recorder()
    observed(sched.Sched([holder, waiter, free]), new_pool(pool_kind_of(pool), workers=3), rec)
    [wait] = rec.events(TaskLockWait)
    assert wait.task is waiter
    assert wait.resources == frozenset({"db"})
    holder_end = next(e for e in rec.events(TaskEnded) if e.task is holder)
    handed = next(e for e in rec.events(TaskHandedOut) if e.task is waiter)
    assert wait.since <= holder_end.ended and wait.since <= wait.until <= handed.at
    assert rec.per_task(waiter)[:2] == ["TaskLockWait", "TaskHandedOut"]


def test_skipped_tasks_say_why(pool):
    c = _raiser(provides=["y"], claims=["r"])
    d = returning("d", requires=["y"], provides=["z"])
    e = returning("e", requires=["z"])
    f = returning("f", uses=["r"])
    ok = returning("ok")
    rec = Recorder()
    results = observed(sched.Sched([c, d, e, f, ok]), pool, rec)
    assert set(by_task(results)) == {c, ok}
    skips = {s.task: s for s in rec.events(TaskSkipped)}
    assert set(skips) == {d, e, f}
    assert skips[d].requires == frozenset({"y"}) and skips[d].failed == (c,)
    assert "'y'" in skips[d].cause and "raiser failed" in skips[d].cause
    assert "ValueError: boom" in skips[d].cause
    assert skips[e].requires == frozenset({"z"}) and skips[e].failed == (d,)
    assert "d could not run" in skips[e].cause
    assert skips[f].locks == frozenset({"r"}) and skips[f].holders == (c,)
    assert "lock 'r' was never released" in skips[f].cause and "raiser" in skips[f].cause
    assert not any(s.interrupted for s in skips.values())
    end = rec.ended()
    assert (end.skipped, end.locks_held, end.cancelled) == (3, 1, False)
    # the skips come after every result, before the end
    kinds = [name for name, arg in rec.calls if name != "task_event" or type(arg) is TaskSkipped]
    assert kinds[-4:] == ["task_event"] * 3 + ["run_ended"]


def test_a_controlled_failure_that_provides_skips_nothing(pool):
    def soft() -> None:
        raise sched.TaskFailError("soft", deps_ok=True)

    p = tagged("soft", soft, provides=["x"])
    r = returning("r", requires=["x"])
    rec = Recorder()
    observed(sched.Sched([p, r]), pool, rec)
    assert rec.events(TaskSkipped) == []
    assert [(e.provider, e.task) for e in rec.events(TaskUnblocked)] == [(p, r)]
    assert next(e for e in rec.events(TaskEnded) if e.task is p).failed is True


def test_leaving_the_loop_ends_the_run_once(pool):
    tasks = [returning(f"t{i}") for i in range(20)]
    rec = Recorder()
    gen = sched.Sched(tasks).run(pool, observers=[rec])
    first = next(gen)
    assert rec.calls[-1] == ("task_result", first)
    gen.close()
    end = rec.ended()
    assert end.cancelled is True and end.error is None
    gen.close()  # nothing more
    assert len([c for c in rec.calls if c[0] == "run_ended"]) == 1


def test_a_cancelled_run_skips_what_it_did_not_run(pool):
    first = returning("first", priority=-1)
    rest = [returning(f"t{i}", requires=["never"]) for i in range(3)]
    gate = returning("gate", provides=["never"], priority=10)
    s = sched.Sched([first, gate, *rest])
    rec = Recorder()
    got = []
    for res in s.run(new_pool(pool_kind_of(pool), workers=1, spare=0), observers=[rec]):
        got.append(res)
        s.cancel()
    end = rec.ended()
    assert end.cancelled is True and end.error is None
    ran = {res.task for res in got}
    skips = {e.task: e.cause for e in rec.events(TaskSkipped)}
    assert first in ran
    assert set(skips) | ran == {first, gate, *rest}
    assert not set(skips) & ran
    assert all("cancelled" in cause for cause in skips.values())
    assert all(e.interrupted for e in rec.events(TaskSkipped))
    assert end.skipped == len(skips)


def test_an_observer_that_raises_ends_the_run_with_its_error(pool):
    class Broken(Recorder):
        def task_result(self, result: Any) -> None:
            super().task_result(result)
            raise RuntimeError("observer broke")

    broken, witness = Broken(), Recorder()
    s = sched.Sched([returning(f"t{i}") for i in range(5)])
    got = []
    with pytest.raises(RuntimeError, match="observer broke"):
        for res in s.run(pool, observers=[broken, witness]):
            got.append(res)
    assert got == []  # the caller never got the result the observer choked on
    for rec in (broken, witness):
        end = rec.ended()
        assert end.cancelled is True
        assert isinstance(end.error, RuntimeError)
    assert not s.status().active
    assert len(list(s.run(pool))) == 5  # the scheduler runs again


def test_an_interrupt_while_waiting_is_the_runs_error(pool):
    class Interrupting(Recorder):
        def task_event(self, event: Any) -> None:
            super().task_event(event)
            if type(event) is TaskEnded:
                raise KeyboardInterrupt

    rec = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        list(sched.Sched([returning("a"), returning("b")]).run(pool, observers=[rec]))
    end = rec.ended()
    assert isinstance(end.error, KeyboardInterrupt) and end.cancelled is True


def test_run_ended_reaches_every_observer_even_if_one_raises(pool):
    class FailsAtEnd(Recorder):
        def run_ended(self, run: RunFinished) -> None:
            super().run_ended(run)
            raise OSError("cannot write the report")

    bad, good = FailsAtEnd(), Recorder()
    with pytest.raises(OSError, match="cannot write"):
        list(sched.Sched([returning("a")]).run(pool, observers=[bad, good]))
    assert bad.ended().error is None and good.ended().error is None


def test_an_empty_run_starts_and_ends(pool):
    rec = Recorder()
    assert list(sched.Sched().run(pool, observers=[rec])) == []
    assert [name for name, _ in rec.calls] == ["run_started", "run_ended"]
    assert rec.calls[0][1].tasks == ()
    assert rec.ended().cancelled is False


def test_observers_are_checked_when_run_is_called(pool):
    s = sched.Sched([returning("a")])
    with pytest.raises(TypeError, match="not a RunObserver"):
        s.run(pool, observers=[object()])
    with pytest.raises(TypeError, match="list of observers"):
        s.run(pool, observers=RunObserver())  # type: ignore[arg-type]
    # a base RunObserver does nothing, and that is fine
    assert len(list(s.run(pool, observers=[RunObserver()]))) == 1


def test_live_additions_arrive_as_tasks_added(pool):
    first = returning("first")
    later = returning("later")
    s = sched.Sched([first])
    rec = Recorder()
    for res in s.run(pool, observers=[rec]):
        if res.task is first:
            s.add_tasks([later])
    [added] = rec.events(TasksAdded)
    assert added.tasks == (later,)
    names = [type(arg).__name__ for _, arg in rec.calls if getattr(arg, "task", None) is later]
    assert names[0] == "TaskHandedOut"
    calls = [arg for _, arg in rec.calls]
    assert calls.index(added) < calls.index(
        next(e for e in rec.events(TaskHandedOut) if e.task is later)
    )


def test_a_lost_worker_ends_its_task_on_its_track():
    def crash() -> None:
        os._exit(3)

    crasher = tagged("crasher", crash, priority=-1)
    after = [returning(f"t{i}") for i in range(4)]
    rec = Recorder()
    results = observed(sched.Sched([crasher, *after]), new_pool("process", workers=1), rec)
    assert by_task(results)[crasher].excinfo.type is sched.WorkerLostError
    ended = {e.task: e for e in rec.events(TaskEnded)}
    assert set(ended) == {crasher, *after}
    assert ended[crasher].failed is True
    spans = sorted((e.started, e.ended) for e in ended.values())
    for (s1, e1), (s2, _) in itertools.pairwise(spans):
        assert s1 <= e1 <= s2


def test_a_serve_keeps_nothing_of_an_observed_task(pool):
    class Job:
        __name__ = __qualname__ = "job"

        def __call__(self) -> str:
            return "done"

    first = returning("first")
    after = returning("after")
    s = sched.Sched([first])
    refs: dict[str, Any] = {}
    seen = []

    class Names(RunObserver):
        def task_result(self, result: Any) -> None:
            seen.append(result.task.__name__)

    for res in s.serve(pool, observers=[Names()]):
        if res.task is first:
            job = Job()
            sched.meta.assign_val(job, claims=["lock"], provides=["p"])
            refs["job"] = weakref.ref(job)
            s.add_tasks([job, returning("needs_p", requires=["p"], uses=["lock"])])
            del job
        elif res.task.__name__ == "needs_p":
            # the job's result was dropped as res moved on; the edge job ->
            # needs_p, its events and its lock are long gone too
            gc.collect()
            assert refs["job"]() is None, "an observed serve still refers to a finished task"
            s.add_tasks([after])
        elif res.task is after:
            s.stop()
    assert sorted(seen) == ["after", "first", "job", "needs_p"]


def test_no_observer_no_events(pool):
    # unobserved, the results come alone: the caller sees only TaskRes
    results = list(
        sched.Sched([returning("a", provides=["x"]), returning("b", requires=["x"])]).run(pool)
    )
    assert all(type(r) is sched.TaskRes for r in results) and len(results) == 2


def test_a_serve_skips_what_waits_for_a_name_nobody_provided(pool):
    first = returning("first")
    orphan = returning("orphan", requires=["never"])
    s = sched.Sched([first])
    rec = Recorder()
    with recorded_warnings():
        for res in s.serve(pool, observers=[rec]):
            if res.task is first:
                s.add_tasks([orphan])
                s.stop()
    [skip] = rec.events(TaskSkipped)
    assert skip.task is orphan and skip.requires == frozenset({"never"}) and skip.failed == ()
    assert "'never' (no task provided it)" in skip.cause
    assert rec.ended().skipped == 1


def test_a_thread_task_over_its_timeout_ends_on_its_track():
    release = threading.Event()

    def hang() -> None:
        release.wait(EVENT_TIMEOUT)

    hanger = tagged("hanger", hang, timeout=0.3, priority=-1)
    after = [returning(f"t{i}") for i in range(3)]
    rec = Recorder()
    try:
        results = observed(sched.Sched([hanger, *after]), new_pool("thread", workers=1), rec)
    finally:
        release.set()  # the abandoned thread returns, and its worker stops
    assert by_task(results)[hanger].excinfo.type is sched.TaskTimeoutError
    ended = {e.task: e for e in rec.events(TaskEnded)}
    assert ended[hanger].failed is True and set(ended) == {hanger, *after}
    spans = sorted((e.started, e.ended) for e in ended.values())
    for (s1, e1), (s2, _) in itertools.pairwise(spans):
        assert s1 <= e1 <= s2


def _random_tasks(seed: int, n: int = 30) -> list[Any]:
    """A random DAG (requires only what earlier tasks provide), locks over
    three resources, some uncontrolled and some controlled failures."""
    rng = random.Random(seed)
    tasks: list[Any] = []
    for i in range(n):
        fields: dict[str, Any] = {"priority": rng.randint(0, 3)}
        earlier = [f"n{k}" for k in range(i)]
        if earlier and rng.random() < 0.6:
            fields["requires"] = rng.sample(earlier, min(len(earlier), rng.randint(1, 2)))
        fields["provides"] = [f"n{i}"]
        r = rng.random()
        if r < 0.2:
            fields["claims"] = [f"r{rng.randrange(3)}"]
        elif r < 0.5:
            fields["uses"] = [f"r{rng.randrange(3)}"]
        fate = rng.random()
        if fate < 0.1:
            tasks.append(tagged(f"t{i}", _raiser(f"t{i} fails"), **fields))
        elif fate < 0.15:
            tasks.append(tagged(f"t{i}", _soft_fail(), **fields))
        else:
            tasks.append(returning(f"t{i}", **fields))
    return tasks


def _soft_fail() -> Any:
    def task() -> None:
        raise sched.TaskFailError("controlled", deps_ok=False, locks_ok=True)

    return task


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_runs_keep_every_promise_of_the_events(pool, seed):
    tasks = _random_tasks(seed)
    rec = Recorder()
    with recorded_warnings() as caught:
        results = list(sched.Sched(tasks).run(pool, observers=[rec]))
    got = by_task(results)
    skips = {e.task: e for e in rec.events(TaskSkipped)}
    # each task of the run: a result or a skip, never both, never neither
    assert not set(got) & set(skips) and set(got) | set(skips) == set(tasks)
    handed = {e.task: e for e in rec.events(TaskHandedOut)}
    ended = {e.task: e for e in rec.events(TaskEnded)}
    assert set(handed) == set(ended) == set(got)
    for task, res in got.items():
        assert handed[task].at <= ended[task].started <= ended[task].ended
        assert ended[task].failed is (res.excinfo is not None)
        assert rec.per_task(task)[-1] == "result"
    for worker in range(pool.workers):
        spans = sorted((e.started, e.ended) for e in ended.values() if e.worker == worker)
        for (_, e1), (s2, _) in itertools.pairwise(spans):
            assert e1 <= s2
    # an edge: what the requirer waited for, from a provider that provided it
    for edge in rec.events(TaskUnblocked):
        assert edge.names <= meta.get_provides(edge.provider) & meta.get_requires(edge.task)
        assert got[edge.provider].excinfo is None or got[edge.provider].excinfo.val.deps_ok
    # every name a task that ran required was met by exactly one edge
    for task in got:
        met = [n for e in rec.events(TaskUnblocked) if e.task is task for n in e.names]
        assert sorted(met) == sorted(meta.get_requires(task))
    # skips agree with the end-of-run warning (which counts unmet deps only)
    deps_skips = [s for s in skips.values() if s.requires]
    for skip in skips.values():
        assert skip.cause and skip.requires <= meta.get_requires(skip.task)
        assert (skip.requires and skip.failed) or (skip.locks and skip.holders)
    messages = [str(w.message) for w in caught]
    if deps_skips:
        assert SKIP_MSG.format(len(deps_skips)) in messages
    end = rec.ended()
    assert end.skipped == len(skips) and not end.cancelled and end.error is None
