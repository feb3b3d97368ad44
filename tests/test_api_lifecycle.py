"""Repeated runs, concurrent runs, and stopping a run at any time.

The autouse fixture in conftest checks after every test that no thread, child
process or actor is left; the tests here also check right away that no worker
process is still running when control returns to the caller.
"""

from __future__ import annotations

import gc
import time

import pytest
from helpers import (
    EVENT_TIMEOUT,
    end_messages,
    expected_end_messages,
    new_event,
    new_pool,
    pexen_messages,
    recorded_warnings,
    returning,
    run_all,
    tagged,
    task_names,
)

from pexen import sched
from pexen.sched import meta


def _many(n, prefix="t"):
    return [returning(f"{prefix}{i}") for i in range(n)]


def assert_no_running_workers(leak_snapshot):
    """No worker process of ours is still running (zombies are checked later)."""
    extra = leak_snapshot.extra_children(include_zombies=False)
    assert extra == [], f"worker processes still running after the run stopped: {extra}"


# ---------------------------------------------------------------- repeating


def test_run_again_runs_everything_again(pool_kind):
    tasks = _many(5)
    s = sched.Sched(tasks)
    first = list(s.run(new_pool(pool_kind)))
    second = list(s.run(new_pool(pool_kind)))
    assert (
        sorted(task_names(first)) == sorted(task_names(second)) == sorted(t.__name__ for t in tasks)
    )


def test_run_again_includes_tasks_added_in_between(pool_kind):
    a = returning("a", provides=["x"])
    b = returning("b", requires=["x"])
    c = returning("c")
    s = sched.Sched([a, b])
    assert sorted(task_names(s.run(new_pool(pool_kind)))) == ["a", "b"]
    s.add_tasks([c])
    assert sorted(task_names(s.run(new_pool(pool_kind)))) == ["a", "b", "c"]


def test_same_pool_object_for_consecutive_runs(pool):
    s = sched.Sched(_many(4))
    assert len(list(s.run(pool))) == 4
    assert len(list(s.run(pool))) == 4


def test_run_while_another_run_is_active(pool_kind):
    s = sched.Sched(_many(6))
    gen = s.run(new_pool(pool_kind, workers=1))
    try:
        next(gen)
        with pytest.raises(sched.SchedulerError):
            next(iter(s.run(new_pool(pool_kind))))
        with pytest.raises(sched.SchedulerError):
            next(iter(s.run()))
    finally:
        gen.close()
    # the first run was cancelled; a new one runs the whole set
    assert len(list(s.run(new_pool(pool_kind)))) == 6


def test_two_schedulers_may_run_at_once(pool_kind):
    s1 = sched.Sched(_many(3, "a"))
    s2 = sched.Sched(_many(3, "b"))
    g1 = s1.run(new_pool(pool_kind))
    g2 = s2.run(new_pool(pool_kind))
    try:
        out = [next(g1), next(g2)]
        out += list(g1) + list(g2)
    finally:
        g1.close()
        g2.close()
    assert sorted(task_names(out)) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_run_after_exhausted_generator_finished(pool):
    s = sched.Sched(_many(3))
    gen = s.run(pool)
    assert len(list(gen)) == 3
    assert list(gen) == []
    assert len(list(s.run())) == 3


# ------------------------------------------------------------------ stopping


def test_break_after_first_result(pool, leak_snapshot):
    s = sched.Sched(_many(20))
    for res in s.run(pool):
        assert res.excinfo is None
        break
    assert_no_running_workers(leak_snapshot)


@pytest.mark.parametrize("after", [1, 10, 50])
def test_break_mid_run(after, pool_kind, leak_snapshot):
    s = sched.Sched(_many(200))
    seen = 0
    for _res in s.run(new_pool(pool_kind, workers=2, spare=2)):
        seen += 1
        if seen == after:
            break
    assert seen == after
    assert_no_running_workers(leak_snapshot)


def test_close_the_generator(pool, leak_snapshot):
    gen = sched.Sched(_many(30)).run(pool)
    next(gen)
    next(gen)
    gen.close()
    assert_no_running_workers(leak_snapshot)
    with pytest.raises(StopIteration):
        next(gen)


def _flagging(pool_kind, n):
    """``n`` tasks that each set one event when they run, and the events."""
    events = [new_event(pool_kind) for _ in range(n)]

    def make(i):
        def flag(*, ev):
            ev.set()
            return f"f{i}"

        return tagged(f"f{i}", flag, kwargs={"ev": events[i]})

    return [make(i) for i in range(n)], events


def test_close_before_first_result(pool_kind, leak_snapshot):
    # a generator closed before it started runs nothing and holds nothing:
    # the scheduler and the pool are free for the next run
    tasks, events = _flagging(pool_kind, 5)
    s = sched.Sched(tasks)
    pool = new_pool(pool_kind)
    gen = s.run(pool)
    gen.close()
    assert_no_running_workers(leak_snapshot)
    assert [ev.is_set() for ev in events] == [False] * 5, "a task ran"
    with pytest.raises(StopIteration):
        next(gen)
    assert s.status().active is False
    assert sorted(task_names(s.run(pool))) == [f"f{i}" for i in range(5)]
    assert all(ev.is_set() for ev in events)


def test_generator_dropped_without_iterating(pool_kind, leak_snapshot):
    tasks, events = _flagging(pool_kind, 5)
    s = sched.Sched(tasks)
    pool = new_pool(pool_kind)
    gen = s.run(pool)
    del gen
    gc.collect()
    assert_no_running_workers(leak_snapshot)
    assert [ev.is_set() for ev in events] == [False] * 5, "a task ran"
    assert s.status().active is False
    # neither the scheduler nor the pool is left claimed by the dropped run
    assert sorted(task_names(s.run(pool))) == [f"f{i}" for i in range(5)]
    assert all(ev.is_set() for ev in events)


def test_exception_in_loop_body(pool, leak_snapshot):
    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        for _res in sched.Sched(_many(30)).run(pool):
            raise Stop
    assert_no_running_workers(leak_snapshot)


def test_keyboard_interrupt_in_loop_body(pool, leak_snapshot):
    with pytest.raises(KeyboardInterrupt):
        for _res in sched.Sched(_many(30)).run(pool):
            raise KeyboardInterrupt
    assert_no_running_workers(leak_snapshot)


def test_break_with_dependencies_and_locks_pending(pool, leak_snapshot):
    root = returning("root", provides=["x"], claims=["r"])
    rest = [returning(f"d{i}", requires=["x"], claims=["r"]) for i in range(20)]
    gen = sched.Sched([root, *rest]).run(pool)
    first = next(gen)
    assert first.task is root
    gen.close()
    assert_no_running_workers(leak_snapshot)


def test_break_after_a_failure_with_warnings_pending(pool_kind, leak_snapshot):
    # The end-of-run warnings report a run that ended; a run left early was
    # cancelled and did not end: no warning, even with a skip and a held lock
    # already certain when the caller breaks.
    def fails():
        raise ValueError

    meta.assign_val(fails, provides=["x"], claims=["r"], priority=-1)
    dep = returning("dep", requires=["x"])
    others = _many(10)
    s = sched.Sched([fails, dep, *others])
    _, msgs = run_all(s, new_pool(pool_kind))
    assert end_messages(msgs) == expected_end_messages(skipped=1, locks=1)

    with recorded_warnings() as rec:
        gen = s.run(new_pool(pool_kind))
        for res in gen:
            if res.task is fails:
                break
        gen.close()
    assert res.task is fails and res.excinfo is not None
    assert pexen_messages(rec) == []
    assert_no_running_workers(leak_snapshot)


def test_break_while_tasks_are_running(pool_kind, leak_snapshot):
    # when the caller stops, other tasks are running (waiting for an event
    # that is set after the break) and more are queued
    ev = new_event(pool_kind)

    @meta.func_meta(priority=-1)
    def first():
        return "first"

    def make(i):
        @meta.func_meta(kwargs={"ev": ev})
        def waiter(*, ev):
            return (i, ev.wait(EVENT_TIMEOUT))

        return waiter

    tasks = [first, *(make(i) for i in range(6))]
    gen = sched.Sched(tasks).run(new_pool(pool_kind, workers=2, spare=1))
    try:
        for res in gen:
            if res.task is first:
                break
    finally:
        ev.set()
        gen.close()
    assert_no_running_workers(leak_snapshot)


@pytest.mark.timeout(40)
def test_break_while_a_process_task_hangs(leak_snapshot):
    # a process worker stuck in a task is stopped when the caller breaks out
    @meta.func_meta(priority=1)
    def hangs():
        time.sleep(3600)

    @meta.func_meta(priority=0)
    def quick():
        return "quick"

    gen = sched.Sched([quick, hangs]).run(new_pool("process", workers=2))
    for res in gen:
        assert res.task is quick
        break
    gen.close()
    assert_no_running_workers(leak_snapshot)


def test_scheduler_usable_after_break(pool_kind):
    s = sched.Sched(_many(10))
    for _ in s.run(new_pool(pool_kind)):
        break
    assert len(list(s.run(new_pool(pool_kind)))) == 10
