"""Cancellation, live additions, introspection and the bounded backlog.

- Leaving the ``run()`` loop (``break``, ``close()``, an exception,
  ``KeyboardInterrupt``) or calling ``Sched.cancel()`` from another thread
  stops the run: nothing new is dispatched, running process tasks are
  killed, and nothing of the run is alive when control returns.
- ``add_tasks()`` during a run adds to that run.
- ``Sched.status()`` is an immutable snapshot of the run.
- A slow consumer throttles the run through ``run(..., backlog=N)``.

Tasks that must stay running block on an event the test controls, so that
the states observed are deterministic; the autouse fixture of conftest checks
that no thread, process or actor is left after each test.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

import pytest
from helpers import (
    EVENT_TIMEOUT,
    by_task,
    end_messages,
    expected_end_messages,
    named,
    new_event,
    new_pool,
    pexen_messages,
    recorded_warnings,
    returning,
    task_names,
)

from pexen import sched
from pexen.sched import meta
from pexen.sched.status import HeldLock, RunningTask, RunStatus, WaitingTask

#: A process task meant to be killed by a cancel sleeps this long: far longer
#: than any test's hang guard, so a cancel that waits for it shows.
HANG = 120

POLL = 0.005


def wait_for(predicate, timeout: float = EVENT_TIMEOUT, what: str = "a state"):
    """Poll ``predicate()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(POLL)


def blocker(name: str, ev, **fields):
    """A task that waits for ``ev`` (given through kwargs), then returns its name."""

    def task(*, ev):
        return (name, ev.wait(EVENT_TIMEOUT))

    named(name, task)
    meta.assign_val(task, kwargs={"ev": ev}, **fields)
    return task


def sleeper(name: str, **fields):
    """A process task that sleeps until it is killed."""

    def task():
        time.sleep(HANG)
        return name

    named(name, task)
    if fields:
        meta.assign_val(task, **fields)
    return task


def file_blocker(name: str, path, **fields):
    """A task that waits until ``path`` exists (from any process), then returns."""

    def task():
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(POLL)
        return name

    named(name, task)
    if fields:
        meta.assign_val(task, **fields)
    return task


def marker(name: str, directory, **fields):
    """A task that leaves a file behind when it starts (visible from any process)."""
    path = directory / name

    def task():
        path.write_text("started")
        return name

    named(name, task)
    if fields:
        meta.assign_val(task, **fields)
    return task


def started_markers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def running_started(status: RunStatus) -> set:
    return {r.task for r in status.running if r.started is not None}


# ------------------------------------------------------------ cancellation

HOW_TO_LEAVE = ("break", "close", "exception", "keyboard_interrupt")


def consume_then_leave(s, pool, how: str, first, leaving=None) -> tuple[list, float]:
    """Iterate ``s.run(pool)`` and leave the loop at ``first``'s result.

    ``leaving`` (an Event) is set just before. Returns the results seen and
    how long leaving took (seconds).
    """
    leaving = leaving or threading.Event()
    seen = []
    t0 = None
    if how == "break":
        for res in s.run(pool):  # the generator is dropped at the break
            seen.append(res)
            if res.task is first:
                leaving.set()
                t0 = time.perf_counter()
                break
    elif how == "close":
        gen = s.run(pool)
        for res in gen:
            seen.append(res)
            if res.task is first:
                leaving.set()
                t0 = time.perf_counter()
                gen.close()
    elif how == "exception":
        with pytest.raises(RuntimeError, match="the consumer failed"):
            for res in s.run(pool):
                seen.append(res)
                if res.task is first:
                    leaving.set()
                    t0 = time.perf_counter()
                    raise RuntimeError("the consumer failed")
    elif how == "keyboard_interrupt":
        with pytest.raises(KeyboardInterrupt):
            for res in s.run(pool):
                seen.append(res)
                if res.task is first:
                    leaving.set()
                    t0 = time.perf_counter()
                    raise KeyboardInterrupt
    else:
        raise ValueError(how)
    assert t0 is not None, "the first task's result never came"
    return seen, time.perf_counter() - t0


def release_when_left(s, leaving, ev) -> threading.Thread:
    """A thread that sets ``ev`` once the caller is leaving and the run is over.

    A thread task cannot be interrupted: a cancelled thread-pool run waits for
    its running tasks, so those are released only after the run was left.
    """

    def watch():
        try:
            assert leaving.wait(EVENT_TIMEOUT), "the caller never left the loop"
            wait_for(lambda: not s.status().active, what="the run to stop")
        finally:
            ev.set()

    thread = threading.Thread(target=watch, name="test-release-when-inactive")
    thread.start()
    return thread


@pytest.mark.timeout(30)
@pytest.mark.parametrize("how", HOW_TO_LEAVE)
def test_leaving_the_loop_cancels_the_run(how, pool_kind, tmp_path, leak_snapshot):
    # workers=2, spare=1: `first` ends, two tasks are stuck (sleeping until
    # killed, or, on threads, waiting until the run was left), the rest can
    # only start once a stuck task ends
    first = returning("first", priority=-2)
    markers = [marker(f"m{i:02}", tmp_path, priority=0) for i in range(20)]
    ev = threading.Event()
    if pool_kind == "process":
        stuck = [sleeper("stuck1", priority=-1), sleeper("stuck2", priority=-1)]
    else:
        stuck = [blocker("stuck1", ev, priority=-1), blocker("stuck2", ev, priority=-1)]
    s = sched.Sched([first, *stuck, *markers])
    pool = new_pool(pool_kind, workers=2, spare=1)
    leaving = threading.Event()
    releaser = release_when_left(s, leaving, ev) if pool_kind == "thread" else None
    try:
        with recorded_warnings() as rec:
            seen, took = consume_then_leave(s, pool, how, first, leaving)
    finally:
        ev.set()
        if releaser is not None:
            releaser.join()
    print(f"\nleaving by {how} ({pool_kind}) took {took * 1000:.1f} ms")
    assert task_names(seen) == ["first"]
    assert pexen_messages(rec) == []
    assert not s.status().active
    if pool_kind == "process":
        # the stuck tasks were killed, not waited for, and nothing else began
        assert leak_snapshot.extra_children(include_zombies=False) == []
        assert started_markers(tmp_path) == []
    else:
        # a thread pool lets the tasks it already runs finish; tasks handed
        # out ahead may still begin, but no new dispatch happens
        assert len(started_markers(tmp_path)) <= pool.workers + pool.spare


@pytest.mark.timeout(30)
def test_scheduler_and_pool_usable_after_cancel(pool_kind, tmp_path):
    ev = threading.Event()
    first = returning("first", priority=-1)
    if pool_kind == "process":
        # not a multiprocessing.Event: killing a process inside its wait()
        # leaves the event unusable (set() then blocks for good)
        stuck = file_blocker("stuck", tmp_path / "release")
    else:
        stuck = blocker("stuck", ev)
    s = sched.Sched([first, stuck])
    pool = new_pool(pool_kind, workers=2)
    leaving = threading.Event()
    releaser = release_when_left(s, leaving, ev) if pool_kind == "thread" else None
    try:
        for res in s.run(pool):
            assert res.task is first
            leaving.set()
            break
    finally:
        ev.set()
        (tmp_path / "release").write_text("go")
        if releaser is not None:
            releaser.join()
    # the same scheduler and pool run again, to the end (stuck is released now)
    results = list(s.run(pool))
    assert sorted(task_names(results)) == ["first", "stuck"]


def _cancel_scenario(pool_kind):
    """Tasks for cancel(): a failure that would warn, quick tasks, two stuck, more."""
    ev = new_event("thread")  # only thread tasks wait on it
    fail = named("fail", lambda: 1 / 0)
    meta.assign_val(fail, provides=["x"], claims=["L"], priority=-3)
    dep = returning("dep", requires=["x"])  # would be skipped: a warning
    quick = [returning(f"q{i}", priority=-2) for i in range(3)]
    if pool_kind == "process":
        stuck = [sleeper("stuck1", priority=-1), sleeper("stuck2", priority=-1)]
    else:
        stuck = [blocker("stuck1", ev, priority=-1), blocker("stuck2", ev, priority=-1)]
    later = [returning(f"later{i}") for i in range(5)]
    return ev, fail, dep, quick, stuck, later


@pytest.mark.timeout(30)
def test_cancel_from_another_thread(pool_kind, leak_snapshot):
    ev, fail, dep, quick, stuck, later = _cancel_scenario(pool_kind)
    s = sched.Sched([fail, dep, *quick, *stuck, *later])
    problems = []

    def cancel_when_stuck():
        try:
            # both stuck tasks run, and the four before them were reported
            wait_for(
                lambda: (st := s.status()).finished == 4 and running_started(st) == set(stuck),
                what="both stuck tasks running",
            )
        except AssertionError as exc:
            problems.append(exc)
        finally:
            s.cancel()
            ev.set()  # thread tasks cannot be killed: let them end

    canceller = None
    results = []
    try:
        with recorded_warnings() as rec:
            # spare=0: a task goes to a worker only when it is free, so both
            # stuck tasks start. The canceller is started from the loop body:
            # the process pool has forked by then.
            for res in s.run(new_pool(pool_kind, workers=2, spare=0)):
                results.append(res)
                if canceller is None:
                    canceller = threading.Thread(target=cancel_when_stuck, name="test-canceller")
                    canceller.start()
    finally:
        ev.set()
        if canceller is not None:
            canceller.join()
    assert problems == []
    # the generator ended after what had finished: nothing of the stuck
    # tasks, nothing later, and no end-of-run warning
    assert sorted(task_names(results)) == ["fail", "q0", "q1", "q2"]
    assert by_task(results)[fail].excinfo.type is ZeroDivisionError
    assert pexen_messages(rec) == []
    assert not s.status().active
    if pool_kind == "process":
        assert leak_snapshot.extra_children(include_zombies=False) == []


def test_cancel_without_a_run_does_nothing(pool):
    s = sched.Sched([returning("a")])
    s.cancel()
    assert task_names(s.run(pool)) == ["a"]
    s.cancel()
    assert task_names(s.run(pool)) == ["a"]


@pytest.mark.timeout(30)
def test_cancel_from_the_loop_body(pool_kind):
    ev = threading.Event()
    first = returning("first", priority=-1)
    if pool_kind == "process":
        stuck = sleeper("stuck", provides=["s"])
    else:
        stuck = blocker("stuck", ev, provides=["s"])
    # while the caller handles a result the run goes on: the rest waits for
    # stuck, so that nothing else can finish before the cancel
    rest = [returning(f"r{i}", requires=["s"]) for i in range(10)]
    s = sched.Sched([first, stuck, *rest])
    results = []
    try:
        with recorded_warnings() as rec:
            for res in s.run(new_pool(pool_kind, workers=2, spare=0)):
                results.append(res)
                if res.task is first:
                    s.cancel()
                    ev.set()
    finally:
        ev.set()
    assert task_names(results) == ["first"]
    assert pexen_messages(rec) == []


@pytest.mark.timeout(30)
def test_hundred_tasks_cancelled_halfway(pool_kind, leak_snapshot):
    tasks = [returning(f"t{i:03}", i) for i in range(100)]
    s = sched.Sched(tasks)
    results = []
    for res in s.run(new_pool(pool_kind, workers=2)):
        results.append(res)
        if len(results) == 50:
            break
    assert len(results) == 50
    assert len(by_task(results)) == 50
    assert all(r.excinfo is None and r.ret == tasks.index(r.task) for r in results)
    assert not s.status().active
    if pool_kind == "process":
        assert leak_snapshot.extra_children(include_zombies=False) == []


@pytest.mark.timeout(60)
def test_measure_cancel_latency_process_pool():
    # not a performance assertion: printed for the record (pytest -s)
    pool = new_pool("process", workers=2, spare=1)
    first = returning("first", priority=-1)
    stuck = [sleeper("stuck1"), sleeper("stuck2")]
    s = sched.Sched([first, *stuck])
    took = []
    for _ in range(20):
        gen = s.run(pool)
        res = next(gen)
        assert res.task is first
        wait_for(lambda: running_started(s.status()) == set(stuck), what="both tasks running")
        t0 = time.perf_counter()
        gen.close()
        took.append(time.perf_counter() - t0)
    median = statistics.median(took)
    print(
        f"\ncancel (gen.close() with 2 process tasks running), 20 runs: "
        f"median {median * 1000:.1f} ms, min {min(took) * 1000:.1f} ms, "
        f"max {max(took) * 1000:.1f} ms"
    )


# ---------------------------------------------------------- live additions


def test_add_from_the_loop_body(pool):
    a = returning("a", provides=["x"], priority=-1)
    b = returning("b", requires=["x"])
    late = returning("late", requires=["x"])  # x was provided already in this run
    other = returning("other")
    s = sched.Sched([a, b])
    results = []
    with recorded_warnings() as rec:
        for res in s.run(pool):
            results.append(res)
            if res.task is a:
                s.add_tasks([late, other])
    assert sorted(task_names(results)) == ["a", "b", "late", "other"]
    assert all(r.excinfo is None for r in results)
    assert end_messages(pexen_messages(rec)) == []
    # the added tasks stay in the scheduler for the next run
    assert sorted(task_names(s.run(pool))) == ["a", "b", "late", "other"]


def test_live_addition_gets_shared_state_of_what_it_requires(pool):
    @meta.func_meta(provides=["x"], priority=-1)
    def a(shared):
        shared["from_a"] = "hello"

    @meta.func_meta(requires=["x"])
    def b(shared):
        return shared.get("from_a")

    @meta.func_meta(requires=["x"])
    def late(shared):
        return shared.get("from_a")

    def unrelated(shared):
        return shared.get("from_a", "untouched")

    s = sched.Sched([a, b])
    results = []
    for res in s.run(pool):
        results.append(res)
        if res.task is a:  # x is provided already
            s.add_tasks([late, unrelated])
    res = by_task(results)
    assert res[b].ret == "hello"
    assert res[late].ret == "hello"
    assert res[unrelated].ret == "untouched"


@pytest.mark.timeout(30)
def test_live_additions_time_out_and_crash_like_the_others():
    # tasks added during a run reach the worker processes by cloudpickle;
    # their timeouts are enforced and their crashes contained all the same
    first = returning("first", priority=-1)
    s = sched.Sched([first, returning("second")])

    def late_hang():
        time.sleep(HANG)

    meta.assign_val(late_hang, timeout=0.3)

    def late_crash():
        import os

        os._exit(5)

    late_ok = returning("late_ok")
    results = []
    for res in s.run(new_pool("process", workers=2)):
        results.append(res)
        if res.task is first:
            s.add_tasks([late_hang, late_crash, late_ok])
    res = by_task(results)
    assert len(results) == 5
    assert res[late_hang].excinfo.type is sched.TaskTimeoutError
    assert res[late_crash].excinfo.type is sched.WorkerLostError
    assert "code 5" in str(res[late_crash].excinfo.val)
    assert res[late_ok].ret == "late_ok"


def test_added_tasks_can_provide_for_each_other(pool):
    a = returning("a")
    p = returning("p", provides=["y"])
    c = returning("c", requires=["y"])
    s = sched.Sched([a])
    results = []
    for res in s.run(pool):
        results.append(res)
        if res.task is a:
            s.add_tasks([p, c])
    assert task_names(results)[0] == "a"
    assert sorted(task_names(results)) == ["a", "c", "p"]
    assert task_names(results).index("p") < task_names(results).index("c")


def test_tasks_added_while_handling_the_last_result_run(pool):
    chain = [returning(f"c{i}") for i in range(6)]
    s = sched.Sched(chain[:1])
    results = []
    for res in s.run(pool):
        results.append(res)
        # each time, this is the only task of the run, and it has ended
        i = chain.index(res.task)
        if i + 1 < len(chain):
            s.add_tasks([chain[i + 1]])
    assert task_names(results) == [t.__name__ for t in chain]


def test_add_while_handling_the_last_result_with_a_dependency(pool):
    a = returning("a", provides=["x"])
    b = returning("b", requires=["x"])
    s = sched.Sched([a, b])
    late = returning("late", requires=["x"])
    results = []
    for res in s.run(pool):
        results.append(res)
        if res.task is b:  # the last result: a ended before b started
            s.add_tasks([late])
    assert task_names(results) == ["a", "b", "late"]


@pytest.mark.timeout(30)
def test_add_from_another_thread_while_busy(pool_kind):
    ev = new_event(pool_kind)
    first = returning("first", provides=["x"], priority=-1)
    busy = blocker("busy", ev)
    needs_first = returning("needs_first", requires=["x"])
    s = sched.Sched([first, busy, needs_first])
    late = returning("late", requires=["x"])  # provided already in this run
    late2 = returning("late2", provides=["z"])
    late3 = returning("late3", requires=["z"])
    problems = []

    def add():
        try:
            s.add_tasks([late, late2, late3])
        except Exception as exc:
            problems.append(exc)
        finally:
            ev.set()  # only now may the run end

    adder = None
    results = []
    try:
        for res in s.run(new_pool(pool_kind, workers=2)):
            results.append(res)
            if adder is None:  # the pool has started (a process pool forked)
                adder = threading.Thread(target=add, name="test-adder")
                adder.start()
    finally:
        ev.set()
        if adder is not None:
            adder.join()
    assert problems == []
    names = task_names(results)
    assert sorted(names) == ["busy", "first", "late", "late2", "late3", "needs_first"]
    assert names.index("late2") < names.index("late3")
    assert by_task(results)[busy].ret == ("busy", True)
    assert all(r.excinfo is None for r in results)


def test_live_addition_validation_errors_change_nothing(pool):
    a = returning("a", provides=["x"], priority=-1)
    b = returning("b", requires=["x"])
    s = sched.Sched([a, b])
    good = returning("good")
    good2 = returning("good2")
    needs_nothing_provides = returning("needs_nope", requires=["nope"])
    mutex = returning("mutex", claims=["r"], uses=["r"])
    bad_priority = returning("bad_priority", priority="high")
    errors = []
    results = []
    for res in s.run(pool):
        results.append(res)
        if res.task is a:
            with pytest.raises(sched.DepcheckError) as exc_info:
                s.add_tasks([good, needs_nothing_provides])
            assert "nope" in str(exc_info.value)
            with pytest.raises(sched.MutexError):
                s.add_tasks([good, mutex])
            with pytest.raises((TypeError, sched.SchedulerError)):
                s.add_tasks([good2, "not callable"])
            with pytest.raises((TypeError, sched.SchedulerError)):
                s.add_tasks([good2, bad_priority])
            s.add_tasks([a, b])  # already there: added no second time
            errors.append("checked")
    assert errors == ["checked"]
    assert task_names(results) == ["a", "b"]
    # nothing was added for later runs either
    assert task_names(s.run(pool)) == ["a", "b"]


# ----------------------------------------------------------- introspection


def test_status_without_a_run(pool):
    s = sched.Sched([returning("a")])
    before = s.status()
    assert isinstance(before, RunStatus)
    assert before == RunStatus(active=False)
    assert before.active is False
    assert before.running == before.ready == before.waiting_deps == ()
    assert before.waiting_locks == before.held_locks == ()
    assert before.finished == 0
    list(s.run(pool))
    assert s.status() == RunStatus(active=False)
    assert sched.Sched().status().active is False


def _status_scenario(pool_kind):
    ev = new_event(pool_kind)
    early = returning("early", priority=-1)
    r1 = blocker("r1", ev, claims=["A"], provides=["p"])
    r2 = blocker("r2", ev, uses=["B"])
    wl = returning("wl", claims=["A"], priority=1)
    rdy1 = returning("rdy1", priority=2)
    rdy2 = returning("rdy2", priority=2)
    dep = returning("dep", requires=["p"])
    return ev, early, r1, r2, wl, rdy1, rdy2, dep


@pytest.mark.timeout(30)
def test_status_during_a_run(pool_kind):
    # workers=2, spare=1: when things settle, r1 and r2 run (blocked on ev,
    # holding A and B), rdy1 waits at a worker behind one of them, rdy2 is
    # ready, wl waits for A, dep waits for p, early has finished
    ev, early, r1, r2, wl, rdy1, rdy2, dep = _status_scenario(pool_kind)
    s = sched.Sched([early, r1, r2, wl, rdy1, rdy2, dep])

    def settled():
        st = s.status()
        ok = (
            st.finished == 1
            and running_started(st) == {r1, r2}
            and len(st.running) == 3
            and st.ready == (rdy2,)
            and len(st.waiting_locks) == 1
        )
        return st if ok else None

    seen = {}
    results = []
    other = None
    try:
        for res in s.run(new_pool(pool_kind, workers=2, spare=1)):
            results.append(res)
            if res.task is not early:
                continue
            # from the loop body, while the caller holds the first result
            st = wait_for(settled, what="the run to settle")
            seen["loop"] = st
            before = time.monotonic()

            def from_thread():
                seen["thread"] = s.status()

            other = threading.Thread(target=from_thread, name="test-status")
            other.start()
            other.join(EVENT_TIMEOUT)
            seen["again"] = s.status()
            ev.set()
    finally:
        ev.set()
        if other is not None:
            other.join()

    st = seen["loop"]
    assert st.active is True
    by_task_running = {r.task: r for r in st.running}
    assert set(by_task_running) == {r1, r2, rdy1}
    assert all(isinstance(r, RunningTask) for r in st.running)
    assert {by_task_running[r1].worker, by_task_running[r2].worker} == {0, 1}
    assert by_task_running[rdy1].worker in (0, 1)
    assert by_task_running[rdy1].started is None  # handed out, not begun
    for t in (r1, r2):
        assert isinstance(by_task_running[t].started, float)
        assert by_task_running[t].started <= before
    assert st.ready == (rdy2,)
    assert st.waiting_deps == (dep,)
    assert st.waiting_locks == (WaitingTask(wl, frozenset(), frozenset({"A"})),)
    assert sorted(st.held_locks, key=lambda h: h.resource) == [
        HeldLock("A", "claims", (r1,)),
        HeldLock("B", "uses", (r2,)),
    ]
    assert st.finished == 1
    # the same from another thread, and a moment later: nothing moved
    assert seen["thread"] == st
    assert seen["again"] == st
    # the run went on to the end
    assert sorted(task_names(results)) == ["dep", "early", "r1", "r2", "rdy1", "rdy2", "wl"]
    assert s.status() == RunStatus(active=False)
    # a snapshot is kept as it was
    assert st.finished == 1 and st.ready == (rdy2,)


def test_status_is_immutable(pool_kind):
    ev = new_event(pool_kind)
    first = returning("first", priority=-1)
    held = blocker("held", ev, claims=["A"])
    waits = returning("waits", claims=["A"])
    s = sched.Sched([first, held, waits])
    snapshots = []
    try:
        for res in s.run(new_pool(pool_kind, workers=2)):
            if res.task is first:
                snapshots.append(
                    wait_for(
                        lambda: (
                            running_started(st := s.status()) == {held}
                            and st.held_locks
                            and st.waiting_locks
                            and st
                        ),
                        what="a running lock holder and a waiting task",
                    )
                )
                ev.set()
    finally:
        ev.set()
    (st,) = snapshots
    assert dataclasses.is_dataclass(st)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.finished = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.active = False
    assert isinstance(st.running, tuple) and isinstance(st.held_locks, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.running[0].worker = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.held_locks[0].holders = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.waiting_locks[0].claims = frozenset()
    assert isinstance(st.held_locks[0].holders, tuple)
    assert isinstance(st.waiting_locks[0].claims, frozenset)
    assert st.held_locks == (HeldLock("A", "claims", (held,)),)
    assert st.waiting_locks == (WaitingTask(waits, frozenset(), frozenset({"A"})),)


@pytest.mark.timeout(30)
def test_status_counts_a_crash_and_its_held_lock():
    ev = new_event("process")
    crash = named("crash", lambda: __import__("os")._exit(3))
    meta.assign_val(crash, claims=["A"], provides=["x"], priority=-1)
    keep = blocker("keep", ev)
    dep = returning("dep", requires=["x"])
    waits = returning("waits", claims=["A"])
    s = sched.Sched([crash, keep, dep, waits])
    seen = []
    with recorded_warnings() as rec:
        try:
            for res in s.run(new_pool("process", workers=2)):
                if res.task is crash:
                    seen.append(
                        wait_for(
                            lambda: (st := s.status()).waiting_locks and st,
                            what="waits to queue for A",
                        )
                    )
                    ev.set()
        finally:
            ev.set()
    (st,) = seen
    assert st.finished == 1
    assert HeldLock("A", "claims", (crash,)) in st.held_locks
    assert dep in st.waiting_deps
    assert end_messages(pexen_messages(rec)) == expected_end_messages(skipped=1, locks=1)


# ------------------------------------------------------------ slow consumer


@pytest.mark.timeout(30)
def test_slow_consumer_bounds_the_backlog(pool_kind):
    backlog, workers, spare = 2, 2, 1
    tasks = [returning(f"t{i:02}", i) for i in range(30)]
    s = sched.Sched(tasks)
    held = []
    results = []
    for res in s.run(new_pool(pool_kind, workers=workers, spare=spare), backlog=backlog):
        results.append(res)
        if len(results) == 1:
            # hold the first result until dispatch has paused: nothing runs,
            # tasks are ready, and the count of finished tasks stays put
            st = wait_for(
                lambda: (st := s.status()).running == () and st.ready and st,
                what="dispatch to pause",
            )
            again = [s.status() for _ in range(20)]
            held.append(st)
            assert all(a.finished == st.finished and a.running == () for a in again)
    (st,) = held
    print(f"\nbacklog={backlog}: {st.finished} tasks finished while the consumer held")
    assert 1 <= st.finished <= backlog + workers + spare
    assert len(st.ready) == 30 - st.finished
    assert sorted(task_names(results)) == sorted(t.__name__ for t in tasks)
    assert [r.ret for r in sorted(results, key=lambda r: r.ret)] == list(range(30))


def test_backlog_must_be_a_positive_int(pool):
    s = sched.Sched([returning("a")])
    for bad in (0, -1, 1.5, "2", None):
        with pytest.raises((ValueError, TypeError)):
            s.run(pool, backlog=bad)
    assert task_names(s.run(pool, backlog=1)) == ["a"]


def test_backlog_one_runs_everything(pool):
    tasks = [returning(f"t{i:02}") for i in range(20)]
    results = list(sched.Sched(tasks).run(pool, backlog=1))
    assert sorted(task_names(results)) == sorted(t.__name__ for t in tasks)
