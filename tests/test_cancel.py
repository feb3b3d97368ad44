"""Cancellation: leaving the ``run()`` loop or calling ``Sched.cancel()``.

Leaving the loop (``break``, ``close()``, an exception, ``KeyboardInterrupt``)
or calling ``Sched.cancel()`` (from the loop body or another thread) stops the
run: nothing new is dispatched, running process tasks are killed, running
thread tasks (which cannot be killed) are waited for, and nothing of the run
is alive when control returns.

Tasks that must stay running block on an event the test controls (or sleep
until killed, on processes), so that the states observed are deterministic;
the autouse fixture of conftest checks that no thread, process or actor is
left after each test.
"""

from __future__ import annotations

import threading
import time

import pytest
from helpers import (
    EVENT_TIMEOUT,
    blocker,
    by_task,
    ending_blocker,
    file_blocker,
    marker,
    new_event,
    new_pool,
    pexen_messages,
    recorded_warnings,
    returning,
    running_started,
    sleeper,
    started_markers,
    tagged,
    task_names,
    wait_for,
)

from pexen import sched

HOW_TO_LEAVE = ("break", "close", "exception", "keyboard_interrupt")


def consume_then_leave(s, pool, how: str, first, leaving=None, settle=None) -> tuple[list, float]:
    """Iterate ``s.run(pool)`` and leave the loop at ``first``'s result.

    There, ``settle()`` (when given) is called first, then ``leaving`` (an
    Event) is set. Returns the results seen and how long leaving took
    (seconds).
    """
    leaving = leaving or threading.Event()
    settle = settle or (lambda: None)
    seen = []
    t0 = None
    if how == "break":
        for res in s.run(pool):  # the generator is dropped at the break
            seen.append(res)
            if res.task is first:
                settle()
                leaving.set()
                t0 = time.perf_counter()
                break
    elif how == "close":
        gen = s.run(pool)
        for res in gen:
            seen.append(res)
            if res.task is first:
                settle()
                leaving.set()
                t0 = time.perf_counter()
                gen.close()
    elif how == "exception":
        with pytest.raises(RuntimeError, match="the consumer failed"):
            for res in s.run(pool):
                seen.append(res)
                if res.task is first:
                    settle()
                    leaving.set()
                    t0 = time.perf_counter()
                    raise RuntimeError("the consumer failed")
    elif how == "keyboard_interrupt":
        with pytest.raises(KeyboardInterrupt):
            for res in s.run(pool):
                seen.append(res)
                if res.task is first:
                    settle()
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
    ended: list[str] = []  # the thread tasks that returned
    if pool_kind == "process":
        stuck = [sleeper("stuck1", priority=-1), sleeper("stuck2", priority=-1)]
    else:
        stuck = [ending_blocker(f"stuck{i}", ev, ended, priority=-1) for i in (1, 2)]
    s = sched.Sched([first, *stuck, *markers])
    pool = new_pool(pool_kind, workers=2, spare=1)

    def both_stuck_running():
        # else a stuck task handed out but not begun is dropped, as it should
        wait_for(lambda: running_started(s.status()) == set(stuck), what="both stuck running")

    leaving = threading.Event()
    releaser = release_when_left(s, leaving, ev) if pool_kind == "thread" else None
    try:
        with recorded_warnings() as rec:
            seen, took = consume_then_leave(s, pool, how, first, leaving, both_stuck_running)
        ended_on_return = sorted(ended)
    finally:
        ev.set()
        if releaser is not None:
            releaser.join()
    print(f"\nleaving by {how} ({pool_kind}) took {took * 1000:.1f} ms")
    assert task_names(seen) == ["first"]
    assert pexen_messages(rec) == []
    assert not s.status().active
    # nothing else began: not even the task handed out ahead to a worker
    assert started_markers(tmp_path) == []
    if pool_kind == "process":
        # the stuck tasks were killed, not waited for
        assert leak_snapshot.extra_children(include_zombies=False) == []
    else:
        # a thread task cannot be killed: the run waited for both stuck
        # tasks (released only once the run had stopped) before returning
        assert ended_on_return == ["stuck1", "stuck2"]


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


def _cancel_scenario(pool_kind, directory, ended):
    """Tasks for cancel(): a failure that would warn, quick tasks, two stuck, more.

    The later tasks leave a marker in ``directory`` when they start; thread
    tasks that were stuck append their name to ``ended`` as they return.
    """
    ev = new_event("thread")  # only thread tasks wait on it
    fail = tagged("fail", lambda: 1 / 0, provides=["x"], claims=["L"], priority=-3)
    dep = returning("dep", requires=["x"])  # would be skipped: a warning
    quick = [returning(f"q{i}", priority=-2) for i in range(3)]
    if pool_kind == "process":
        stuck = [sleeper("stuck1", priority=-1), sleeper("stuck2", priority=-1)]
    else:
        stuck = [ending_blocker(f"stuck{i}", ev, ended, priority=-1) for i in (1, 2)]
    later = [marker(f"later{i}", directory) for i in range(5)]
    return ev, fail, dep, quick, stuck, later


@pytest.mark.timeout(30)
def test_cancel_from_another_thread(pool_kind, tmp_path, leak_snapshot):
    ended: list[str] = []
    ev, fail, dep, quick, stuck, later = _cancel_scenario(pool_kind, tmp_path, ended)
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
        ended_on_return = sorted(ended)
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
    assert started_markers(tmp_path) == []  # no later task began
    if pool_kind == "process":
        assert leak_snapshot.extra_children(include_zombies=False) == []
    else:  # released at the cancel, waited for before the run returned
        assert ended_on_return == ["stuck1", "stuck2"]


def test_cancel_without_a_run_does_nothing(pool):
    s = sched.Sched([returning("a")])
    s.cancel()
    assert task_names(s.run(pool)) == ["a"]
    s.cancel()
    assert task_names(s.run(pool)) == ["a"]


@pytest.mark.timeout(30)
def test_cancel_from_the_loop_body(pool_kind, leak_snapshot):
    ev = threading.Event()
    ended: list[str] = []  # the thread task that returned
    first = returning("first", priority=-1)
    if pool_kind == "process":
        stuck = sleeper("stuck", provides=["s"])
    else:
        stuck = ending_blocker("stuck", ev, ended, provides=["s"])
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
                    wait_for(lambda: running_started(s.status()) == {stuck}, what="stuck running")
                    s.cancel()
                    ev.set()
        ended_on_return = list(ended)
    finally:
        ev.set()
    assert task_names(results) == ["first"]
    assert pexen_messages(rec) == []
    assert not s.status().active
    if pool_kind == "process":  # stuck was killed, not waited for
        assert leak_snapshot.extra_children(include_zombies=False) == []
    else:  # a thread cannot be killed: released at the cancel, waited for
        assert ended_on_return == ["stuck"]


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
