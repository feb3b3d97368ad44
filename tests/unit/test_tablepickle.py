"""actors.tablepickle: closures of one code cross as clones of the first."""

from __future__ import annotations

import pickle

import cloudpickle

from actors import tablepickle
from pexen.sched import meta


def _roundtrip(obj):
    return pickle.loads(tablepickle.dumps(obj))


def _closures(n):
    def make(i):
        def task():
            return i

        return task

    return [make(i) for i in range(n)]


def test_closures_of_one_code_come_back_with_their_own_cells():
    back = _roundtrip(_closures(50))
    assert [f() for f in back] == list(range(50))
    assert len({id(f) for f in back}) == 50
    assert len({id(f.__globals__) for f in back}) == 1  # one globals, as cloudpickle


def test_clones_are_smaller_than_cloudpickle_copies():
    funcs = _closures(200)
    assert len(tablepickle.dumps(funcs)) < len(cloudpickle.dumps(funcs)) / 2


def test_defaults_kwdefaults_and_attributes_are_per_function():
    def make(i):
        def task(a=i, *, b=i * 10):
            return a + b

        task.mark = f"m{i}"
        return task

    back = _roundtrip([make(i) for i in range(5)])
    assert [f() for f in back] == [11 * i for i in range(5)]
    assert [f.mark for f in back] == [f"m{i}" for i in range(5)]


def test_clones_keep_their_own_defaults_and_cells_of_plain_values():
    def make(i):
        def task(a=i, b=f"s{i}"):
            return (a, b, i * 1.5, i % 2 == 0, None, b"x" * i)

        return task

    back = _roundtrip([make(i) for i in range(4)])
    assert [f() for f in back] == [make(i)() for i in range(4)]
    assert [f.__defaults__ for f in back] == [(i, f"s{i}") for i in range(4)]
    back[0].__closure__[0].cell_contents = 99  # a cell of its own
    assert back[1]() == make(1)()


def test_metadata_survives_and_compares_equal():
    funcs = _closures(3)
    for i, f in enumerate(funcs):
        meta.assign_val(f, provides=[f"p{i}"], priority=i, kwargs={"x": i})
    back = _roundtrip(funcs)
    for f, g in zip(funcs, back, strict=True):
        assert meta.retrieve_meta(g) == meta.retrieve_meta(f)
    # a rebuilt record still checks what is set on it
    m = meta.retrieve_meta(back[0])
    m.requires = ["a"]
    assert m.requires == {"a"}


def test_a_closure_over_itself_and_an_empty_cell():
    def make(i):
        def rec(k):
            return i if k == 0 else rec(k - 1)

        return rec

    def make_unbound(i):
        def task():
            return later  # bound only if set below

        if i % 2:
            later = i
        return task

    back = _roundtrip([make(i) for i in range(3)])
    assert [f(3) for f in back] == [0, 1, 2]
    unbound = _roundtrip([make_unbound(i) for i in range(4)])
    assert [unbound[i]() for i in (1, 3)] == [1, 3]
    for i in (0, 2):
        try:
            unbound[i]()
        except NameError:
            pass
        else:
            raise AssertionError("an empty cell came back filled")


def test_a_function_renamed_after_its_definition_keeps_its_name():
    funcs = _closures(3)
    funcs[1].__name__ = funcs[1].__qualname__ = "renamed"
    back = _roundtrip(funcs)
    assert [f.__name__ for f in back] == ["task", "renamed", "task"]
    assert [f() for f in back] == [0, 1, 2]


def test_module_level_functions_and_other_objects_pickle_as_usual():
    rows = [(0, len, {"a": 1}, False), (1, pickle.dumps, {}, True), {"k": [1, 2]}]
    assert _roundtrip(rows) == rows
