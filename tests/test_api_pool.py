"""SPEC 8: the standalone pool API kept from the legacy."""

from __future__ import annotations

import pytest
from helpers import EVENT_TIMEOUT, new_event, new_pool

from pexen import sched
from pexen.sched import meta


def _drain(pool, expected):
    """Collect ``expected`` results, then shut the pool down and finish."""
    results = []
    if expected == 0:
        pool.shutdown()
    for res in pool.iter_results():
        results.append(res)
        if len(results) == expected:
            pool.shutdown()
    return results


def test_pool_classes_and_defaults():
    for cls in (sched.pool.ThreadWorkerPool, sched.pool.ProcessWorkerPool):
        p = cls()
        assert not p.alive()
        p = cls(workers=3, spare=0)
        assert not p.alive()
    assert issubclass(sched.pool.PoolError, sched.SchedulerError)


def test_submit_and_iter_results(pool_kind):
    def a(shared):
        shared["a"] = True
        return "a"

    @meta.func_meta(kwargs={"k": 2})
    def b(*, k):
        return k * 2

    def c():
        raise ValueError("c failed")

    p = new_pool(pool_kind, workers=2)
    p.register([a, b, c])
    p.start()
    try:
        assert p.alive()
        p.submit(a, {"pre": 1})
        p.submit(b)
        p.submit(c, {})
        results = _drain(p, 3)
    finally:
        if p.alive():
            p.shutdown(wait=True)
    by = {r.task: r for r in results}
    assert set(by) == {a, b, c}
    assert by[a] == sched.TaskRes(a, {"pre": 1, "a": True}, "a", None)
    assert by[b].ret == 4
    assert by[c].excinfo.type is ValueError
    for r in results:
        assert isinstance(r, sched.TaskRes)


def test_pool_not_alive_after_shutdown_and_drain(pool_kind):
    def t():
        return 1

    p = new_pool(pool_kind, workers=2)
    p.register([t])
    p.start()
    p.submit(t)
    results = _drain(p, 1)
    assert [r.ret for r in results] == [1]
    # iter_results() ends once every worker has finished
    assert not p.alive()


def test_empty_and_full(pool_kind):
    ev = new_event(pool_kind)

    @meta.func_meta(kwargs={"ev": ev})
    def blocker(*, ev):
        return ev.wait(EVENT_TIMEOUT)

    @meta.func_meta(kwargs={"ev": ev})
    def blocker2(*, ev):
        return ev.wait(EVENT_TIMEOUT)

    p = new_pool(pool_kind, workers=1, spare=1)
    p.register([blocker, blocker2])
    p.start()
    try:
        assert p.empty()
        assert not p.full()
        p.submit(blocker)
        assert not p.empty()
        assert not p.full()
        p.submit(blocker2)
        assert p.full()
        assert not p.empty()
    finally:
        ev.set()
        results = _drain(p, 2)
    assert [r.ret for r in results] == [True, True]
    assert p.empty()


def test_restart_running_pool_refused(pool_kind):
    p = new_pool(pool_kind)
    p.start()
    try:
        with pytest.raises(sched.pool.PoolError) as exc:
            p.start()
        assert str(exc.value) == "Cannot re-start a running pool"
    finally:
        _drain(p, 0)


def test_register_while_running_refused(pool_kind):
    def t():
        return None

    p = new_pool(pool_kind)
    p.start()
    try:
        with pytest.raises(sched.pool.PoolError) as exc:
            p.register([t])
        assert str(exc.value) == "Cannot register tasks while the pool is running"
    finally:
        _drain(p, 0)


def test_process_pool_submit_unregistered_refused():
    def registered():
        return None

    def unregistered():
        return None

    p = new_pool("process")
    p.register([registered])
    p.start()
    try:
        with pytest.raises(sched.pool.PoolError) as exc:
            p.submit(unregistered)
        assert str(exc.value).startswith("Cannot submit unregistered task")
    finally:
        _drain(p, 0)


def test_thread_pool_takes_unregistered_tasks():
    def t():
        return "t"

    p = new_pool("thread")
    p.start()
    try:
        p.submit(t)
        results = _drain(p, 1)
    finally:
        if p.alive():
            p.shutdown(wait=True)
    assert [r.ret for r in results] == ["t"]


def test_pool_restart_after_shutdown(pool_kind):
    def t():
        return "again"

    p = new_pool(pool_kind)
    for _ in range(2):
        p.register([t])
        p.start()
        p.submit(t)
        assert [r.ret for r in _drain(p, 1)] == ["again"]
