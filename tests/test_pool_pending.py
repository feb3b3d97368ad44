"""The standalone pool API: what empty()/full() count, and how submissions run.

As in the legacy, ``empty()`` and ``full()`` count the tasks submitted whose
result the caller has not yet taken from ``iter_results()``; a task that has
ended counts until its result is yielded. Each submission is a run of its own
of the task's callable with its kwargs: deps and locks of the metadata play no
part, and a process pool runs a registered task from the table its workers
inherited (nothing pickled).
"""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from helpers import EVENT_TIMEOUT, blocker, new_event, new_pool, returning, tagged


@pytest.mark.timeout(30)
def test_ended_but_not_taken_is_not_empty(pool_kind):
    t = returning("t")
    pool = new_pool(pool_kind, workers=1, spare=1)
    pool.register([t])
    pool.start()
    pool.submit(t)
    pool.shutdown(wait=True)
    assert not pool.alive()  # t has ended ...
    assert not pool.empty()  # ... but its result is still to be taken
    assert not pool.full()
    assert [r.ret for r in pool.iter_results()] == ["t"]
    assert pool.empty()


@pytest.mark.timeout(30)
def test_a_result_is_taken_when_yielded(pool_kind):
    tasks = [returning(f"t{i}") for i in range(3)]
    pool = new_pool(pool_kind, workers=2)
    pool.register(tasks)
    pool.start()
    try:
        for t in tasks:
            pool.submit(t)
        seen = []
        for res in pool.iter_results():
            seen.append(res.ret)
            # inside the loop: the result just yielded no longer counts
            assert pool.empty() == (len(seen) == len(tasks))
        assert sorted(seen) == ["t0", "t1", "t2"]
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())


@pytest.mark.timeout(30)
def test_full_counts_results_not_taken_of_tasks_that_ended(pool_kind):
    tasks = [returning(f"t{i}") for i in range(3)]
    pool = new_pool(pool_kind, workers=1, spare=1)
    pool.register(tasks)
    pool.start()
    for t in tasks[:2]:
        pool.submit(t)
    assert pool.full()  # workers + spare = 2
    pool.shutdown(wait=True)  # both ended
    assert pool.full() and not pool.empty()
    results = pool.iter_results()
    next(results)
    assert not pool.full() and not pool.empty()
    next(results)
    assert pool.empty()
    assert list(results) == []
    assert not pool.full()


@pytest.mark.timeout(30)
def test_full_counts_tasks_beyond_capacity_until_taken(pool_kind):
    ev = new_event(pool_kind)
    b = blocker("b", ev)
    tasks = [returning(f"t{i}") for i in range(4)]
    pool = new_pool(pool_kind, workers=1, spare=1)
    pool.register([b, *tasks])
    pool.start()
    try:
        pool.submit(b)
        for t in tasks:
            pool.submit(t)  # three more than the pool has room for
        assert pool.full()
        ev.set()
        left = 5
        for _ in pool.iter_results():
            left -= 1
            assert pool.full() == (left >= 2)
            assert pool.empty() == (left == 0)
    finally:
        ev.set()
        pool.shutdown(wait=True)
        list(pool.iter_results())


# ------------------------------------------------- submissions as runs


@pytest.mark.timeout(30)
def test_same_task_submitted_at_once_runs_each_time_with_its_own_dict(pool_kind):
    def echo(shared):
        shared["pid"] = os.getpid()
        return shared["n"]

    pool = new_pool(pool_kind, workers=2, spare=2)
    pool.register([echo])
    pool.start()
    try:
        for n in range(4):
            pool.submit(echo, {"n": n})
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
    assert sorted(r.ret for r in results) == [0, 1, 2, 3]
    for r in results:
        assert r.task is echo and r.excinfo is None
        assert r.shared["n"] == r.ret
        assert (r.shared["pid"] == os.getpid()) == (pool_kind == "thread")


@pytest.mark.timeout(30)
def test_deps_and_locks_of_a_task_play_no_part(pool_kind):
    # both submissions must be inside the task at once to pass the barrier: a
    # claim applied would run them one after the other, and an unmet
    # requirement would not run them at all
    if pool_kind == "thread":
        barrier = threading.Barrier(2, timeout=EVENT_TIMEOUT)
    else:
        barrier = multiprocessing.Barrier(2, timeout=EVENT_TIMEOUT)

    def meet(*, barrier):
        barrier.wait()
        return "met"

    t = tagged("meet", meet, claims=["r"], requires=["nobody provides this"],
               kwargs={"barrier": barrier})  # fmt: skip
    pool = new_pool(pool_kind, workers=2)
    pool.register([t])
    pool.start()
    try:
        pool.submit(t)
        pool.submit(t)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
    assert [(r.ret, r.excinfo) for r in results] == [("met", None)] * 2


@pytest.mark.timeout(30)
def test_process_pool_runs_registered_tasks_from_the_inherited_table():
    # a multiprocessing.Queue only crosses to a process by inheritance: a
    # submission that pickled the task would fail with "Can't pickle task"
    q = multiprocessing.Queue()
    base = 10

    def put(*, q):  # a closure too
        q.put(base)
        return base

    t = tagged("put", put, kwargs={"q": q})
    pool = new_pool("process", workers=2)
    pool.register([t])
    pool.start()
    try:
        for _ in range(3):
            pool.submit(t)
        results = list(pool.iter_results())
        got = [q.get(timeout=EVENT_TIMEOUT) for _ in range(3)]
    finally:
        pool.shutdown(wait=True)
        q.close()
        q.join_thread()
    assert [(r.ret, r.excinfo) for r in results] == [(10, None)] * 3
    assert got == [10] * 3
