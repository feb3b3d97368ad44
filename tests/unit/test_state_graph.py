"""The plain dependency state: DepGraph, ReadyQueue, the static depcheck."""

from __future__ import annotations

import heapq
import pickle
import random

import cloudpickle
import pytest
from helpers import tagged
from specs import spec

from pexen.sched import DepcheckError, MutexError, SchedulerError, meta
from pexen.state.depcheck import DepChecker, check_satisfiable
from pexen.state.depgraph import DepGraph
from pexen.state.handout import HandOutPolicy
from pexen.state.readyqueue import ReadyQueue
from pexen.state.taskspec import TaskSpec, check_priorities, compile_task, takes_shared


def test_depgraph_ready_as_names_are_provided():
    g = DepGraph()
    specs = [spec(0, provides="a"), spec(1, requires="a", provides="b"), spec(2, requires="ab")]
    assert g.add(specs) == [0]
    assert g.blocked == 2
    assert g.provide(["a"]) == [1]
    assert g.provide(["a"]) == []  # provided once is enough
    assert g.provide(["b"]) == [2]
    assert g.blocked == 0


def test_depgraph_late_tasks_see_names_already_provided():
    g = DepGraph()
    g.add([spec(0, provides="a")])
    g.provide(["a"])
    assert g.add([spec(1, requires="a")]) == [1]
    assert g.is_provided("a")


def test_depgraph_requirers_are_every_task_requiring_a_name():
    g = DepGraph()
    g.add([spec(0, provides="ab"), spec(1, requires="a"), spec(2, requires="ab"), spec(3)])
    assert g.requirers("a") == {1, 2}
    assert g.requirers("b") == {2}
    assert g.requirers("z") == set()
    assert sorted(g.blocked_tids()) == [1, 2]


def test_readyqueue_priority_then_insertion_order():
    q = ReadyQueue()
    for tid, prio in [(0, 5), (1, 0), (2, 5), (3, -1), (4, 0)]:
        q.push(prio, tid)
    assert q.tids() == [3, 1, 4, 0, 2]
    popped = []
    while q:
        head = q.peek()  # the next pop, left in the queue
        assert q.peek() == head
        popped.append(q.pop())
        assert popped[-1] == head
    assert popped == [3, 1, 4, 0, 2]


def test_readyqueue_pops_as_one_heap_whatever_the_order_of_pushes():
    # in order (the sorted run), out of order (the heap beside it), pops between
    rng = random.Random(7)
    for _ in range(300):
        q, ref = ReadyQueue(), []  # ref: a plain heap of (priority, tid)
        tids = rng.sample(range(1000), 40)
        for tid in tids:
            if ref and rng.random() < 0.4:
                assert q.peek() == ref[0][1]
                assert q.pop() == heapq.heappop(ref)[1]
            prio = rng.choice([0, 0, 0, 1, -1])
            q.push(prio, tid)
            heapq.heappush(ref, (prio, tid))
            assert q.tids() == [t for _, t in sorted(ref)]
        while ref:
            assert q
            assert q.pop() == heapq.heappop(ref)[1]
        assert not q


def test_depcheck_reports_unprovided_names():
    with pytest.raises(DepcheckError) as info:
        check_satisfiable([spec(0, requires=["one"]), spec(1, provides=["two"])])
    assert str(info.value) == "Unsatisfied requires remain: ['one']"
    assert list(info.value.remain) == ["one"]


def test_depcheck_reports_a_cycle_with_its_names():
    specs = [
        spec(0, requires=["a"], provides=["b"]),
        spec(1, requires=["b"], provides=["a"]),
        spec(2, provides=["c"]),
    ]
    with pytest.raises(DepcheckError) as info:
        check_satisfiable(specs)
    msg = str(info.value)
    assert msg.startswith("Unsatisfied requires remain: ['a', 'b']")
    assert "cycle" in msg and "'a'" in msg and "'b'" in msg


def test_depcheck_accepts_a_dag_and_multiple_providers():
    check_satisfiable(
        [spec(0, provides="a"), spec(1, provides="a"), spec(2, requires="a", provides="b"),
         spec(3, requires="ab")]
    )  # fmt: skip


def test_unrequired_provides_names_only_new_tasks():
    checker = DepChecker()
    checker.add([spec(0, provides=["x"])])
    new = [spec(1, provides=["a", "b"]), spec(2, requires=["a"])]
    checker.add(new)
    found = [(s.tid, n) for s, n in checker.unrequired(new)]
    assert found == [(1, "b")]


def test_takes_shared_follows_the_signature():
    def none():
        pass

    def shared(s):
        pass

    def kw_only(*, wtype, build=123):
        pass

    def both(s, wtype, build=123):
        pass

    def star(*args):
        pass

    class Callable:
        def __call__(self, s):
            pass

        def method(self):
            pass

    assert not takes_shared(none, {})
    assert takes_shared(shared, {})
    assert not takes_shared(kw_only, {"wtype": 1})
    assert takes_shared(both, {"wtype": 1})
    assert not takes_shared(star, {})
    assert takes_shared(lambda i=1: i, {})  # a positional parameter, default or not
    assert takes_shared(Callable(), {})
    assert not takes_shared(Callable().method, {})
    assert takes_shared(len, {})  # a builtin, positional-only


class _UnhashableTask:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self):
        return None

    def __repr__(self):
        return "unhashable"


def test_compile_task_validates_each_field():
    with pytest.raises(TypeError, match="not callable"):
        compile_task(42, 0)
    with pytest.raises(TypeError, match=r"^Task unhashable is not hashable$"):
        compile_task(_UnhashableTask(), 0)
    with pytest.raises(TypeError, match=r"^Task \[1\] is not callable$"):
        compile_task([1], 0)  # unhashable too: callable is checked first

    def mutex():
        pass

    meta.assign_val(mutex, claims=[2, 3], uses=[3, 2, 4])
    with pytest.raises(MutexError) as info:
        compile_task(mutex, 0)
    assert str(info.value) == f"Task {mutex} has {{2, 3}} in both claims and uses."
    assert info.value.task is mutex

    def badkw():
        pass

    meta.assign_meta(badkw).kwargs = {"a": 1}
    object.__setattr__(meta.retrieve_meta(badkw), "kwargs", [1, 2])
    with pytest.raises(TypeError, match="kwargs"):
        compile_task(badkw, 0)

    def badmeta():
        pass

    badmeta._pexen_meta = "junk"  # type: ignore[attr-defined]
    with pytest.raises(SchedulerError, match="SchedMeta"):
        compile_task(badmeta, 0)


def _forced(field, value):
    """A task whose metadata holds a value put there behind the setter's back."""

    def forced():
        pass

    object.__setattr__(meta.assign_meta(forced), field, value)
    return forced


NAME_FIELDS = ("requires", "provides", "uses", "claims")


@pytest.mark.parametrize("field", NAME_FIELDS)
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("one", SchedulerError, "{field} must be a set or list, not str"),
        (None, SchedulerError, "{field} must be a set or list, not NoneType"),
        (("a",), SchedulerError, "{field} must be a set or list, not tuple"),
        (["a", ["b"]], TypeError, "unhashable name in {field}: unhashable type: 'list'"),
    ],
)
def test_compile_task_refuses_forced_names(field, value, error, message):
    task = _forced(field, value)
    with pytest.raises(error) as info:
        compile_task(task, 0)
    assert type(info.value) is error
    assert str(info.value) == f"Task {task!r}: " + message.format(field=field)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kwargs", [("a", 1)], "kwargs must be a mapping, not list"),
        ("kwargs", None, "kwargs must be a mapping, not NoneType"),
        ("kwargs", {"a": 1, 2: 3}, "kwargs keys must be strings"),
        ("timeout", 0, "timeout must be a positive number, not 0"),
        ("timeout", True, "timeout must be a positive number, not True"),
        ("timeout", "10", "timeout must be a positive number, not '10'"),
    ],
)
def test_compile_task_refuses_forced_kwargs_and_timeout(field, value, message):
    task = _forced(field, value)
    with pytest.raises(TypeError) as info:
        compile_task(task, 0)
    assert type(info.value) is TypeError
    assert str(info.value) == f"Task {task!r}: {message}"


def test_compile_task_sees_kwargs_mutated_after_assignment():
    def task():
        pass

    meta.assign_val(task, kwargs={"a": 1})
    meta.get_kwargs(task)[3] = "not a keyword"  # type: ignore[index]
    with pytest.raises(TypeError) as info:
        compile_task(task, 0)
    assert str(info.value) == f"Task {task!r}: kwargs keys must be strings"


VALUES = {
    "names": [set(), {"a", ("t", 1)}, ["a", "a"], [], ["a", ["b"]], "one", ("a",),
              frozenset({"a"}), 1, {"a": 1}, None],
    "kwargs": [{}, {"a": 1}, {1: 2}, [("a", 1)], "abc", None],
    "timeout": [None, 1, 0.5, float("inf"), 0, -1, float("nan"), True, "10"],
    "priority": [0, -1, "x", (1, "x"), None],
}  # fmt: skip
FIELD_VALUES = [
    (field, value)
    for field, kind in [*((f, "names") for f in NAME_FIELDS), ("kwargs", "kwargs"),
                        ("timeout", "timeout"), ("priority", "priority")]
    for value in VALUES[kind]
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), FIELD_VALUES)
def test_setter_and_compile_task_apply_one_rule(field, value):
    """A value is refused on assignment exactly when compile_task refuses it
    put there behind the setter's back, and both keep the same value."""
    refused = object()
    try:
        stored = getattr(meta.SchedMeta(**{field: value}), field)
    except (AttributeError, TypeError):
        stored = refused
    try:
        compiled = getattr(compile_task(_forced(field, value), 0), field)
    except (SchedulerError, TypeError):
        compiled = refused
    if stored is refused or compiled is refused:
        assert stored is compiled, (stored, compiled)
    elif field in NAME_FIELDS:
        assert compiled == frozenset(stored) and isinstance(compiled, frozenset)
    else:
        assert compiled == stored


def test_check_priorities_names_the_task():
    a, b = spec(0, priority=1), spec(1, priority="x")
    check_priorities([a])
    with pytest.raises(TypeError, match="priority 'x'"):
        check_priorities([a, b])


# -- hand-out policy ------------------------------------------------------------


def test_handout_policy_allows_ahead_until_tasks_prove_long():
    policy = HandOutPolicy(long_task=0.005)
    assert policy.ahead()  # nothing known yet: assume short
    for _ in range(3):
        policy.served(0.0001)
    assert policy.ahead()
    policy.served(0.050)  # one long task is enough to stop handing out ahead
    assert not policy.ahead()
    for _ in range(20):
        policy.served(0.0001)
    assert policy.ahead()  # short again


def test_taskspec_keeps_each_field_given_and_derives_locks():
    def func():
        pass

    names = [frozenset({n}) for n in ("r", "p", "u", "c")]
    s = TaskSpec(7, func, *names, 3, {"k": 1}, True, 2.5, 4, locks=False)
    assert (s.tid, s.func, s.requires, s.provides, s.uses, s.claims) == (7, func, *names)
    assert (s.priority, s.kwargs, s.pass_shared, s.timeout, s.origin) == (3, {"k": 1}, True, 2.5, 4)
    assert s.locks is True  # derived from uses and claims, whatever was passed
    with pytest.raises(AttributeError):
        s.tid = 8  # type: ignore[misc]
    bare = s._replace(uses=frozenset(), claims=frozenset(), tid=9)
    assert (bare.tid, bare.locks, bare.func, bare.timeout) == (9, False, func, 2.5)
    assert bare != s and s == s  # a task is equal only to itself


def _module_task(shared):
    return shared


def _twins() -> tuple[TaskSpec, TaskSpec]:
    """Two specs of the very same field objects."""
    names = frozenset({"n"})
    a = TaskSpec(3, _module_task, names, names, names, frozenset(), 1, {}, True)
    return a, TaskSpec(*a)


def test_taskspec_is_equal_and_hashed_only_as_itself():
    a, b = _twins()
    assert tuple(a) == tuple(b)  # the same fields...
    assert a != b and (a == b) is False  # ...are still two tasks
    assert a == a and (a != a) is False
    assert a != tuple(a) and tuple(a) != a and (tuple(a) == a) is False
    assert [*a] != [a] and a != [*a]
    assert hash(a) == object.__hash__(a) != hash(b)
    with pytest.raises(TypeError, match="unhashable"):
        hash(tuple(a))  # fields alone are not hashable (kwargs is a dict): never used
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1
    assert a in [b, a] and [b].count(a) == 0 and a not in (b,)
    for op in ("<", "<=", ">", ">="):  # nor ordered by its fields
        with pytest.raises(TypeError, match="not supported between instances of 'TaskSpec'"):
            eval(f"a {op} b")


def test_taskspec_is_immutable():
    s, _ = _twins()
    for name in s._fields:
        with pytest.raises(AttributeError):
            setattr(s, name, None)
        with pytest.raises(AttributeError):
            delattr(s, name)
    with pytest.raises(AttributeError):
        s.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(s, "__dict__")
    assert s.uses == {"n"} and s.priority == 1  # untouched


def test_taskspec_takes_keywords_and_defaults():
    names = frozenset({"c"})
    s = TaskSpec(
        tid=1, func=_module_task, requires=frozenset(), provides=frozenset(), uses=frozenset(),
        claims=names, priority=None, kwargs={"k": 2}, pass_shared=False, origin=0,
    )  # fmt: skip
    assert (s.tid, s.claims, s.priority, s.kwargs, s.timeout, s.origin) == (
        1, names, None, {"k": 2}, None, 0,
    )  # fmt: skip
    assert TaskSpec(0, _module_task, *[frozenset()] * 4, 0, {}, False).timeout is None
    assert repr(s).startswith("TaskSpec(tid=1, func=<function _module_task")
    assert "claims=frozenset({'c'})" in repr(s) and repr(s).endswith("locks=True)")


def test_taskspec_derives_locks_however_built():
    none = frozenset()
    free = TaskSpec(0, _module_task, none, none, none, none, 0, {}, False, locks=True)
    assert free.locks is False  # passed True, but nothing to lock
    assert TaskSpec(0, _module_task, none, none, frozenset("u"), none, 0, {}, False).locks is True
    assert TaskSpec(0, _module_task, none, none, none, frozenset("c"), 0, {}, False).locks is True
    assert free._replace(claims=frozenset("c")).locks is True
    assert free._replace(claims=frozenset("c"))._replace(claims=none).locks is False
    assert free._replace(tid=4, locks=True).locks is False
    assert TaskSpec._make([*free[:4], frozenset("u"), *free[5:]]).locks is True
    with pytest.raises(ValueError, match="unexpected field names"):
        free._replace(name="x")
    # compiled: with and without metadata
    assert compile_task(_module_task, 0).locks is False
    assert compile_task(tagged("u", lambda: 0, uses=["u"]), 0).locks is True
    assert compile_task(tagged("c", lambda: 0, claims=["c"]), 0).locks is True
    assert compile_task(tagged("r", lambda: 0, requires=["r"]), 0).locks is False


def test_taskspec_replace_copies_every_other_field():
    s, _ = _twins()
    t = s._replace(tid=9, origin=3)
    assert type(t) is TaskSpec and t is not s and s.tid == 3 and s.origin is None
    assert (t.tid, t.origin) == (9, 3)
    assert t[1:-2] == s[1:-2] and t.locks is s.locks is True


@pytest.mark.parametrize("dumps", ["pickle", "cloudpickle"])
def test_taskspec_pickles_with_every_field(dumps):
    dump = pickle.dumps if dumps == "pickle" else cloudpickle.dumps
    x = 5
    func = _module_task if dumps == "pickle" else (lambda: x)
    none = frozenset()
    for uses, claims in ((frozenset("u"), none), (none, frozenset("c")), (none, none)):
        s = TaskSpec(
            7, func, frozenset("r"), frozenset("p"), uses, claims, (2, "a"), {"k": 1}, True,
            2.5, 4,
        )  # fmt: skip
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(dump(s, protocol))
            assert type(back) is TaskSpec and back is not s
            assert back._fields == s._fields
            for name in s._fields:
                if name != "func":
                    assert getattr(back, name) == getattr(s, name), name
            assert back.locks is bool(uses or claims)
            if dumps == "pickle":
                assert back.func is _module_task  # by reference
            else:
                assert back.func is not func and back.func() == x  # by value


def test_readyqueue_keeps_its_order_when_priorities_stop_being_ints():
    # ints are packed into one key each; the first other priority unpacks them all
    rng = random.Random(11)
    for _ in range(200):
        q, ref = ReadyQueue(), []
        for tid in rng.sample(range(1000), 30):
            if ref and rng.random() < 0.3:
                assert q.pop() == heapq.heappop(ref)[1]
            prio = rng.choice([0, 2, -3, 10**20, True, 1.5, -0.5])
            q.push(prio, tid)
            heapq.heappush(ref, (prio, tid))
            assert q.tids() == [t for _, t in sorted(ref)]
            assert q.peek() == ref[0][1]
        while ref:
            assert q.pop() == heapq.heappop(ref)[1]
        assert not q


def test_readyqueue_push_all_pops_as_pushing_each():
    # a batch in order (the run's table at its start), out of order, after
    # pushes, with priorities that are not all ints: the order of one heap
    rng = random.Random(13)
    for _ in range(200):
        q, ref = ReadyQueue(), []
        for _batch in range(rng.randint(1, 4)):
            if ref and rng.random() < 0.3:
                assert q.pop() == heapq.heappop(ref)[1]
            start = rng.randrange(0, 500)
            tids = list(range(start, start + rng.randint(0, 20)))
            if rng.random() < 0.3:
                rng.shuffle(tids)
            kinds = rng.choice([[0], [0, 1, -2, True], [0, 1.5]])
            prios = [rng.choice(kinds) for _ in tids]
            taken = {t for _, t in ref}
            prios = [p for p, t in zip(prios, tids, strict=True) if t not in taken]
            tids = [t for t in tids if t not in taken]
            q.push_all(prios, tids)
            for prio, tid in zip(prios, tids, strict=True):
                heapq.heappush(ref, (prio, tid))
            assert q.tids() == [t for _, t in sorted(ref)]
        while ref:
            assert q.peek() == ref[0][1]
            assert q.pop() == heapq.heappop(ref)[1]
        assert not q
