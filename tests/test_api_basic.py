"""Running tasks, results, priorities and the calling convention."""

from __future__ import annotations

import functools
import os
import random
import threading

import pytest
from helpers import EVENT_TIMEOUT, by_task, new_event, new_pool, run_all, task_names

from pexen import sched
from pexen.sched import meta


def _ok(res):
    """Assert a result is a success, showing the task's exception if not."""
    assert res.excinfo is None, f"{res.task!r} failed: {res.excinfo!r}"
    return res


# ------------------------------------------------------------------ basics


def test_empty_scheduler_yields_nothing(pool):
    assert list(sched.Sched().run(pool)) == []


def test_empty_scheduler_default_pool():
    assert list(sched.Sched().run()) == []
    assert list(sched.Sched([]).run()) == []


def test_seed_return_value_passed_through(pool):
    def greet():
        return {"set": {1, 2, 3}, "list": [1, 2, 3]}

    s = sched.Sched([greet])
    results = list(s.run(pool))
    assert results == [sched.TaskRes(greet, {}, {"set": {1, 2, 3}, "list": [1, 2, 3]}, None)]
    assert results[0] == sched.TaskRes(
        task=greet, shared={}, ret={"set": {1, 2, 3}, "list": [1, 2, 3]}, excinfo=None
    )


def test_seed_greet_ver_kwargs(pool):
    @sched.meta.func_meta(priority=10, kwargs={"version": "Last"})
    def greet_ver(**kwargs):
        return f"Hello {kwargs['version']} World!"

    results = list(sched.Sched([greet_ver]).run(pool))
    assert results == [sched.TaskRes(greet_ver, {}, "Hello Last World!", None)]


def test_result_task_is_the_added_callable(pool):
    class Callable:
        def __call__(self):
            return "instance"

    def func():
        return "function"

    def base():
        return "partial"

    tasks = [func, lambda: "lambda", Callable(), functools.partial(base)]
    res = by_task(sched.Sched(tasks).run(pool))
    assert len(res) == 4
    for task in tasks:
        # the very object that was added, also when it ran in another process
        assert any(r is task for r in res), task
    assert {r.ret for r in res.values()} == {"function", "lambda", "instance", "partial"}


def test_one_result_per_task(pool):
    def make(i):
        return lambda: i  # a closure: no positional parameter, so no shared

    tasks = [make(i) for i in range(30)]
    results = list(sched.Sched(tasks).run(pool))
    assert len(results) == 30
    assert sorted(r.ret for r in results) == list(range(30))
    assert {id(r.task) for r in results} == {id(t) for t in tasks}
    for r in results:
        assert r.excinfo is None
        assert r.shared == {}


def test_task_given_twice_is_one_task(pool):
    def twice():
        return 2

    def once():
        return 1

    s = sched.Sched([twice, once, twice])
    s.add_tasks([twice])
    s.add_tasks([once, twice])
    results = list(s.run(pool))
    assert sorted(task_names(results)) == ["once", "twice"]


def test_run_pool_keyword(pool):
    def t():
        return "kw"

    assert [r.ret for r in sched.Sched([t]).run(pool=pool)] == ["kw"]


def test_add_tasks_after_construction(pool):
    def a():
        return "a"

    def b():
        return "b"

    s = sched.Sched()
    s.add_tasks([a])
    s.add_tasks(iter([b]))  # any iterable
    assert sorted(r.ret for r in s.run(pool)) == ["a", "b"]


def test_default_pool_runs_in_threads_of_this_process():
    main = threading.get_ident()

    def where():
        return (os.getpid(), threading.get_ident())

    results = list(sched.Sched([where]).run())
    assert len(results) == 1
    pid, ident = _ok(results[0]).ret
    assert pid == os.getpid()
    assert ident != main


def test_thread_pool_passes_anything_untouched():
    lock = threading.Lock()
    sentinel = object()

    def give(*, obj):
        return (obj, lock, lambda: 1)

    meta.assign_val(give, kwargs={"obj": sentinel})
    [res] = list(sched.Sched([give]).run(new_pool("thread")))
    obj, got_lock, func = _ok(res).ret
    assert obj is sentinel
    assert got_lock is lock
    assert func() == 1


def test_thread_pool_return_value_is_the_same_object():
    value = {"nested": [1, 2]}

    def give():
        return value

    [res] = list(sched.Sched([give]).run(new_pool("thread")))
    assert res.ret is value


# ------------------------------------------------------- calling convention


class _WithMethods:
    def __init__(self):
        self.tag = "obj"

    def shared_method(self, shared):
        return (self.tag, dict(shared))

    def plain_method(self):
        return self.tag

    @classmethod
    def class_method(cls, shared):
        return (cls.__name__, dict(shared))

    @staticmethod
    def static_method():
        return "static"


class _CallShared:
    def __call__(self, shared):
        return ("call", dict(shared))


class _CallPlain:
    def __call__(self):
        return "call-plain"


class _CallKw:
    def __call__(self, *, k):
        return ("call-kw", k)


def _prefix_shared(prefix, shared):
    return prefix + shared["w"]


def _double(x):
    return x * 2


def _kwonly_pair(*, x, y):
    return (x, y)


PRESET = {"w": "T"}


def _case(name):
    """Build (task, check) for one calling-convention case; fresh each time."""

    def eq(expected):
        return lambda ret: ret == expected

    if name == "no_args":

        def t():
            return "none"

        return t, eq("none")
    if name == "shared_only":

        def t(shared):
            return dict(shared)

        return t, eq(PRESET)
    if name == "shared_with_default":

        def t(shared=None):
            return None if shared is None else dict(shared)

        return t, eq(PRESET)
    if name == "kwargs_only":

        def t(**kwargs):
            return kwargs

        meta.assign_val(t, kwargs={"a": 1, "b": 2})
        return t, eq({"a": 1, "b": 2})
    if name == "keyword_only_defaults":

        def t(*, wtype, build=123):
            return (wtype, build)

        meta.assign_val(t, kwargs={"wtype": "Silicate"})
        return t, eq(("Silicate", 123))
    if name == "keyword_only_override":

        def t(*, wtype, build=123):
            return (wtype, build)

        meta.assign_val(t, kwargs={"wtype": "Silicate", "build": 7})
        return t, eq(("Silicate", 7))
    if name == "shared_and_named":

        def t(shared, wtype, build=123):
            return (dict(shared), wtype, build)

        meta.assign_val(t, kwargs={"wtype": "Gas"})
        return t, eq((PRESET, "Gas", 123))
    if name == "shared_and_kwargs":

        def t(shared, **kwargs):
            return (dict(shared), kwargs)

        meta.assign_val(t, kwargs={"version": "Last"})
        return t, eq((PRESET, {"version": "Last"}))
    if name == "no_kwargs_meta_but_accepts":

        def t(shared, **kwargs):
            return (dict(shared), kwargs)

        return t, eq((PRESET, {}))
    if name == "bound_method_shared":
        return _WithMethods().shared_method, eq(("obj", PRESET))
    if name == "bound_method_plain":
        return _WithMethods().plain_method, eq("obj")
    if name == "classmethod_shared":
        return _WithMethods.class_method, eq(("_WithMethods", PRESET))
    if name == "staticmethod_plain":
        return _WithMethods.static_method, eq("static")
    if name == "partial_shared":
        return functools.partial(_prefix_shared, "Hi "), eq("Hi T")
    if name == "partial_all_bound":
        return functools.partial(_double, 21), eq(42)
    if name == "partial_kwargs":
        p = functools.partial(_kwonly_pair, x=1)
        meta.assign_val(p, kwargs={"y": 2})
        return p, eq((1, 2))
    if name == "instance_shared":
        return _CallShared(), eq(("call", PRESET))
    if name == "instance_plain":
        return _CallPlain(), eq("call-plain")
    if name == "instance_kwargs":
        inst = _CallKw()
        meta.assign_val(inst, kwargs={"k": 5})
        return inst, eq(("call-kw", 5))
    if name == "lambda_shared":
        return (lambda shared: shared["w"]), eq("T")
    if name == "lambda_plain":
        return (lambda: "lam"), eq("lam")
    if name == "lambda_kwargs":
        lam = lambda *, n: n * 3  # noqa: E731
        meta.assign_val(lam, kwargs={"n": 3})
        return lam, eq(9)
    if name == "builtin_one_positional":
        return len, eq(len(PRESET))
    if name == "builtin_no_args":
        return os.getpid, lambda ret: isinstance(ret, int)
    raise AssertionError(name)


CASES = [
    "no_args",
    "shared_only",
    "shared_with_default",
    "kwargs_only",
    "keyword_only_defaults",
    "keyword_only_override",
    "shared_and_named",
    "shared_and_kwargs",
    "no_kwargs_meta_but_accepts",
    "bound_method_shared",
    "bound_method_plain",
    "classmethod_shared",
    "staticmethod_plain",
    "partial_shared",
    "partial_all_bound",
    "partial_kwargs",
    "instance_shared",
    "instance_plain",
    "instance_kwargs",
    "lambda_shared",
    "lambda_plain",
    "lambda_kwargs",
    "builtin_one_positional",
    "builtin_no_args",
]


@pytest.mark.parametrize("case", CASES)
def test_calling_convention(case, pool):
    task, check = _case(case)
    s = sched.Sched([task])
    s.add_shared(**PRESET)
    results = list(s.run(pool))
    assert len(results) == 1
    res = _ok(results[0])
    assert res.task == task
    assert check(res.ret), res.ret


def test_calling_convention_all_at_once(pool):
    built = [_case(c) for c in CASES if not c.startswith("builtin")]
    s = sched.Sched([t for t, _ in built])
    s.add_shared(**PRESET)
    res = by_task(s.run(pool))
    assert len(res) == len(built)
    for task, check in built:
        assert check(_ok(res[task]).ret), (task, res[task].ret)


def test_shared_received_is_a_dict_copy_of_preset(pool):
    def t(shared):
        ok = isinstance(shared, dict) and shared == {"w": "T", "n": 1}
        shared["added"] = True
        return ok

    s = sched.Sched([t])
    s.add_shared(w="T")
    s.add_shared(n=1)
    [res] = list(s.run(pool))
    assert _ok(res).ret is True
    assert res.shared == {"w": "T", "n": 1, "added": True}


@pytest.mark.parametrize("takes", ["nothing", "shared"])
def test_kwargs_to_task_that_cannot_take_them_fails_it(takes, pool):
    if takes == "nothing":

        def t():
            return "ran"

    else:

        def t(shared):
            return "ran"

    meta.assign_val(t, kwargs={"surprise": 1})

    def other():
        return "other"

    results, msgs = run_all(sched.Sched([t, other]), pool)
    res = by_task(results)
    assert res[other].ret == "other"
    bad = res[t]
    assert bad.ret is None
    assert bad.excinfo is not None
    assert bad.excinfo.type is TypeError
    assert "unexpected keyword argument" in str(bad.excinfo.val)
    assert msgs == []


def test_kwargs_not_in_taskres(pool):
    @meta.func_meta(kwargs={"secret": 42})
    def t(shared, secret):
        return secret

    [res] = list(sched.Sched([t]).run(pool))
    assert res == sched.TaskRes(t, {}, 42, None)


# ---------------------------------------------------------------- priorities


def _prio_task(name, prio):
    def t():
        return name

    t.__name__ = t.__qualname__ = name
    meta.assign_val(t, priority=prio)
    return t


def _expected_order(tasks):
    order = sorted(range(len(tasks)), key=lambda i: (meta.get_priority(tasks[i]), i))
    return [tasks[i].__name__ for i in order]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_priority_order_one_worker(seed, make_pool):
    rnd = random.Random(seed)
    tasks = [_prio_task(f"t{i}", rnd.choice([-5, 0, 0, 1, 3, 3, 10])) for i in range(12)]
    rnd.shuffle(tasks)
    results = list(sched.Sched(tasks).run(make_pool(workers=1, spare=1)))
    assert task_names(results) == _expected_order(tasks)


@pytest.mark.parametrize("spare", [0, 2])
def test_priority_order_one_worker_any_spare(spare, make_pool):
    rnd = random.Random(spare)
    tasks = [_prio_task(f"t{i}", rnd.randint(-3, 3)) for i in range(15)]
    results = list(sched.Sched(tasks).run(make_pool(workers=1, spare=spare)))
    assert task_names(results) == _expected_order(tasks)


def test_priority_order_default_pool():
    tasks = [_prio_task(f"t{i}", p) for i, p in enumerate([3, 1, 2, 1, 0, 3, -1, 2])]
    results = list(sched.Sched(tasks).run())
    assert task_names(results) == ["t6", "t4", "t1", "t3", "t2", "t7", "t0", "t5"]


def test_priority_ties_in_insertion_order_across_add_tasks():
    tasks = [_prio_task(f"t{i}", 0) for i in range(8)]
    s = sched.Sched(tasks[:3])
    s.add_tasks(tasks[3:5])
    s.add_tasks(tasks[5:])
    assert task_names(s.run()) == [f"t{i}" for i in range(8)]


def test_priority_mixed_comparable_values():
    tasks = [_prio_task("a", 1), _prio_task("b", 0.5), _prio_task("c", -2), _prio_task("d", 0)]
    assert task_names(sched.Sched(tasks).run()) == ["c", "d", "b", "a"]


def test_priority_tuples():
    tasks = [_prio_task("a", (1, "b")), _prio_task("b", (1, "a")), _prio_task("c", (0, "z"))]
    assert task_names(sched.Sched(tasks).run()) == ["c", "b", "a"]


@pytest.mark.parametrize("prios", [(0, 0, 0), (10, 0, 10), (0, 10, 0), (10, 10, 0)])
def test_seed_greet_priorities(prios):
    def greet1():
        return "Hello First World!"

    def greet2():
        return "Hello Second World!"

    def greet3():
        return "Hello Third World!"

    m1 = sched.meta.SchedMeta(priority=prios[0])
    sched.meta.assign_meta(greet1, m1)
    m2 = sched.meta.SchedMeta()
    m2.priority = prios[1]
    sched.meta.assign_meta(greet2, m2)
    sched.meta.assign_val(greet3, priority=prios[2])
    tasks = [greet1, greet2, greet3]
    results = list(sched.Sched(tasks).run())
    assert task_names(results) == _expected_order(tasks)
    for res in results:
        assert res == sched.TaskRes(res.task, {}, res.task(), None)


def test_priority_with_deps_one_worker_no_spare(make_pool):
    # spare=0: a task is handed out only when the worker is free, so among the
    # ready tasks the best priority always goes next
    a = _prio_task("a", 5)
    meta.assign_val(a, provides=["x"])
    b = _prio_task("b", 0)
    meta.assign_val(b, requires=["x"])
    c = _prio_task("c", 1)
    d = _prio_task("d", 2)
    e = _prio_task("e", 10)
    results = list(sched.Sched([a, b, c, d, e]).run(make_pool(workers=1, spare=0)))
    assert task_names(results) == ["c", "d", "a", "b", "e"]


def test_priority_and_locks_one_worker_no_spare(make_pool):
    a = _prio_task("a", 0)
    b = _prio_task("b", 1)
    c = _prio_task("c", 2)
    meta.assign_val(a, claims=["r"])
    meta.assign_val(b, uses=["r"])
    meta.assign_val(c, claims=["r"])
    results = list(sched.Sched([c, b, a]).run(make_pool(workers=1, spare=0)))
    assert task_names(results) == ["a", "b", "c"]


# --------------------------------------------- scheduling while the caller waits


def test_scheduling_goes_on_while_caller_handles_a_result(pool_kind):
    # b can only start after a's result exists; the caller sits on a's result
    # until b has run, which only a scheduler that keeps going allows.
    ev = new_event(pool_kind)

    @meta.func_meta(provides=["a"])
    def a():
        return "a"

    @meta.func_meta(requires=["a"], kwargs={"ev": ev})
    def b(*, ev):
        ev.set()
        return "b"

    gen = sched.Sched([a, b]).run(new_pool(pool_kind, workers=2, spare=1))
    try:
        first = next(gen)
        assert first.task is a
        assert ev.wait(EVENT_TIMEOUT), "b did not run while the caller held a's result"
        rest = list(gen)
    finally:
        gen.close()
    assert task_names(rest) == ["b"]
