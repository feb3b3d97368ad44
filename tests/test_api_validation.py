"""Bad input gets a clear error at once, from Sched()/add_tasks()."""

from __future__ import annotations

import re

import pytest
from helpers import new_pool, pexen_messages, recorded_warnings, returning

import pexen
from pexen import sched
from pexen.sched import meta

# ------------------------------------------------------------- dependencies


def test_unsatisfied_requires_from_constructor():
    t = returning("needs_one", requires=["one"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([t])
    assert str(exc.value) == "Unsatisfied requires remain: ['one']"
    assert "one" in exc.value.remain
    assert isinstance(exc.value, sched.SchedulerError)
    assert isinstance(exc.value, pexen.PexenError)


def test_unsatisfied_requires_from_add_tasks():
    ok = returning("ok")
    t = returning("needs_one", requires=["one"])
    s = sched.Sched([ok])
    with pytest.raises(sched.DepcheckError) as exc:
        s.add_tasks([t])
    assert str(exc.value) == "Unsatisfied requires remain: ['one']"
    assert "one" in exc.value.remain


def test_unsatisfied_requires_several_names():
    a = returning("a", requires=["one"])
    b = returning("b", requires=["two", "one"], provides=["three"])
    c = returning("c", requires=["three"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a, b, c])
    remain = exc.value.remain
    assert "one" in remain
    assert "two" in remain
    msg = str(exc.value)
    assert msg.startswith("Unsatisfied requires remain: [")
    assert "'one'" in msg and "'two'" in msg


def test_requires_satisfied_across_add_tasks_calls():
    p = returning("p", provides=["one"])
    c = returning("c", requires=["one"])
    s = sched.Sched()
    with recorded_warnings():
        s.add_tasks([p])
    s.add_tasks([c])
    assert sorted(r.ret for r in s.run()) == ["c", "p"]


def test_dependency_cycle_reported_with_names():
    a = returning("a", requires=["x"], provides=["y"])
    b = returning("b", requires=["y"], provides=["x"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a, b])
    assert "x" in exc.value.remain
    assert "y" in exc.value.remain
    msg = str(exc.value)
    assert "'x'" in msg and "'y'" in msg


def test_self_cycle():
    a = returning("a", requires=["me"], provides=["me"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([a])
    assert "me" in exc.value.remain
    assert "'me'" in str(exc.value)


def test_cycle_with_an_outside_provider_is_satisfiable():
    # x is also provided by an independent task, so the "cycle" can be entered
    start = returning("start", provides=["x"])
    a = returning("a", requires=["x"], provides=["y"])
    b = returning("b", requires=["y"], provides=["x"])
    with recorded_warnings():
        s = sched.Sched([start, a, b])
    assert sorted(r.ret for r in s.run()) == ["a", "b", "start"]


def test_cycle_behind_a_good_task():
    ok = returning("ok", provides=["z"])
    a = returning("a", requires=["z", "x"], provides=["y"])
    b = returning("b", requires=["y"], provides=["x"])
    with pytest.raises(sched.DepcheckError) as exc:
        sched.Sched([ok, a, b])
    assert "x" in exc.value.remain and "y" in exc.value.remain
    assert "z" not in exc.value.remain


def test_unrequired_provide_warns_at_add_tasks():
    t = returning("provider", provides=["one"])
    with pytest.warns(pexen.PexenWarning) as rec:
        sched.Sched([t])
    msgs = [str(w.message) for w in rec]
    assert f"Dep 'one' provided by {t}, but not required by any task" in msgs


def test_unrequired_provide_warns_from_add_tasks_too():
    t = returning("provider", provides=["one"])
    s = sched.Sched()
    with recorded_warnings() as rec:
        s.add_tasks([t])
    assert f"Dep 'one' provided by {t}, but not required by any task" in pexen_messages(rec)


def test_required_provide_does_not_warn():
    p = returning("p", provides=["one"])
    c = returning("c", requires=["one"])
    with recorded_warnings() as rec:
        sched.Sched([p, c])
    assert pexen_messages(rec) == []


def test_multiple_providers_do_not_warn():
    p1 = returning("p1", provides=["one"])
    p2 = returning("p2", provides=["one"])
    c = returning("c", requires=["one"])
    with recorded_warnings() as rec:
        s = sched.Sched([p1, p2, c])
        results = list(s.run())
    assert pexen_messages(rec) == []
    assert sorted(r.ret for r in results) == ["c", "p1", "p2"]


# -------------------------------------------------------------------- locks


def test_claims_and_uses_overlap():
    t = returning("both", claims=[1, 2, 3], uses=[2, 3, 4])
    with pytest.raises(sched.MutexError) as exc:
        sched.Sched([t])
    assert str(exc.value) == f"Task {t} has {{2, 3}} in both claims and uses."
    assert exc.value.task is t
    assert isinstance(exc.value, sched.SchedulerError)


def test_claims_and_uses_overlap_from_add_tasks():
    ok = returning("ok", claims=["a"])
    t = returning("both", claims=["r"], uses=["r"])
    s = sched.Sched([ok])
    with pytest.raises(sched.MutexError) as exc:
        s.add_tasks([t])
    assert str(exc.value) == f"Task {t} has {{'r'}} in both claims and uses."
    assert exc.value.task is t


def test_same_resource_claimed_and_used_by_different_tasks_is_fine():
    a = returning("a", claims=["r"])
    b = returning("b", uses=["r"])
    assert sorted(r.ret for r in sched.Sched([a, b]).run()) == ["a", "b"]


# ------------------------------------------------------- type errors at once


class _NotATask:
    def __repr__(self):
        return "NotATask#1"

    __str__ = __repr__


@pytest.mark.parametrize("obj", [42, "a string", _NotATask(), None])
def test_non_callable_task(obj):
    msg = f"Task {obj!r} is not callable"
    with pytest.raises(TypeError) as exc:
        sched.Sched([obj])
    assert str(exc.value) == msg
    s = sched.Sched([returning("ok")])
    with pytest.raises(TypeError) as exc:
        s.add_tasks([obj])
    assert str(exc.value) == msg


def test_non_callable_among_good_tasks():
    s = sched.Sched()
    with pytest.raises(TypeError) as exc:
        s.add_tasks([returning("good"), _NotATask()])
    assert str(exc.value) == "Task NotATask#1 is not callable"


def _force(task, field, value):
    """Put a value the SchedMeta setter would refuse into a task's metadata."""
    m = meta.assign_meta(task)
    object.__setattr__(m, field, value)
    return task


@pytest.mark.parametrize("field", ["requires", "provides", "uses", "claims"])
def test_unhashable_names(field):
    task = _force(returning("unhashable_task"), field, [["a list"]])
    with pytest.raises(TypeError) as exc:
        sched.Sched([task])
    assert str(exc.value) == (f"Task {task!r}: unhashable name in {field}: unhashable type: 'list'")


def test_unhashable_name_in_list_refused_at_once():
    # the public setter refuses the list right away, and sets nothing
    def task():
        return "task"

    with pytest.raises(TypeError) as exc:
        meta.assign_val(task, requires=[["x"]])
    assert str(exc.value) == "unhashable name in requires: unhashable type: 'list'"
    assert [r.ret for r in sched.Sched([task]).run()] == ["task"]


#: A priority that cannot be compared: "Task <task>: priority P cannot be
#: compared with priority Q of <other task>".
PRIORITY_MSG = re.compile(
    r"Task <function prio_(one|two) at 0x[0-9a-f]+>: priority .+ cannot be compared "
    r"with priority .+ of <function prio_(one|two) at 0x[0-9a-f]+>"
)


@pytest.mark.parametrize(("p1", "p2"), [(1, "x"), (None, 0), (0, (1,)), (1.5, "2"), ({"a"}, 1)])
def test_incomparable_priorities(p1, p2):
    a = returning("prio_one", priority=p1)
    b = returning("prio_two", priority=p2)
    with pytest.raises(TypeError) as exc:
        sched.Sched([a, b])
    assert PRIORITY_MSG.fullmatch(str(exc.value)), str(exc.value)


def test_incomparable_priority_from_add_tasks():
    first = returning("first", priority=1)
    s = sched.Sched([first])
    second = returning("second_bad", priority="high")
    with pytest.raises(TypeError) as exc:
        s.add_tasks([second])
    assert str(exc.value) == (
        f"Task {second!r}: priority 'high' cannot be compared with priority 1 of {first!r}"
    )


def test_single_task_with_any_priority_is_fine():
    assert [r.ret for r in sched.Sched([returning("solo", priority="x")]).run()] == ["solo"]


@pytest.mark.parametrize("value", [["a", 1], "abc", 5, None])
def test_non_mapping_kwargs(value):
    task = _force(returning("kwargs_task"), "kwargs", value)
    with pytest.raises(TypeError) as exc:
        sched.Sched([task])
    assert str(exc.value) == (
        f"Task {task!r}: kwargs must be a mapping, not {type(value).__name__}"
    )


def test_non_set_names_forced():
    task = _force(returning("str_requires"), "requires", "one")
    with pytest.raises(sched.SchedulerError) as exc:
        sched.Sched([task])
    assert type(exc.value) is sched.SchedulerError
    assert str(exc.value) == f"Task {task!r}: requires must be a set or list, not str"


def test_validation_never_runs_anything():
    ran = []

    def good():
        ran.append(1)

    bad = returning("bad", requires=["missing"])
    with pytest.raises(sched.DepcheckError):
        sched.Sched([good, bad])
    assert ran == []


def test_equal_priorities_need_no_order(pool_kind):
    # None is not ordered, not even with itself; ties go by insertion
    tasks = [returning(f"t{i}", priority=None) for i in range(3)]
    results = list(sched.Sched(tasks).run(new_pool(pool_kind, workers=1, spare=0)))
    assert [r.ret for r in results] == ["t0", "t1", "t2"]


def test_the_pair_that_cannot_be_compared_is_named():
    first = returning("first", priority=None)
    second = returning("second", priority=0)
    with pytest.raises(
        TypeError,
        match=r"^Task .*second.*: priority 0 cannot be compared with priority None of .*first",
    ):
        sched.Sched([first, second])
