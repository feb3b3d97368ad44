"""Public names, task metadata and the result tuples."""

from __future__ import annotations

import functools

import pytest

import pexen
from pexen import sched
from pexen.sched import meta

SET_FIELDS = ("requires", "provides", "uses", "claims")
GETTERS = {
    "requires": meta.get_requires,
    "provides": meta.get_provides,
    "uses": meta.get_uses,
    "claims": meta.get_claims,
    "priority": meta.get_priority,
    "kwargs": meta.get_kwargs,
}


def _plain():
    return None


class _CallMe:
    def __call__(self):
        return None


def fresh_callables():
    """One callable of every kind that must accept metadata."""

    def func():
        return None

    return {
        "function": func,
        "lambda": lambda: None,
        "instance": _CallMe(),
        "partial": functools.partial(_plain),
    }


# ---------------------------------------------------------------- public names


def test_public_names_exist():
    for name in (
        "Sched",
        "TaskRes",
        "ExceptionInfo",
        "TaskFailError",
        "task_fail_wrap",
        "SchedulerError",
        "DepcheckError",
        "MutexError",
        "meta",
        "pool",
    ):
        assert hasattr(sched, name), name
    for name in (
        "SchedMeta",
        "assign_meta",
        "assign_val",
        "func_meta",
        "has_meta",
        "retrieve_meta",
        *(f"get_{f}" for f in GETTERS),
    ):
        assert callable(getattr(meta, name)), name
    for name in ("ThreadWorkerPool", "ProcessWorkerPool", "PoolError"):
        assert hasattr(sched.pool, name), name


def test_error_hierarchy():
    assert pexen.PexenError is pexen.util.PexenError
    assert pexen.PexenWarning is pexen.util.PexenWarning
    assert issubclass(pexen.PexenWarning, Warning)
    assert issubclass(pexen.PexenError, Exception)
    assert issubclass(sched.SchedulerError, pexen.PexenError)
    assert issubclass(sched.DepcheckError, sched.SchedulerError)
    assert issubclass(sched.MutexError, sched.SchedulerError)
    assert issubclass(sched.pool.PoolError, sched.SchedulerError)
    assert issubclass(sched.TaskFailError, Exception)


# ------------------------------------------------------------- result tuples


def test_taskres_fields_and_defaults():
    assert sched.TaskRes._fields == ("task", "shared", "ret", "excinfo")
    res = sched.TaskRes(_plain)
    assert res == sched.TaskRes(_plain, {}, None, None)
    assert res.task is _plain
    assert res.shared == {}
    assert res.ret is None
    assert res.excinfo is None
    assert sched.TaskRes(_plain, {"a": 1}, 5) == (_plain, {"a": 1}, 5, None)
    assert sched.TaskRes(task=_plain, ret=3).ret == 3


def test_taskres_is_a_namedtuple_of_four():
    res = sched.TaskRes(_plain, {"x": 1}, "r", None)
    task, shared, ret, excinfo = res
    assert (task, shared, ret, excinfo) == (_plain, {"x": 1}, "r", None)
    assert len(res) == 4
    assert res._replace(ret=1).ret == 1
    with pytest.raises(TypeError):
        sched.TaskRes(_plain, {}, None, None, "fifth")


def test_exceptioninfo_fields_and_defaults():
    assert sched.ExceptionInfo._fields == ("type", "val", "tb")
    empty = sched.ExceptionInfo()
    assert empty == (None, None, None)
    assert empty.type is None and empty.val is None and empty.tb is None
    err = ValueError("x")
    info = sched.ExceptionInfo(ValueError, err)
    assert info == (ValueError, err, None)
    # an empty ExceptionInfo (every field unpicklable, or a worker lost with no
    # error) still says "an exception occurred", as opposed to excinfo None:
    # `if res.excinfo:` tells failed results from good ones either way
    assert bool(empty) is True
    failed, good = sched.TaskRes(_plain, excinfo=empty), sched.TaskRes(_plain)
    assert [res for res in (failed, good) if res.excinfo] == [failed]


def test_taskfailerror_flags_default_true():
    err = sched.TaskFailError("msg")
    assert isinstance(err, Exception)
    assert err.args == ("msg",)
    assert err.deps_ok is True
    assert err.locks_ok is True
    err = sched.TaskFailError("a", "b", deps_ok=False, locks_ok=False)
    assert err.args == ("a", "b")
    assert err.deps_ok is False
    assert err.locks_ok is False


# ------------------------------------------------------------------ SchedMeta


def test_schedmeta_defaults():
    m = meta.SchedMeta()
    for field in SET_FIELDS:
        value = getattr(m, field)
        assert value == set() and isinstance(value, set), field
    assert m.priority == 0
    assert m.kwargs == {}


def test_schedmeta_defaults_are_not_shared_between_instances():
    a, b = meta.SchedMeta(), meta.SchedMeta()
    a.requires.add("x")
    a.kwargs["k"] = 1
    assert b.requires == set()
    assert b.kwargs == {}


@pytest.mark.parametrize("field", SET_FIELDS)
def test_schedmeta_list_converts_to_set(field):
    m = meta.SchedMeta(**{field: ["a", "b", "a"]})
    assert getattr(m, field) == {"a", "b"}
    assert isinstance(getattr(m, field), set)
    m = meta.SchedMeta()
    setattr(m, field, [1, 2])
    assert getattr(m, field) == {1, 2}
    assert isinstance(getattr(m, field), set)


@pytest.mark.parametrize("field", SET_FIELDS)
def test_schedmeta_set_kept(field):
    m = meta.SchedMeta(**{field: {"a", ("t", 1)}})
    assert getattr(m, field) == {"a", ("t", 1)}


@pytest.mark.parametrize("field", SET_FIELDS)
@pytest.mark.parametrize("value", ["one", ("a",), 1, {"a": 1}, None])
def test_schedmeta_set_field_refuses_other_types(field, value):
    expected = f"{type(value)} cannot be used for {field}"
    with pytest.raises(AttributeError) as exc:
        meta.SchedMeta(**{field: value})
    assert str(exc.value) == expected
    m = meta.SchedMeta()
    with pytest.raises(AttributeError) as exc:
        setattr(m, field, value)
    assert str(exc.value) == expected
    assert getattr(m, field) == set()


def test_schedmeta_exact_refusal_messages():
    with pytest.raises(AttributeError) as exc:
        meta.SchedMeta(requires="one")
    assert str(exc.value) == "<class 'str'> cannot be used for requires"


@pytest.mark.parametrize("value", [["a", 1], "abc", 5])
def test_schedmeta_kwargs_refuses_non_dict(value):
    with pytest.raises(AttributeError) as exc:
        meta.SchedMeta(kwargs=value)
    assert str(exc.value) == f"{type(value)} cannot be used for kwargs"


@pytest.mark.parametrize("field", SET_FIELDS)
def test_schedmeta_unhashable_name_in_list(field):
    m = meta.SchedMeta(**{field: ["kept"]})
    with pytest.raises(TypeError) as exc:
        setattr(m, field, ["a", ["not hashable"]])
    assert str(exc.value) == f"unhashable name in {field}: unhashable type: 'list'"
    assert getattr(m, field) == {"kept"}


def test_schedmeta_kwargs_keys_must_be_strings():
    # they become keyword arguments of the call
    m = meta.SchedMeta(kwargs={"a": 1})
    with pytest.raises(TypeError) as exc:
        m.kwargs = {"a": 1, 2: "b"}
    assert str(exc.value) == "kwargs keys must be strings"
    assert m.kwargs == {"a": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "timeout must be a positive number of seconds, not 0"),
        (-1.5, "timeout must be a positive number of seconds, not -1.5"),
        (float("nan"), "timeout must be a positive number of seconds, not nan"),
        (True, "<class 'bool'> cannot be used for timeout"),
        ("10", "<class 'str'> cannot be used for timeout"),
    ],
)
def test_schedmeta_timeout_messages(value, message):
    with pytest.raises(AttributeError) as exc:
        meta.SchedMeta(timeout=value)
    assert str(exc.value) == message


def test_schedmeta_kwargs_dict():
    m = meta.SchedMeta(kwargs={"version": "Last"})
    assert m.kwargs == {"version": "Last"}


@pytest.mark.parametrize("value", [10, -1, 2.5, "b", (1, "x")])
def test_schedmeta_priority_any_comparable_value(value):
    m = meta.SchedMeta(priority=value)
    assert m.priority == value
    m.priority = value
    assert m.priority == value


def test_schedmeta_attribute_assignment():
    m = meta.SchedMeta()
    m.priority = 10
    m.requires = ["r"]
    m.provides = {"p"}
    m.kwargs = {"a": 1}
    assert (m.priority, m.requires, m.provides, m.kwargs) == (10, {"r"}, {"p"}, {"a": 1})


def test_every_field_has_one_check():
    assert meta.CHECKS.keys() == meta.FIELDS.keys()
    for field, default in meta.FIELDS.items():
        value = default()
        assert meta.CHECKS[field](field, value) == value, field


def test_schedmeta_unknown_field():
    with pytest.raises(AttributeError) as exc:
        meta.SchedMeta(bogus=1)
    assert str(exc.value) == "bogus is not a valid metadata field"
    m = meta.SchedMeta()
    with pytest.raises(AttributeError) as exc:
        m.nonsense = 1
    assert str(exc.value) == "nonsense is not a valid metadata field"


def test_schedmeta_all_fields_at_once():
    m = meta.SchedMeta(
        requires=["a"],
        provides=["b"],
        uses=["c"],
        claims=["d"],
        priority=3,
        kwargs={"k": "v"},
    )
    assert m.requires == {"a"}
    assert m.provides == {"b"}
    assert m.uses == {"c"}
    assert m.claims == {"d"}
    assert m.priority == 3
    assert m.kwargs == {"k": "v"}


# ---------------------------------------------------- attaching metadata to tasks


@pytest.mark.parametrize("kind", ["function", "lambda", "instance", "partial"])
def test_assign_meta_attaches_and_returns(kind):
    task = fresh_callables()[kind]
    assert not meta.has_meta(task)
    m = meta.SchedMeta(priority=7)
    assert meta.assign_meta(task, m) is m
    assert meta.has_meta(task)
    assert meta.retrieve_meta(task) is m
    assert meta.get_priority(task) == 7


@pytest.mark.parametrize("kind", ["function", "lambda", "instance", "partial"])
def test_assign_meta_without_meta_creates_empty_once(kind):
    task = fresh_callables()[kind]
    m = meta.assign_meta(task)
    assert isinstance(m, meta.SchedMeta)
    assert meta.has_meta(task)
    assert m.priority == 0 and m.requires == set() and m.kwargs == {}
    # a second call returns the same, now attached, metadata
    assert meta.assign_meta(task) is m
    assert meta.retrieve_meta(task) is m


def test_assign_meta_keeps_existing_meta():
    task = fresh_callables()["function"]
    m = meta.SchedMeta(provides=["x"])
    meta.assign_meta(task, m)
    assert meta.assign_meta(task) is m
    assert meta.get_provides(task) == {"x"}


def test_assign_meta_replaces_meta():
    task = fresh_callables()["function"]
    meta.assign_meta(task, meta.SchedMeta(priority=1))
    m2 = meta.SchedMeta(priority=2)
    meta.assign_meta(task, m2)
    assert meta.retrieve_meta(task) is m2
    assert meta.get_priority(task) == 2


@pytest.mark.parametrize("kind", ["function", "lambda", "instance", "partial"])
def test_assign_val_creates_and_updates(kind):
    task = fresh_callables()[kind]
    meta.assign_val(task, priority=5, requires=["a"])
    assert meta.get_priority(task) == 5
    assert meta.get_requires(task) == {"a"}
    meta.assign_val(task, provides=["b"])
    assert meta.get_provides(task) == {"b"}
    assert meta.get_priority(task) == 5  # other fields kept
    assert meta.get_requires(task) == {"a"}


def test_assign_val_converts_and_refuses():
    task = fresh_callables()["function"]
    with pytest.raises(AttributeError) as exc:
        meta.assign_val(task, claims="x")
    assert str(exc.value) == "<class 'str'> cannot be used for claims"
    with pytest.raises(AttributeError) as exc:
        meta.assign_val(task, nofield=1)
    assert str(exc.value) == "nofield is not a valid metadata field"


def test_func_meta_bare():
    def task():
        return 1

    decorated = meta.func_meta(task)
    assert decorated is task
    assert meta.has_meta(task)
    assert meta.get_priority(task) == 0
    assert meta.get_requires(task) == set()
    assert meta.get_kwargs(task) == {}


def test_func_meta_bare_as_decorator():
    @meta.func_meta
    def task():
        return 1

    assert task() == 1
    assert meta.has_meta(task)
    assert meta.get_priority(task) == 0


def test_func_meta_with_fields():
    @meta.func_meta(priority=10, kwargs={"version": "Last"}, provides=["p"])
    def greet_ver(**kwargs):
        return f"Hello {kwargs['version']} World!"

    assert greet_ver.__name__ == "greet_ver"
    assert greet_ver(version="X") == "Hello X World!"
    assert meta.get_priority(greet_ver) == 10
    assert meta.get_kwargs(greet_ver) == {"version": "Last"}
    assert meta.get_provides(greet_ver) == {"p"}
    assert meta.get_requires(greet_ver) == set()


def test_func_meta_returns_same_function():
    def task():
        return None

    assert meta.func_meta(priority=1)(task) is task


def test_func_meta_refuses_bad_field():
    with pytest.raises(AttributeError):

        @meta.func_meta(requires="one")
        def task():
            return None


@pytest.mark.parametrize("kind", ["function", "lambda", "instance", "partial"])
def test_getters_on_task_without_meta_give_defaults(kind):
    task = fresh_callables()[kind]
    for field in SET_FIELDS:
        assert GETTERS[field](task) == set(), field
    assert meta.get_priority(task) == 0
    assert meta.get_kwargs(task) == {}


def test_getters_on_builtin_without_meta():
    # builtins cannot carry attributes; they behave as tasks with all defaults
    assert meta.has_meta(len) is False
    assert meta.get_requires(len) == set()
    assert meta.get_priority(len) == 0
    assert meta.get_kwargs(len) == {}


def test_getters_return_meta_values():
    task = fresh_callables()["function"]
    meta.assign_val(
        task,
        requires=["r"],
        provides=["p"],
        uses=["u"],
        claims=["c"],
        priority=-3,
        kwargs={"k": 1},
    )
    assert meta.get_requires(task) == {"r"}
    assert meta.get_provides(task) == {"p"}
    assert meta.get_uses(task) == {"u"}
    assert meta.get_claims(task) == {"c"}
    assert meta.get_priority(task) == -3
    assert meta.get_kwargs(task) == {"k": 1}


def test_has_meta_false_for_plain_callables():
    for task in fresh_callables().values():
        assert meta.has_meta(task) is False


def test_metadata_does_not_change_the_callable():
    @meta.func_meta(priority=1)
    def task(shared):
        shared["x"] = 1
        return "r"

    d = {}
    assert task(d) == "r"
    assert d == {"x": 1}


def test_seed_priority_example_metadata():
    def greet1():
        return "Hello First World!"

    def greet2():
        return "Hello Second World!"

    def greet3():
        return "Hello Third World!"

    m1 = sched.meta.SchedMeta(priority=10)
    sched.meta.assign_meta(greet1, m1)
    m2 = sched.meta.SchedMeta()
    m2.priority = 0
    sched.meta.assign_meta(greet2, m2)
    sched.meta.assign_val(greet3, priority=10)
    assert [sched.meta.get_priority(t) for t in (greet1, greet2, greet3)] == [10, 0, 10]
