"""Shared state, as in the seed's worked example."""

from __future__ import annotations

from helpers import by_task, run_all, tagged, task_names

from pexen import sched
from pexen.sched import meta

# The seed's worked example, verbatim apart from indentation.


@sched.meta.func_meta(provides=["worldtype"])
def greet(shared):
    shared["msg"] = "Hello World!"
    shared["wtype"] = "Silicate"


@sched.meta.func_meta(requires=["worldtype"], kwargs={"version": "Last"})
def greet_ver(shared, **kwargs):
    shared["msg"] = f"Hello {kwargs['version']} {shared['wtype']} World!"


@sched.meta.func_meta(kwargs={"version": "Last"})
def greet_ver_nodep(shared, **kwargs):
    shared["msg"] = f"Hello {kwargs['version']} {shared['wtype']} World!"


def test_seed_worked_example(make_pool):
    for workers, spare in ((1, 1), (2, 1), (1, 0), (2, 2)):
        s = sched.Sched([greet, greet_ver, greet_ver_nodep])
        s.add_shared(wtype="Terrestrial")
        results, msgs = run_all(s, make_pool(workers=workers, spare=spare))
        assert msgs == []
        res = by_task(results)
        assert len(res) == 3
        assert res[greet_ver_nodep] == sched.TaskRes(
            greet_ver_nodep,
            {"wtype": "Terrestrial", "msg": "Hello Last Terrestrial World!"},
            None,
            None,
        )
        assert res[greet] == sched.TaskRes(
            greet, {"wtype": "Silicate", "msg": "Hello World!"}, None, None
        )
        assert res[greet_ver] == sched.TaskRes(
            greet_ver, {"wtype": "Silicate", "msg": "Hello Last Silicate World!"}, None, None
        )
        names = task_names(results)
        assert names.index("greet") < names.index("greet_ver")


def test_seed_worked_example_default_pool():
    s = sched.Sched([greet, greet_ver, greet_ver_nodep])
    s.add_shared(wtype="Terrestrial")
    res = by_task(s.run())
    assert res[greet_ver_nodep].shared == {
        "wtype": "Terrestrial",
        "msg": "Hello Last Terrestrial World!",
    }
    assert res[greet].shared == {"wtype": "Silicate", "msg": "Hello World!"}
    assert res[greet_ver].shared == {"wtype": "Silicate", "msg": "Hello Last Silicate World!"}


def test_seed_shared_in_taskres(pool):
    def greet_msg(shared):
        shared["msg"] = "Hello World!"

    assert list(sched.Sched([greet_msg]).run(pool)) == [
        sched.TaskRes(greet_msg, {"msg": "Hello World!"}, None, None)
    ]


def test_seed_add_shared_preset(pool):
    def g(shared):
        return dict(shared)

    @meta.func_meta(kwargs={"version": "Last"})
    def gv(shared, **kwargs):
        return (dict(shared), kwargs)

    s = sched.Sched([g, gv])
    s.add_shared(wtype="Terrestrial", build=666)
    res = by_task(s.run(pool))
    preset = {"wtype": "Terrestrial", "build": 666}
    assert res[g].ret == preset
    assert res[gv].ret == (preset, {"version": "Last"})
    assert res[g].shared == preset
    assert res[gv].shared == preset


def test_each_task_gets_its_own_copy_of_preset(pool):
    def make(i):
        def t(shared):
            seen = dict(shared)
            shared[f"k{i}"] = i
            shared["common"] = i
            return seen

        t.__name__ = t.__qualname__ = f"t{i}"
        return t

    tasks = [make(i) for i in range(8)]
    s = sched.Sched(tasks)
    s.add_shared(common="preset")
    res = by_task(s.run(pool))
    for i, t in enumerate(tasks):
        assert res[t].ret == {"common": "preset"}
        assert res[t].shared == {"common": i, f"k{i}": i}


def test_preset_unchanged_by_a_run(pool):
    def t(shared):
        before = dict(shared)
        shared["w"] = "changed"
        shared["new"] = 1
        return before

    s = sched.Sched([t])
    s.add_shared(w="orig")
    [first] = list(s.run(pool))
    assert first.ret == {"w": "orig"}
    [second] = list(s.run())
    assert second.ret == {"w": "orig"}
    assert second.shared == {"w": "changed", "new": 1}


def test_add_shared_accumulates_and_overrides():
    def t(shared):
        return dict(shared)

    s = sched.Sched([t])
    s.add_shared(a=1, b=2)
    s.add_shared(b=3, c=4)
    [res] = list(s.run())
    assert res.ret == {"a": 1, "b": 3, "c": 4}


def _writer(name, **fields):
    """A task that records what it saw and writes its own key."""

    def t(shared):
        seen = sorted(shared)
        shared[name] = True
        shared["last"] = name
        return seen

    return tagged(name, t, **fields)


def test_unrelated_tasks_are_never_touched(make_pool):
    # one worker, no spare: a, then c (unrelated, runs after a ended), then b
    a = _writer("a", provides=["x"], priority=0)
    b = _writer("b", requires=["x"], priority=2)
    c = _writer("c", priority=1)
    res = by_task(sched.Sched([a, b, c]).run(make_pool(workers=1, spare=0)))
    assert res[a].shared == {"a": True, "last": "a"}
    assert res[b].ret == ["a", "last"]
    assert res[b].shared == {"a": True, "b": True, "last": "b"}
    assert res[c].ret == []
    assert res[c].shared == {"c": True, "last": "c"}


def test_shared_propagates_transitively(pool):
    a = _writer("a", provides=["x"])
    b = _writer("b", requires=["x"], provides=["y"])
    c = _writer("c", requires=["y"])
    s = sched.Sched([c, b, a])
    s.add_shared(p=0)
    res = by_task(s.run(pool))
    assert res[a].shared == {"p": 0, "a": True, "last": "a"}
    assert res[b].shared == {"p": 0, "a": True, "b": True, "last": "b"}
    assert res[c].shared == {"p": 0, "a": True, "b": True, "c": True, "last": "c"}
    assert res[c].ret == ["a", "b", "last", "p"]


def test_shared_merges_from_several_requirements_in_finish_order(make_pool):
    # one worker, no spare: a then b run before c; b finishes last, so its
    # value of 'last' wins in c's dict
    a = _writer("a", provides=["x"], priority=0)
    b = _writer("b", provides=["y"], priority=1)
    c = _writer("c", requires=["x", "y"], priority=2)
    res = by_task(sched.Sched([c, b, a]).run(make_pool(workers=1, spare=0)))
    assert res[c].ret == ["a", "b", "last"]
    assert res[c].shared == {"a": True, "b": True, "c": True, "last": "c"}

    def read_last(shared):
        return shared["last"]

    d = tagged("d", read_last, requires=["x", "y"], priority=2)
    a2 = _writer("a", provides=["x"], priority=0)
    b2 = _writer("b", provides=["y"], priority=1)
    res = by_task(sched.Sched([d, b2, a2]).run(make_pool(workers=1, spare=0)))
    assert res[d].ret == "b"


def test_second_provider_merged_when_it_ends_before_dependant_starts(make_pool):
    # p1 then p2 (both provide x) end before c starts: c gets both dicts
    p1 = _writer("p1", provides=["x"], priority=0)
    p2 = _writer("p2", provides=["x"], priority=1)
    c = _writer("c", requires=["x"], priority=2)
    results, msgs = run_all(sched.Sched([p1, p2, c]), make_pool(workers=1, spare=0))
    assert msgs == []  # several providers: no warning
    res = by_task(results)
    assert task_names(results) == ["p1", "p2", "c"]
    assert res[c].ret == ["last", "p1", "p2"]


def test_requirement_met_by_first_provider(make_pool):
    # c outranks p2 once p1 provided x: it starts before p2 and never sees p2's dict
    p1 = _writer("p1", provides=["x"], priority=0)
    p2 = _writer("p2", provides=["x"], priority=1)
    c = _writer("c", requires=["x"], priority=-1)
    results, msgs = run_all(sched.Sched([p1, p2, c]), make_pool(workers=1, spare=0))
    assert msgs == []
    res = by_task(results)
    assert task_names(results) == ["p1", "c", "p2"]
    assert res[c].ret == ["last", "p1"]
    assert res[c].shared == {"p1": True, "c": True, "last": "c"}


def test_finished_dict_merged_with_update_semantics(pool):
    def parent(shared):
        shared["wtype"] = "Silicate"
        shared["from_parent"] = [1, 2]

    def child(shared):
        return dict(shared)

    meta.assign_val(parent, provides=["p"])
    meta.assign_val(child, requires=["p"])
    s = sched.Sched([parent, child])
    s.add_shared(wtype="Terrestrial", other=1)
    res = by_task(s.run(pool))
    assert res[child].ret == {"wtype": "Silicate", "other": 1, "from_parent": [1, 2]}


def test_failed_task_shared_in_taskres(pool):
    def fails(shared):
        shared["got_here"] = True
        raise ValueError("boom")

    s = sched.Sched([fails])
    s.add_shared(pre=1)
    [res] = list(s.run(pool))
    assert res.excinfo is not None and res.excinfo.type is ValueError
    assert res.ret is None
    assert res.shared == {"pre": 1, "got_here": True}


def test_many_dependants_each_get_parent_dict(pool):
    parent = _writer("parent", provides=["x"])
    kids = [_writer(f"kid{i}", requires=["x"]) for i in range(6)]
    res = by_task(sched.Sched([parent, *kids]).run(pool))
    for kid in kids:
        assert res[kid].ret == ["last", "parent"]
        assert res[kid].shared == {"parent": True, kid.__name__: True, "last": kid.__name__}
