"""SPEC 7: bad input gets a clear error at once, from Sched()/add_tasks()."""

from __future__ import annotations

import pytest
from helpers import pexen_messages, recorded_warnings

import pexen
from pexen import sched
from pexen.sched import meta


def _named(name, **fields):
    def t():
        return name

    t.__name__ = t.__qualname__ = name
    if fields:
        meta.assign_val(t, **fields)
    return t


# ------------------------------------------------------------- dependencies


def test_unsatisfied_requires_from_constructor():
    t = _named("needs_one", requires=["one"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([t])
    assert str(exc.value) == "Unsatisfied requires remain: ['one']"
    assert "one" in exc.value.remain
    assert isinstance(exc.value, sched.SchedulerError)
    assert isinstance(exc.value, pexen.PexenError)


def test_unsatisfied_requires_from_add_tasks():
    ok = _named("ok")
    t = _named("needs_one", requires=["one"])
    s = sched.Sched([ok])
    with pytest.raises(sched.DepcheckError) as exc:
        s.add_tasks([t])
    assert str(exc.value) == "Unsatisfied requires remain: ['one']"
    assert "one" in exc.value.remain


def test_unsatisfied_requires_several_names():
    a = _named("a", requires=["one"])
    b = _named("b", requires=["two", "one"], provides=["three"])
    c = _named("c", requires=["three"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a, b, c])
    remain = exc.value.remain
    assert "one" in remain
    assert "two" in remain
    msg = str(exc.value)
    assert msg.startswith("Unsatisfied requires remain: [")
    assert "'one'" in msg and "'two'" in msg


def test_requires_satisfied_across_add_tasks_calls():
    p = _named("p", provides=["one"])
    c = _named("c", requires=["one"])
    s = sched.Sched()
    with recorded_warnings():
        s.add_tasks([p])
    s.add_tasks([c])
    assert sorted(r.ret for r in s.run()) == ["c", "p"]


def test_dependency_cycle_reported_with_names():
    a = _named("a", requires=["x"], provides=["y"])
    b = _named("b", requires=["y"], provides=["x"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a, b])
    assert "x" in exc.value.remain
    assert "y" in exc.value.remain
    msg = str(exc.value)
    assert "'x'" in msg and "'y'" in msg


def test_self_cycle():
    a = _named("a", requires=["me"], provides=["me"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a])
    assert "me" in exc.value.remain
    assert "'me'" in str(exc.value)


def test_cycle_with_an_outside_provider_is_satisfiable():
    # x is also provided by an independent task, so the "cycle" can be entered
    start = _named("start", provides=["x"])
    a = _named("a", requires=["x"], provides=["y"])
    b = _named("b", requires=["y"], provides=["x"])
    with recorded_warnings():
        s = sched.Sched([start, a, b])
    assert sorted(r.ret for r in s.run()) == ["a", "b", "start"]


def test_cycle_behind_a_good_task():
    ok = _named("ok", provides=["z"])
    a = _named("a", requires=["z", "x"], provides=["y"])
    b = _named("b", requires=["y"], provides=["x"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([ok, a, b])
    assert "x" in exc.value.remain and "y" in exc.value.remain
    assert "z" not in exc.value.remain


def test_unrequired_provide_warns_at_add_tasks():
    t = _named("provider", provides=["one"])
    with pytest.warns(pexen.PexenWarning) as rec:
        sched.Sched([t])
    msgs = [str(w.message) for w in rec]
    assert f"Dep 'one' provided by {t}, but not required by any task" in msgs


def test_unrequired_provide_warns_from_add_tasks_too():
    t = _named("provider", provides=["one"])
    s = sched.Sched()
    with recorded_warnings() as rec:
        s.add_tasks([t])
    assert f"Dep 'one' provided by {t}, but not required by any task" in pexen_messages(rec)


def test_required_provide_does_not_warn():
    p = _named("p", provides=["one"])
    c = _named("c", requires=["one"])
    with recorded_warnings() as rec:
        sched.Sched([p, c])
    assert pexen_messages(rec) == []


def test_multiple_providers_do_not_warn():
    p1 = _named("p1", provides=["one"])
    p2 = _named("p2", provides=["one"])
    c = _named("c", requires=["one"])
    with recorded_warnings() as rec:
        s = sched.Sched([p1, p2, c])
        results = list(s.run())
    assert pexen_messages(rec) == []
    assert sorted(r.ret for r in results) == ["c", "p1", "p2"]


# -------------------------------------------------------------------- locks


def test_claims_and_uses_overlap():
    t = _named("both", claims=[1, 2, 3], uses=[2, 3, 4])
    with pytest.raises(sched.MutexError) as exc:
        sched.Sched([t])
    assert str(exc.value) == f"Task {t} has {{2, 3}} in both claims and uses."
    assert exc.value.task is t
    assert isinstance(exc.value, sched.SchedulerError)


def test_claims_and_uses_overlap_from_add_tasks():
    ok = _named("ok", claims=["a"])
    t = _named("both", claims=["r"], uses=["r"])
    s = sched.Sched([ok])
    with pytest.raises(sched.MutexError) as exc:
        s.add_tasks([t])
    assert str(exc.value) == f"Task {t} has {{'r'}} in both claims and uses."
    assert exc.value.task is t


def test_same_resource_claimed_and_used_by_different_tasks_is_fine():
    a = _named("a", claims=["r"])
    b = _named("b", uses=["r"])
    assert sorted(r.ret for r in sched.Sched([a, b]).run()) == ["a", "b"]


# ------------------------------------------------------- type errors at once


BAD = (TypeError, sched.SchedulerError)


class _NotATask:
    def __repr__(self):
        return "NotATask#1"

    __str__ = __repr__


@pytest.mark.parametrize("obj", [42, "a string", _NotATask(), None])
def test_non_callable_task(obj):
    with pytest.raises(BAD) as exc:
        sched.Sched([obj])
    assert repr(obj) in str(exc.value) or str(obj) in str(exc.value)
    s = sched.Sched([_named("ok")])
    with pytest.raises(BAD):
        s.add_tasks([obj])


def test_non_callable_among_good_tasks():
    s = sched.Sched()
    with pytest.raises(BAD) as exc:
        s.add_tasks([_named("good"), _NotATask()])
    assert "NotATask#1" in str(exc.value)


def _force(task, field, value):
    """Put a value the SchedMeta setter would refuse into a task's metadata."""
    m = meta.assign_meta(task)
    object.__setattr__(m, field, value)
    return task


@pytest.mark.parametrize("field", ["requires", "provides", "uses", "claims"])
def test_unhashable_names(field):
    task = _force(_named("unhashable_task"), field, [["a list"]])
    with pytest.raises(BAD) as exc:
        sched.Sched([task])
    msg = str(exc.value)
    assert "unhashable_task" in msg
    assert field in msg


def test_unhashable_name_in_list_refused_at_once():
    # through the public setters the list is refused right away, or else the
    # scheduler refuses the task when it is added
    def task():
        return None

    try:
        meta.assign_val(task, requires=[["x"]])
    except (TypeError, AttributeError):
        return
    with pytest.raises(BAD):
        sched.Sched([task])


@pytest.mark.parametrize(("p1", "p2"), [(1, "x"), (None, 0), (0, (1,)), (1.5, "2"), ({"a"}, 1)])
def test_incomparable_priorities(p1, p2):
    a = _named("prio_one", priority=p1)
    b = _named("prio_two", priority=p2)
    with pytest.raises(BAD) as exc:
        sched.Sched([a, b])
    msg = str(exc.value)
    assert "priority" in msg
    assert "prio_one" in msg or "prio_two" in msg


def test_incomparable_priority_from_add_tasks():
    s = sched.Sched([_named("first", priority=1)])
    with pytest.raises(BAD) as exc:
        s.add_tasks([_named("second_bad", priority="high")])
    msg = str(exc.value)
    assert "priority" in msg
    assert "second_bad" in msg or "first" in msg


def test_single_task_with_any_priority_is_fine():
    assert [r.ret for r in sched.Sched([_named("solo", priority="x")]).run()] == ["solo"]


@pytest.mark.parametrize("value", [["a", 1], "abc", 5, None])
def test_non_mapping_kwargs(value):
    task = _force(_named("kwargs_task"), "kwargs", value)
    with pytest.raises(BAD) as exc:
        sched.Sched([task])
    msg = str(exc.value)
    assert "kwargs_task" in msg
    assert "kwargs" in msg.replace("kwargs_task", "")


def test_non_set_names_forced():
    task = _force(_named("str_requires"), "requires", "one")
    with pytest.raises((*BAD, sched.DepcheckError)):
        sched.Sched([task])


def test_validation_never_runs_anything():
    ran = []

    def good():
        ran.append(1)

    bad = _named("bad", requires=["missing"])
    with pytest.raises(sched.DepcheckError):
        sched.Sched([good, bad])
    assert ran == []
