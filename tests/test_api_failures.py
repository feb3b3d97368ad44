"""Failing tasks, controlled failures and the end-of-run warnings."""

from __future__ import annotations

import threading
import traceback
import types
import warnings
from io import StringIO

import pytest
from helpers import (
    LOCKS_MSG,
    SKIP_MSG,
    by_task,
    end_messages,
    expected_end_messages,
    recorded_warnings,
    returning,
    run_all,
    tagged,
    task_names,
)

import pexen
from pexen import sched


class MyFail(sched.TaskFailError):
    """A controlled failure carrying data (module level: picklable)."""


class ResultFail(sched.TaskFailError):
    """A subclass with its own constructor signature."""

    def __init__(self, result, **flags):
        super().__init__(f"failed with {result}", **flags)
        self.result = result


class MyException(sched.TaskFailError):
    pass


# ----------------------------------------------------- seed: greet_exc & co.


def _seed_tasks(kind):
    """The seed's greet_exc / greet_signature / greet_underlings."""

    if kind == "uncontrolled":

        def greet_exc():
            test = nonexistent  # noqa: F821, F841
            return "Hello World!"

    else:

        def greet_exc():
            try:
                test = nonexistent  # noqa: F841
            except NameError:
                raise sched.TaskFailError("Hello Harsh World!") from None
            return "Hello World!"

    greet_exc = sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])(
        greet_exc
    )

    @sched.meta.func_meta(requires=["greeting"])
    def greet_signature():
        return "Yours, Mr. Builder"

    @sched.meta.func_meta(claims=["world"])
    def greet_underlings():
        return "Hello Minions!"

    return greet_exc, greet_signature, greet_underlings


def test_seed_uncontrolled_failure(make_pool):
    for workers in (1, 2):
        greet_exc, greet_signature, greet_underlings = _seed_tasks("uncontrolled")
        s = sched.Sched([greet_exc, greet_signature, greet_underlings])
        results, msgs = run_all(s, make_pool(workers=workers))
        assert len(results) == 1
        [res] = results
        assert res.task is greet_exc
        assert res.ret is None
        assert res.shared == {}
        assert res.excinfo.type is NameError
        assert isinstance(res.excinfo.val, NameError)
        assert str(res.excinfo.val) == "name 'nonexistent' is not defined"
        assert res.excinfo.tb is not None
        assert msgs == [
            "1 tasks skipped due to unmet deps caused by parent exception",
            "1 locks still held at exit due to parent exception",
        ]


def test_seed_uncontrolled_failure_default_pool():
    tasks = _seed_tasks("uncontrolled")
    with recorded_warnings() as rec:
        results = list(sched.Sched(tasks).run())
    assert [r.task for r in results] == [tasks[0]]
    warned = [w for w in rec if issubclass(w.category, pexen.PexenWarning)]
    assert [str(w.message) for w in warned] == [SKIP_MSG.format(1), LOCKS_MSG.format(1)]


def test_seed_uncontrolled_failure_pytest_warns():
    tasks = _seed_tasks("uncontrolled")
    with pytest.warns(pexen.PexenWarning) as rec:
        list(sched.Sched(tasks).run())
    assert {str(w.message) for w in rec} >= {SKIP_MSG.format(1), LOCKS_MSG.format(1)}


def test_seed_controlled_failure(pool):
    greet_exc, greet_signature, greet_underlings = _seed_tasks("controlled")
    s = sched.Sched([greet_exc, greet_signature, greet_underlings])
    results, msgs = run_all(s, pool)
    assert msgs == []
    res = by_task(results)
    assert len(res) == 3
    bad = res[greet_exc]
    assert bad.ret is None
    assert bad.excinfo.type is sched.TaskFailError
    assert bad.excinfo.val.args == ("Hello Harsh World!",)
    assert res[greet_underlings] == sched.TaskRes(greet_underlings, {}, "Hello Minions!", None)
    assert res[greet_signature] == sched.TaskRes(greet_signature, {}, "Yours, Mr. Builder", None)
    # greet_exc claims 'world' and provides 'greeting': both others wait for it
    assert task_names(results)[0] == "greet_exc"


def test_warnings_raised_in_the_iterating_thread(pool):
    tasks = _seed_tasks("uncontrolled")
    seen = []
    errors = []

    def record(message, category, *args, **kwargs):
        seen.append((str(message), threading.get_ident()))

    def consumer():
        try:
            list(sched.Sched(tasks).run(pool))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        th = threading.Thread(target=consumer, name="consumer")
        th.start()
        th.join(60)
    assert not th.is_alive()
    assert errors == []
    assert sorted(m for m, _ in seen) == sorted([SKIP_MSG.format(1), LOCKS_MSG.format(1)])
    assert {ident for _, ident in seen} == {th.ident}


def test_no_warning_on_a_clean_run(pool):
    a = returning("a", provides=["x"], claims=["r"])
    b = returning("b", requires=["x"], uses=["r"])
    _, msgs = run_all(sched.Sched([a, b]), pool)
    assert msgs == []


# ---------------------------------------------------- uncontrolled failures


def test_excinfo_fields_thread_pool_verbatim():
    err = KeyError("k")

    def fails():
        raise err

    pool = sched.pool.ThreadWorkerPool(workers=1)
    [res] = list(sched.Sched([fails]).run(pool))
    assert res.ret is None
    assert isinstance(res.excinfo, sched.ExceptionInfo)
    assert res.excinfo.type is KeyError
    assert res.excinfo.val is err
    assert isinstance(res.excinfo.tb, types.TracebackType)


def test_excinfo_traceback_prints(pool):
    def deep_failing_function():
        raise ValueError("boom")

    [res] = list(sched.Sched([deep_failing_function]).run(pool))
    assert res.excinfo.type is ValueError
    assert str(res.excinfo.val) == "boom"
    buf = StringIO()
    traceback.print_exception(*res.excinfo, file=buf)
    out = buf.getvalue()
    assert "ValueError: boom" in out
    assert "deep_failing_function" in out


def test_uncontrolled_failure_skips_dependants_and_counts_tasks(pool):
    # two tasks need x (one name, two tasks), a third needs what one of them
    # provides: all three are skipped
    f = tagged("f", lambda: 1 / 0, provides=["x"])
    d1 = returning("d1", requires=["x"], provides=["y"])
    d2 = returning("d2", requires=["x"])
    d3 = returning("d3", requires=["y"])
    ok = returning("ok")
    results, msgs = run_all(sched.Sched([f, d1, d2, d3, ok]), pool)
    assert sorted(task_names(results)) == ["f", "ok"]
    assert by_task(results)[f].excinfo.type is ZeroDivisionError
    assert msgs == [SKIP_MSG.format(3)]


def test_uncontrolled_failure_keeps_claims(make_pool):
    f = tagged("f", lambda: 1 / 0, claims=["r", "s"], priority=-1)
    c = returning("c", claims=["r"])
    u = returning("u", uses=["s"])
    free = returning("free", claims=["t"])
    results, msgs = run_all(sched.Sched([f, c, u, free]), make_pool(workers=1))
    assert sorted(task_names(results)) == ["f", "free"]
    # tasks blocked only by a lock are not "skipped"
    assert msgs == [LOCKS_MSG.format(2)]


def test_uncontrolled_failure_of_a_user_keeps_read_lock(make_pool):
    # a failed reader keeps its read lock: claimers stay out, readers may go
    f = tagged("f", lambda: 1 / 0, uses=["r"], priority=-1)
    c = returning("c", claims=["r"], priority=0)
    u = returning("u", uses=["r"], priority=1)
    results, msgs = run_all(sched.Sched([f, c, u]), make_pool(workers=1))
    assert sorted(task_names(results)) == ["f", "u"]
    assert msgs == [LOCKS_MSG.format(1)]


def test_held_locks_counted_by_resource(pool):
    f1 = tagged("f1", lambda: 1 / 0, uses=["r"])
    f2 = tagged("f2", lambda: 1 / 0, uses=["r", "q"])
    results, msgs = run_all(sched.Sched([f1, f2]), pool)
    assert len(results) == 2
    assert msgs == [LOCKS_MSG.format(2)]


def test_skipped_counts_tasks_behind_lock_blocked_provider(make_pool):
    # l is blocked forever by f's claim (not counted); d needs what l would
    # have provided (counted)
    f = tagged("f", lambda: 1 / 0, claims=["r"], priority=-1)
    l_ = returning("l", claims=["r"], provides=["y"])
    d = returning("d", requires=["y"])
    results, msgs = run_all(sched.Sched([f, l_, d]), make_pool(workers=1))
    assert task_names(results) == ["f"]
    assert sorted(msgs) == sorted([SKIP_MSG.format(1), LOCKS_MSG.format(1)])


def test_other_provider_still_satisfies_after_failure(make_pool):
    bad = tagged("bad", lambda: 1 / 0, provides=["x"], priority=-1)
    good = returning("good", provides=["x"], priority=1)
    d = returning("d", requires=["x"], priority=0)
    results, msgs = run_all(sched.Sched([bad, good, d]), make_pool(workers=1))
    assert sorted(task_names(results)) == ["bad", "d", "good"]
    assert msgs == []


def test_failed_task_ret_is_none_and_exception_is_value(pool):
    def fails(shared):
        shared["partial"] = 1
        raise RuntimeError("half way")

    [res] = list(sched.Sched([fails]).run(pool))
    assert res.ret is None
    assert res.shared == {"partial": 1}
    assert res.excinfo.type is RuntimeError
    assert res.excinfo.val.args == ("half way",)


# ------------------------------------------------------ controlled failures


def _controlled(deps_ok, locks_ok):
    def f(shared):
        shared["from_f"] = True
        raise sched.TaskFailError("controlled", deps_ok=deps_ok, locks_ok=locks_ok)

    f = tagged("f", f, provides=["d"], claims=["r"], priority=-1)

    def dep(shared):
        return dict(shared)

    dep = tagged("dep", dep, requires=["d"])
    lock = returning("lock", claims=["r"])
    return f, dep, lock


@pytest.mark.parametrize("deps_ok", [True, False])
@pytest.mark.parametrize("locks_ok", [True, False])
def test_taskfailerror_flags(deps_ok, locks_ok, pool):
    f, dep, lock = _controlled(deps_ok, locks_ok)
    results, msgs = run_all(sched.Sched([f, dep, lock]), pool)
    res = by_task(results)
    assert res[f].excinfo.type is sched.TaskFailError
    assert res[f].excinfo.val.args == ("controlled",)
    assert res[f].excinfo.val.deps_ok is deps_ok
    assert res[f].excinfo.val.locks_ok is locks_ok
    assert res[f].shared == {"from_f": True}
    assert (dep in res) is deps_ok
    assert (lock in res) is locks_ok
    if deps_ok:
        # deps_ok also propagates the shared state
        assert res[dep].ret == {"from_f": True}
    assert sorted(msgs) == expected_end_messages(int(not deps_ok), int(not locks_ok))


def test_taskfailerror_defaults_both_ok(pool):
    def f():
        raise sched.TaskFailError()

    f = tagged("f", f, provides=["d"], claims=["r"], priority=-1)
    dep = returning("dep", requires=["d"])
    lock = returning("lock", claims=["r"])
    results, msgs = run_all(sched.Sched([f, dep, lock]), pool)
    assert sorted(task_names(results)) == ["dep", "f", "lock"]
    assert msgs == []


def test_taskfailerror_subclass_carries_data(pool):
    def f():
        err = MyFail("payload", {"n": 1}, deps_ok=False)
        err.extra = [1, 2, 3]
        raise err

    f = tagged("f", f, provides=["d"])
    dep = returning("dep", requires=["d"])
    results, msgs = run_all(sched.Sched([f, dep]), pool)
    [res] = results
    assert res.excinfo.type is MyFail
    assert isinstance(res.excinfo.val, sched.TaskFailError)
    assert res.excinfo.val.args == ("payload", {"n": 1})
    assert res.excinfo.val.extra == [1, 2, 3]
    assert res.excinfo.val.deps_ok is False
    assert msgs == [SKIP_MSG.format(1)]


def test_taskfailerror_subclass_with_own_constructor(pool):
    def f():
        raise ResultFail({"passed": 3, "failed": 1}, locks_ok=False)

    f = tagged("f", f, uses=["r"])
    results, msgs = run_all(sched.Sched([f]), pool)
    [res] = results
    assert res.excinfo.type is ResultFail
    assert res.excinfo.val.result == {"passed": 3, "failed": 1}
    assert res.excinfo.val.locks_ok is False
    assert res.excinfo.val.deps_ok is True
    assert msgs == [LOCKS_MSG.format(1)]


# ----------------------------------------------------------- task_fail_wrap


def test_task_fail_wrap_bare(pool):
    @sched.meta.func_meta(provides=["d"], claims=["r"], priority=-1)
    @sched.task_fail_wrap
    def greet_exc():
        raise ValueError("wrapped")

    dep = returning("dep", requires=["d"])
    lock = returning("lock", claims=["r"])
    results, msgs = run_all(sched.Sched([greet_exc, dep, lock]), pool)
    res = by_task(results)
    assert len(res) == 3
    assert res[greet_exc].excinfo.type is sched.TaskFailError
    assert msgs == []


@pytest.mark.parametrize("deps_ok", [True, False])
@pytest.mark.parametrize("locks_ok", [True, False])
def test_task_fail_wrap_flags(deps_ok, locks_ok, pool):
    @sched.meta.func_meta(provides=["d"], claims=["r"], priority=-1)
    @sched.task_fail_wrap(deps_ok=deps_ok, locks_ok=locks_ok)
    def greet_exc2():
        raise ValueError("wrapped")

    dep = returning("dep", requires=["d"])
    lock = returning("lock", claims=["r"])
    results, msgs = run_all(sched.Sched([greet_exc2, dep, lock]), pool)
    res = by_task(results)
    assert issubclass(res[greet_exc2].excinfo.type, sched.TaskFailError)
    assert (dep in res) is deps_ok
    assert (lock in res) is locks_ok
    assert sorted(msgs) == expected_end_messages(int(not deps_ok), int(not locks_ok))


def test_task_fail_wrap_reraise(pool):
    @sched.task_fail_wrap(reraise=MyException)
    def greet_exc3():
        raise ValueError("wrapped")

    [res] = list(sched.Sched([greet_exc3]).run(pool))
    assert res.excinfo.type is MyException
    assert isinstance(res.excinfo.val, sched.TaskFailError)


def test_task_fail_wrap_reraise_with_flags(pool):
    @sched.meta.func_meta(provides=["d"])
    @sched.task_fail_wrap(reraise=MyException, deps_ok=False)
    def greet_exc4():
        raise ValueError("wrapped")

    dep = returning("dep", requires=["d"])
    results, msgs = run_all(sched.Sched([greet_exc4, dep]), pool)
    assert [r.excinfo.type for r in results] == [MyException]
    assert msgs == [SKIP_MSG.format(1)]


def test_task_fail_wrap_success_passes_through(pool):
    @sched.task_fail_wrap
    def fine(shared):
        shared["x"] = 1
        return "fine"

    [res] = list(sched.Sched([fine]).run(pool))
    assert res == sched.TaskRes(fine, {"x": 1}, "fine", None)


@pytest.mark.parametrize("form", ["bare", "args"])
def test_task_fail_wrap_keeps_calling_convention(form, pool):
    wrap = sched.task_fail_wrap if form == "bare" else sched.task_fail_wrap(deps_ok=False)

    @wrap
    def no_args():
        return "none"

    @wrap
    def with_shared(shared):
        return dict(shared)

    @sched.meta.func_meta(kwargs={"wtype": "W"})
    @wrap
    def with_kwargs(*, wtype, build=1):
        return (wtype, build)

    @sched.meta.func_meta(kwargs={"wtype": "W"})
    @wrap
    def with_both(shared, wtype):
        return (dict(shared), wtype)

    s = sched.Sched([no_args, with_shared, with_kwargs, with_both])
    s.add_shared(p=1)
    res = by_task(s.run(pool))
    for r in res.values():
        assert r.excinfo is None, r
    assert res[no_args].ret == "none"
    assert res[with_shared].ret == {"p": 1}
    assert res[with_kwargs].ret == ("W", 1)
    assert res[with_both].ret == ({"p": 1}, "W")


def test_task_fail_wrap_under_func_meta_keeps_metadata(pool):
    # metadata set on the function first, then wrapped
    @sched.task_fail_wrap(deps_ok=False)
    @sched.meta.func_meta(provides=["d"])
    def inner():
        raise ValueError("x")

    dep = returning("dep", requires=["d"])
    results, msgs = run_all(sched.Sched([inner, dep]), pool)
    assert task_names(results) == ["inner"]
    assert msgs == [SKIP_MSG.format(1)]


def test_task_fail_wrap_lets_taskfailerror_through(pool):
    @sched.task_fail_wrap(reraise=MyException)
    def raises_own():
        raise MyFail("mine", locks_ok=False)

    raises_own = tagged("raises_own", raises_own, claims=["r"])
    results, msgs = run_all(sched.Sched([raises_own]), pool)
    assert results[0].excinfo.type is MyFail
    assert end_messages(msgs) == [LOCKS_MSG.format(1)]


def test_warnings_can_be_silenced(pool):
    tasks = _seed_tasks("uncontrolled")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=pexen.PexenWarning)
        results = list(sched.Sched(tasks).run(pool))
    assert len(results) == 1
    assert [w for w in rec if issubclass(w.category, pexen.PexenWarning)] == []
