"""Dependencies order tasks, locks keep them apart."""

from __future__ import annotations

import itertools
import time

import pytest
from helpers import (
    EVENT_TIMEOUT,
    by_task,
    intervals_overlap,
    new_event,
    new_pool,
    recorded_warnings,
    returning,
    run_all,
    stamp_task,
    tagged,
)

from pexen import sched
from pexen.sched import meta


def _stamped(name, duration=0.0, **fields):
    t = stamp_task(name, duration=duration)
    if fields:
        meta.assign_val(t, **fields)
    return t


def _interval(res):
    assert res.excinfo is None, f"{res.task!r} failed: {res.excinfo!r}"
    _, start, end = res.ret
    return (start, end)


# -------------------------------------------------------------- dependencies


def test_chain_runs_in_order(pool):
    a = _stamped("a", provides=["x"])
    b = _stamped("b", requires=["x"], provides=["y"])
    c = _stamped("c", requires=["y"])
    res = by_task(sched.Sched([c, b, a]).run(pool))
    ia, ib, ic = (_interval(res[t]) for t in (a, b, c))
    assert ia[1] <= ib[0]
    assert ib[1] <= ic[0]


def test_diamond(pool):
    top = _stamped("top", 0.002, provides=["t"])
    left = _stamped("left", 0.002, requires=["t"], provides=["l"])
    right = _stamped("right", 0.002, requires=["t"], provides=["r"])
    bottom = _stamped("bottom", requires=["l", "r"])
    res = by_task(sched.Sched([bottom, right, left, top]).run(pool))
    assert len(res) == 4
    it, il, ir, ib = (_interval(res[t]) for t in (top, left, right, bottom))
    assert it[1] <= il[0] and it[1] <= ir[0]
    assert il[1] <= ib[0] and ir[1] <= ib[0]


def test_dependants_wait_for_provider_with_many_tasks(pool):
    provider = _stamped("provider", 0.005, provides=["x"], priority=10)
    deps = [_stamped(f"dep{i}", requires=["x"], priority=-10) for i in range(10)]
    fillers = [_stamped(f"fill{i}") for i in range(10)]
    res = by_task(sched.Sched([*deps, *fillers, provider]).run(pool))
    assert len(res) == 21
    end = _interval(res[provider])[1]
    for d in deps:
        assert end <= _interval(res[d])[0]


def test_requirement_met_by_first_provider_without_waiting_for_second(pool_kind):
    # slow_provider waits until the dependant has run: a scheduler waiting for
    # every provider of 'x' would never get there.
    ev = new_event(pool_kind)

    @meta.func_meta(provides=["x"], kwargs={"ev": ev})
    def slow_provider(*, ev):
        return ev.wait(EVENT_TIMEOUT)

    @meta.func_meta(provides=["x"])
    def fast_provider():
        return "fast"

    @meta.func_meta(requires=["x"], kwargs={"ev": ev})
    def dependant(*, ev):
        ev.set()
        return "dep"

    s = sched.Sched([slow_provider, fast_provider, dependant])
    results, msgs = run_all(s, new_pool(pool_kind, workers=2))
    res = by_task(results)
    assert len(res) == 3
    assert res[slow_provider].ret is True, "dependant did not run before slow provider ended"
    assert msgs == []


def test_independent_tasks_run_in_parallel(pool_kind):
    # two tasks each waiting for the other: only a pool running both at once
    # finishes them
    e1, e2 = new_event(pool_kind), new_event(pool_kind)

    @meta.func_meta(kwargs={"mine": e1, "other": e2})
    def one(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    @meta.func_meta(kwargs={"mine": e2, "other": e1})
    def two(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    res = by_task(sched.Sched([one, two]).run(new_pool(pool_kind, workers=2)))
    assert res[one].ret is True and res[two].ret is True


# --------------------------------------------------------------------- locks


@pytest.mark.parametrize("spare", [0, 1, 3])
def test_claims_are_exclusive(spare, make_pool):
    tasks = [_stamped(f"c{i}", 0.002, claims=["r"]) for i in range(8)]
    res = by_task(sched.Sched(tasks).run(make_pool(workers=2, spare=spare)))
    assert len(res) == 8
    ivs = [_interval(r) for r in res.values()]
    for a, b in itertools.combinations(ivs, 2):
        assert not intervals_overlap(a, b)


def test_claim_excludes_users(pool):
    claimers = [_stamped(f"c{i}", 0.002, claims=["r"]) for i in range(3)]
    users = [_stamped(f"u{i}", 0.002, uses=["r"]) for i in range(6)]
    tasks = [x for pair in itertools.zip_longest(users, claimers) for x in pair if x]
    res = by_task(sched.Sched(tasks).run(pool))
    assert len(res) == 9
    for c in claimers:
        ic = _interval(res[c])
        for other in tasks:
            if other is not c:
                assert not intervals_overlap(ic, _interval(res[other])), (c, other)


def test_claims_on_several_resources(pool):
    a = _stamped("a", 0.002, claims=["r", "s"])
    b = _stamped("b", 0.002, claims=["s"])
    c = _stamped("c", 0.002, uses=["r"])
    d = _stamped("d", 0.002, claims=["t"])
    res = by_task(sched.Sched([a, b, c, d]).run(pool))
    ia = _interval(res[a])
    assert not intervals_overlap(ia, _interval(res[b]))
    assert not intervals_overlap(ia, _interval(res[c]))


def test_users_share_a_resource(pool_kind):
    e1, e2 = new_event(pool_kind), new_event(pool_kind)

    @meta.func_meta(uses=["r"], kwargs={"mine": e1, "other": e2})
    def reader1(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    @meta.func_meta(uses=["r"], kwargs={"mine": e2, "other": e1})
    def reader2(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    res = by_task(sched.Sched([reader1, reader2]).run(new_pool(pool_kind, workers=2)))
    assert res[reader1].ret is True and res[reader2].ret is True


def test_different_claims_run_together(pool_kind):
    e1, e2 = new_event(pool_kind), new_event(pool_kind)

    @meta.func_meta(claims=["a"], kwargs={"mine": e1, "other": e2})
    def claim_a(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    @meta.func_meta(claims=["b"], kwargs={"mine": e2, "other": e1})
    def claim_b(*, mine, other):
        mine.set()
        return other.wait(EVENT_TIMEOUT)

    res = by_task(sched.Sched([claim_a, claim_b]).run(new_pool(pool_kind, workers=2)))
    assert res[claim_a].ret is True and res[claim_b].ret is True


def test_non_string_resource_names(pool):
    a = _stamped("a", 0.002, claims=[1, ("t", 2)])
    b = _stamped("b", 0.002, claims=[("t", 2)])
    c = _stamped("c", 0.002, uses=[1])
    res = by_task(sched.Sched([a, b, c]).run(pool))
    ia = _interval(res[a])
    assert not intervals_overlap(ia, _interval(res[b]))
    assert not intervals_overlap(ia, _interval(res[c]))


def test_non_string_dependency_names(pool):
    key = ("dep", 1)
    a = _stamped("a", provides=[key, 7])
    b = _stamped("b", requires=[key])
    c = _stamped("c", requires=[7])
    res = by_task(sched.Sched([b, c, a]).run(pool))
    end = _interval(res[a])[1]
    assert end <= _interval(res[b])[0]
    assert end <= _interval(res[c])[0]


def test_controlled_failure_releases_lock_for_waiters(pool):
    def f():
        start = time.monotonic_ns()
        raise sched.TaskFailError(start, time.monotonic_ns())

    meta.assign_val(f, claims=["r"], priority=-1)
    waiters = [_stamped(f"w{i}", claims=["r"]) for i in range(3)]
    results, msgs = run_all(sched.Sched([f, *waiters]), pool)
    res = by_task(results)
    assert len(res) == 4
    f_end = res[f].excinfo.val.args[1]
    for w in waiters:
        assert f_end <= _interval(res[w])[0]
    assert msgs == []


def test_locks_and_deps_together(pool):
    a = _stamped("a", 0.002, claims=["db"], provides=["schema"])
    b = _stamped("b", 0.002, uses=["db"], requires=["schema"])
    c = _stamped("c", 0.002, uses=["db"], requires=["schema"])
    d = _stamped("d", 0.002, claims=["db"], requires=["schema"], priority=5)
    res = by_task(sched.Sched([d, c, b, a]).run(pool))
    assert len(res) == 4
    ia, ib, ic, id_ = (_interval(res[t]) for t in (a, b, c, d))
    assert ia[1] <= ib[0] and ia[1] <= ic[0] and ia[1] <= id_[0]
    assert not intervals_overlap(id_, ib)
    assert not intervals_overlap(id_, ic)


# ------------------------------------------------------------------ fairness
#
# A task waiting for a claim is not overtaken by users of the same resource
# that asked after it, even though each of them is compatible with the users
# holding it: otherwise a stream of users could keep the claimant out for ever.


def _held_until(name, ev, **fields):
    """A stamped task that holds its locks until ``ev`` is set."""

    def task(*, ev):
        start = time.monotonic_ns()
        assert ev.wait(EVENT_TIMEOUT), f"{name}: nobody set the event"
        return (name, start, time.monotonic_ns())

    return tagged(name, task, kwargs={"ev": ev}, **fields)


def _setter(name, ev, **fields):
    def task(*, ev):
        ev.set()
        return name

    return tagged(name, task, kwargs={"ev": ev}, **fields)


def test_claimant_not_overtaken_by_users_asking_after_it(pool_kind):
    # One pump hands out first: first (holds r), claimant (waits for first),
    # then the users, each compatible with first but asking after the
    # claimant, and the task that lets first end. Only the claimant's turn
    # keeps the users out until it is done.
    go = new_event(pool_kind)
    first = _held_until("first", go, uses=["r"], priority=0)
    claimant = _stamped("claimant", claims=["r"], priority=1)
    users = [_stamped(f"user{i}", uses=["r"], priority=2 + i) for i in range(4)]
    release = _setter("release", go, priority=10)
    res = by_task(
        sched.Sched([release, *users, claimant, first]).run(new_pool(pool_kind, workers=2, spare=0))
    )
    assert len(res) == 7
    ifirst, iclaim = _interval(res[first]), _interval(res[claimant])
    assert ifirst[1] <= iclaim[0]
    for u in users:
        assert iclaim[1] <= _interval(res[u])[0], f"{u.__name__} overtook the waiting claimant"


def test_claimant_not_overtaken_by_users_added_while_it_waits(pool_kind):
    go = new_event(pool_kind)
    warmup = returning("warmup", priority=-1)
    first = _held_until("first", go, uses=["r"], priority=0)
    claimant = _stamped("claimant", claims=["r"], priority=1)
    # more urgent than anything: only the claimant's turn keeps them waiting
    late = [_stamped(f"late{i}", uses=["r"], priority=-5) for i in range(3)]
    s = sched.Sched([warmup, first, claimant])
    results = []
    waiting = held = None
    try:
        with recorded_warnings():
            for res in s.run(new_pool(pool_kind, workers=2, spare=0)):
                results.append(res)
                if res.task is warmup:
                    # warmup's end freed the slot the claimant now waits in
                    s.add_tasks(late)
                    status = s.status()
                    waiting = {w.task for w in status.waiting_locks}
                    held = {(h.resource, h.mode, h.holders) for h in status.held_locks}
                    go.set()
    finally:
        go.set()  # whatever failed, let first end
    res = by_task(results)
    assert len(res) == 6
    assert held == {("r", "uses", (first,))}
    assert waiting == {claimant, *late}, "users added later overtook the waiting claimant"
    iclaim = _interval(res[claimant])
    assert _interval(res[first])[1] <= iclaim[0]
    for t in late:
        assert iclaim[1] <= _interval(res[t])[0], f"{t.__name__} overtook the waiting claimant"
