"""The legacy standalone pool API, on both pools.

``register(tasks)``, ``start()``, ``submit(task, shared={})``,
``iter_results()``, ``shutdown(wait=...)``, ``alive()``, ``empty()``,
``full()``, the legacy ``PoolError`` messages, crash containment in
standalone use, and the reuse of one pool object across runs and schedulers.

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
import signal
import threading

import pytest
from helpers import (
    EVENT_TIMEOUT,
    blocker,
    by_task,
    new_event,
    new_pool,
    pid_task,
    returning,
    tagged,
    task_names,
)

from pexen import sched
from pexen.sched import meta
from pexen.sched.pool import PoolError


def shared_task(shared):
    shared["seen"] = dict(shared)
    shared["by"] = "shared_task"
    return sorted(shared["seen"])


def crash_sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


def crash_exit():
    os._exit(7)


def drain_and_stop(pool) -> None:
    """Best-effort cleanup after a failed test: stop the workers."""
    try:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    except Exception:
        pass


# ------------------------------------------------------------ basic cycle


def test_pool_classes_and_defaults():
    for cls in (sched.pool.ThreadWorkerPool, sched.pool.ProcessWorkerPool):
        p = cls()
        assert not p.alive()
        p = cls(workers=3, spare=0)
        assert not p.alive()
    assert issubclass(PoolError, sched.SchedulerError)


def test_register_start_submit_iterate_shutdown(make_pool):
    pool = make_pool(workers=2, spare=1)
    tasks = [returning(f"t{i}", i) for i in range(6)]
    assert not pool.alive()
    assert pool.empty()
    assert not pool.full()
    pool.register(tasks)
    pool.start()
    try:
        assert pool.alive()
        assert pool.empty()
        for t in tasks:
            pool.submit(t)
        assert not pool.empty()
        results = list(pool.iter_results())
        assert pool.empty()
        assert pool.alive()  # iter_results alone does not stop the workers
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    assert not pool.alive()
    res = by_task(results)
    assert set(res) == set(tasks)
    for i, t in enumerate(tasks):
        assert res[t] == sched.TaskRes(t, {}, i, None)


def test_submit_with_shared_and_kwargs(make_pool):
    @meta.func_meta(kwargs={"k": 2})
    def with_kwargs(*, k):
        return k * 2

    pool = make_pool()
    pool.register([shared_task, with_kwargs])
    pool.start()
    try:
        preset = {"a": 1}
        pool.submit(shared_task, preset)
        pool.submit(shared_task)  # shared defaults to an empty dict
        pool.submit(shared_task, shared={"b": 2})
        pool.submit(with_kwargs)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    assert preset == {"a": 1}  # the caller's dict is not the task's
    (kw,) = [r for r in results if r.task is with_kwargs]
    assert kw == sched.TaskRes(with_kwargs, {}, 4, None)
    results = [r for r in results if r is not kw]
    assert sorted(tuple(r.ret) for r in results) == [(), ("a",), ("b",)]
    for r in results:
        assert r.task is shared_task
        assert r.excinfo is None
        assert r.shared["by"] == "shared_task"
        assert set(r.shared) == {*r.ret, "seen", "by"}


def test_same_task_submitted_several_times(make_pool):
    t = returning("again")
    pool = make_pool(workers=2, spare=1)
    pool.register([t])
    pool.start()
    try:
        for _ in range(5):
            pool.submit(t)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    assert [r.ret for r in results] == ["again"] * 5


def test_iterate_in_rounds(make_pool):
    tasks = [returning(f"t{i}") for i in range(4)]
    pool = make_pool()
    pool.register(tasks)
    pool.start()
    try:
        assert list(pool.iter_results()) == []  # nothing submitted yet
        pool.submit(tasks[0])
        pool.submit(tasks[1])
        first = list(pool.iter_results())
        pool.submit(tasks[2])
        pool.submit(tasks[3])
        second = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    assert sorted(task_names(first)) == ["t0", "t1"]
    assert sorted(task_names(second)) == ["t2", "t3"]


def test_task_failure_in_standalone_use(make_pool):
    def fails():
        raise ValueError("standalone boom")

    ok = returning("ok")
    pool = make_pool()
    pool.register([fails, ok])
    pool.start()
    try:
        pool.submit(fails)
        pool.submit(ok)
        res = by_task(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
    assert res[fails].excinfo.type is ValueError
    assert str(res[fails].excinfo.val) == "standalone boom"
    assert res[fails].ret is None
    assert res[ok].ret == "ok"


# ------------------------------------------------- full / empty / shutdown


@pytest.mark.timeout(30)
@pytest.mark.parametrize("workers, spare", [(2, 1), (1, 1)], ids=["w2s1", "w1s1"])
def test_full_and_empty(pool_kind, workers, spare):
    ev = new_event(pool_kind)
    size = workers + spare
    blockers = [blocker(f"b{i}", ev) for i in range(size)]
    pool = new_pool(pool_kind, workers=workers, spare=spare)
    pool.register(blockers)
    pool.start()
    try:
        assert pool.empty() and not pool.full()
        for b in blockers[:-1]:
            pool.submit(b)
        assert not pool.empty() and not pool.full()
        pool.submit(blockers[-1])  # workers + spare unfinished
        assert pool.full() and not pool.empty()
        ev.set()
        results = list(pool.iter_results())
        assert pool.empty() and not pool.full()
        pool.shutdown(wait=True)
        assert pool.empty()
    finally:
        ev.set()
        drain_and_stop(pool)
    assert sorted(r.ret for r in results) == [(f"b{i}", True) for i in range(size)]


@pytest.mark.timeout(30)
def test_shutdown_wait_true_keeps_results(pool_kind):
    tasks = [returning(f"t{i}") for i in range(5)]
    pool = new_pool(pool_kind, workers=2)
    pool.register(tasks)
    pool.start()
    try:
        for t in tasks:
            pool.submit(t)
        pool.shutdown(wait=True)  # every task has ended when this returns
        assert not pool.alive()
        assert not pool.empty()  # its results are still to be taken
        with pytest.raises(PoolError):
            pool.submit(tasks[0])
        results = list(pool.iter_results())
    finally:
        drain_and_stop(pool)
    assert sorted(task_names(results)) == [t.__name__ for t in tasks]
    assert not pool.alive()
    assert list(pool.iter_results()) == []


@pytest.mark.timeout(30)
def test_shutdown_wait_false_stops_after_last_result(pool_kind):
    ev = new_event(pool_kind)
    b = blocker("b", ev)
    tasks = [returning(f"t{i}") for i in range(3)]
    pool = new_pool(pool_kind, workers=2)
    pool.register([b, *tasks])
    pool.start()
    try:
        pool.submit(b)
        for t in tasks:
            pool.submit(t)
        pool.shutdown(wait=False)  # returns at once: b still waits
        assert pool.alive()
        assert not pool.empty()
        with pytest.raises(PoolError):
            pool.submit(tasks[0])
        ev.set()
        results = list(pool.iter_results())
        assert not pool.alive()  # stopped once the last result was yielded
    finally:
        ev.set()
        drain_and_stop(pool)
    assert sorted(task_names(results)) == ["b", "t0", "t1", "t2"]


def test_shutdown_from_inside_the_results_loop(pool_kind):
    # the legacy idiom: shutdown() once the last expected result came; the
    # loop then ends and the workers stop. Twice: a stopped pool starts again.
    t = returning("again")
    pool = new_pool(pool_kind)
    for _ in range(2):
        pool.register([t])
        pool.start()
        pool.submit(t)
        results = []
        for res in pool.iter_results():
            results.append(res)
            pool.shutdown()
        assert [r.ret for r in results] == ["again"]
        assert not pool.alive()


def test_shutdown_of_an_idle_pool(make_pool):
    pool = make_pool()
    pool.shutdown()  # never started: nothing to do
    pool.register([returning("a")])
    pool.start()
    assert pool.alive()
    pool.shutdown()  # nothing unfinished: stops at once
    assert not pool.alive()
    assert list(pool.iter_results()) == []


# -------------------------------------------------------- legacy errors


def test_register_while_running(make_pool, pool_kind):
    a, b = returning("a"), returning("b")
    pool = make_pool()
    pool.register([a])
    pool.start()
    try:
        with pytest.raises(PoolError, match=r"^Cannot register tasks while the pool is running$"):
            pool.register([b])
        if pool_kind == "process":  # the refused registration left b unknown
            with pytest.raises(PoolError, match=r"^Cannot submit unregistered task "):
                pool.submit(b)
    finally:
        pool.shutdown(wait=True)
    pool.register([b])  # fine once stopped, and it counts: b runs next time
    pool.start()
    try:
        pool.submit(a)
        pool.submit(b)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
    assert sorted(task_names(results)) == ["a", "b"]
    assert all(r.excinfo is None for r in results)


def test_restart_a_running_pool(make_pool):
    pool = make_pool()
    pool.register([returning("a")])
    pool.start()
    try:
        with pytest.raises(PoolError, match=r"^Cannot re-start a running pool$"):
            pool.start()
        assert pool.alive()
    finally:
        pool.shutdown(wait=True)


def test_submit_unregistered_task_process_pool():
    a, stranger = returning("a"), returning("stranger")
    pool = new_pool("process")
    pool.register([a])
    pool.start()
    try:
        with pytest.raises(PoolError, match=r"^Cannot submit unregistered task ") as exc_info:
            pool.submit(stranger)
        assert "stranger" in str(exc_info.value)
        pool.submit(a)  # the pool goes on
        assert [r.ret for r in pool.iter_results()] == ["a"]
    finally:
        pool.shutdown(wait=True)


def test_thread_pool_takes_unregistered_tasks():
    a, stranger = returning("a"), returning("stranger")
    pool = new_pool("thread")
    pool.start()  # nothing registered at all
    try:
        pool.submit(stranger)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
    assert [r.ret for r in results] == ["stranger"]
    pool = new_pool("thread")
    pool.register([a])
    pool.start()
    try:
        pool.submit(a)
        pool.submit(stranger)
        results = list(pool.iter_results())
    finally:
        pool.shutdown(wait=True)
    assert sorted(r.ret for r in results) == ["a", "stranger"]


def test_submit_to_a_pool_not_started(make_pool):
    a = returning("a")
    pool = make_pool()
    pool.register([a])
    with pytest.raises(PoolError):
        pool.submit(a)
    assert not pool.alive()


# ------------------------------------------------------- crash containment


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "crash, says", [(crash_sigkill, "SIGKILL"), (crash_exit, "code 7")], ids=["sigkill", "exit7"]
)
def test_crash_in_standalone_use(crash, says):
    oks = [returning(f"ok{i}") for i in range(4)]
    pid = pid_task()
    pool = new_pool("process", workers=2, spare=1)
    pool.register([crash, pid, *oks])
    pool.start()
    try:
        pool.submit(crash)
        for t in oks:
            pool.submit(t)
        first = by_task(pool.iter_results())
        # the pool goes on: its workers (one of them replaced) take more
        assert pool.alive()
        for _ in range(4):
            pool.submit(pid)
        pool.submit(crash)
        pool.submit(oks[0])
        second = list(pool.iter_results())
    finally:
        drain_and_stop(pool)
    assert len(first) == 5
    lost = first[crash]
    assert lost.excinfo.type is sched.WorkerLostError
    assert isinstance(lost.excinfo.val, sched.WorkerLostError)
    assert says in str(lost.excinfo.val)
    assert lost.ret is None
    assert all(first[t].ret == t.__name__ for t in oks)
    assert len(second) == 6
    assert all(r.excinfo is None for r in second if r.task is not crash)
    assert [r.excinfo.type for r in second if r.task is crash] == [sched.WorkerLostError]
    assert all(r.ret != os.getpid() for r in second if r.task is pid)


@pytest.mark.timeout(30)
def test_crash_requeues_tasks_queued_behind_it():
    # one worker, spare 2: two tasks wait in the worker behind the crasher
    oks = [returning(f"ok{i}") for i in range(3)]
    pool = new_pool("process", workers=1, spare=2)
    pool.register([crash_sigkill, *oks])
    pool.start()
    try:
        pool.submit(crash_sigkill)
        for t in oks:
            pool.submit(t)
        res = by_task(pool.iter_results())
    finally:
        drain_and_stop(pool)
    assert res[crash_sigkill].excinfo.type is sched.WorkerLostError
    assert all(res[t].ret == t.__name__ and res[t].excinfo is None for t in oks)


# ------------------------------------------------------ reuse and lending


def test_pool_reused_across_runs_and_schedulers(make_pool):
    pool = make_pool()
    a = sched.Sched([returning("a1"), returning("a2")])
    b = sched.Sched([returning("b1")])
    assert sorted(task_names(a.run(pool))) == ["a1", "a2"]
    assert sorted(task_names(a.run(pool))) == ["a1", "a2"]
    assert task_names(b.run(pool)) == ["b1"]
    # standalone use between runs
    t = returning("standalone")
    pool.register([t])
    pool.start()
    pool.submit(t)
    assert task_names(pool.iter_results()) == ["standalone"]
    pool.shutdown(wait=True)
    assert not pool.alive()
    assert sorted(task_names(a.run(pool))) == ["a1", "a2"]
    # and a second standalone session
    pool.start()
    pool.submit(t)
    pool.shutdown(wait=False)
    assert task_names(pool.iter_results()) == ["standalone"]
    assert not pool.alive()
    assert task_names(b.run(pool)) == ["b1"]


def test_pool_lent_to_a_running_sched_cannot_be_started_or_lent_again(make_pool):
    pool = make_pool()
    s = sched.Sched([returning("a", priority=-1), returning("b")])
    other = sched.Sched([returning("other")])
    checked = []
    for res in s.run(pool):
        if res.task.__name__ == "a":
            with pytest.raises(PoolError, match=r"^Cannot re-start a running pool$"):
                pool.start()
            with pytest.raises(PoolError):
                list(other.run(pool))
            checked.append(True)
    assert checked == [True]
    # free again once the run ended
    assert task_names(other.run(pool)) == ["other"]


def test_started_pool_cannot_be_lent_to_a_sched(make_pool):
    pool = make_pool()
    t = returning("t")
    pool.register([t])
    pool.start()
    try:
        with pytest.raises(PoolError):
            list(sched.Sched([returning("x")]).run(pool))
        pool.submit(t)  # the standalone session is untouched
        assert task_names(pool.iter_results()) == ["t"]
    finally:
        pool.shutdown(wait=True)
    assert task_names(sched.Sched([returning("x")]).run(pool)) == ["x"]


def test_two_pools_in_use_at_once(pool_kind):
    one, two = new_pool(pool_kind), new_pool(pool_kind)
    a, b = returning("a"), returning("b")
    one.register([a])
    two.register([b])
    one.start()
    two.start()
    try:
        one.submit(a)
        two.submit(b)
        assert task_names(two.iter_results()) == ["b"]
        assert task_names(one.iter_results()) == ["a"]
    finally:
        one.shutdown(wait=True)
        two.shutdown(wait=True)
    assert not one.alive() and not two.alive()


def test_threads_of_a_thread_pool_are_gone_after_shutdown():
    before = set(threading.enumerate())
    a = returning("a")
    pool = new_pool("thread", workers=3)
    pool.register([a])
    pool.start()
    started = set(threading.enumerate()) - before
    assert len(started) >= 3
    pool.submit(a)
    pool.shutdown(wait=True)
    assert not pool.alive()
    # shutdown stopped every thread the pool had started (join: a thread
    # may still be on its way out when stop() returned)
    for thread in started:
        thread.join(EVENT_TIMEOUT)
    assert [t.name for t in started if t.is_alive()] == []
    assert task_names(pool.iter_results()) == ["a"]


# -- what empty()/full() count, and how submissions run ----------------------


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


@pytest.mark.timeout(60)
def test_a_long_lived_pool_keeps_nothing_of_finished_submissions(pool_kind):
    import gc
    import weakref

    pool = new_pool(pool_kind, workers=2)
    task = returning("again")
    pool.register([task])
    pool.start()
    try:
        for _ in range(200):
            pool.submit(task, {"payload": object()})
        assert [r.ret for r in pool.iter_results()] == ["again"] * 200
        # white-box: the engine's table holds the registered task alone
        assert pool._run.engine.table.held == 1
        # a shared dict handed to a submission is not kept once its result was taken
        marker = type("Marker", (), {})()
        ref = weakref.ref(marker)
        pool.submit(task, {"m": marker})
        del marker
        [res] = list(pool.iter_results())
        del res
        gc.collect()
        assert ref() is None
    finally:
        pool.shutdown(wait=True)
        list(pool.iter_results())
