"""``Sched.add_tasks()`` during a run adds to that run.

From the loop body or another thread; added tasks get the shared state of
what they require, may provide for each other, time out and crash like the
others, and a refused addition changes nothing.
"""

from __future__ import annotations

import threading
import time

import pytest
from helpers import (
    HANG,
    blocker,
    by_task,
    end_messages,
    new_event,
    new_pool,
    pexen_messages,
    recorded_warnings,
    returning,
    task_names,
)

from pexen import sched
from pexen.sched import meta


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
            with pytest.raises(
                sched.MutexError, match=r"mutex.* has {'r'} in both claims and uses"
            ):
                s.add_tasks([good, mutex])
            with pytest.raises(TypeError, match=r"^Task 'not callable' is not callable$"):
                s.add_tasks([good2, "not callable"])
            with pytest.raises(
                TypeError, match=r"^Task .*bad_priority.*: priority 'high' cannot be compared with "
            ):
                s.add_tasks([good2, bad_priority])
            s.add_tasks([a, b])  # already there: added no second time
            errors.append("checked")
    assert errors == ["checked"]
    assert task_names(results) == ["a", "b"]
    # nothing was added for later runs either
    assert task_names(s.run(pool)) == ["a", "b"]


@pytest.mark.timeout(30)
def test_a_thread_task_added_with_a_timeout_after_tasks_without_one_is_abandoned():
    # the thread workers ran tasks before any timeout existed in the run; the
    # one added later times out, and the task after it still runs once
    first = returning("first", priority=-1)
    ev = threading.Event()
    late_hang = blocker("late_hang", ev, timeout=0.3)
    late_ok = returning("late_ok")
    s = sched.Sched([first, returning("second")])
    results = []
    try:
        for res in s.run(new_pool("thread", workers=2)):
            results.append(res)
            if res.task is first:
                s.add_tasks([late_hang, late_ok])
    finally:
        ev.set()  # lets the abandoned thread end
    res = by_task(results)
    assert len(results) == 4
    assert res[late_hang].excinfo.type is sched.TaskTimeoutError
    assert res[late_ok].ret == "late_ok"
