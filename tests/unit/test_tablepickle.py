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


# -- whole task tables: rows made into functions as they are looked up -----


def _table(funcs, kwargs=None):
    rows = [(tid, f, (kwargs or {}).get(tid, {}), tid % 2 == 1) for tid, f in enumerate(funcs)]
    return tablepickle.Table(pickle.loads(tablepickle.dumps_table(rows)))


def test_a_table_of_closures_comes_back_row_by_row_with_their_own_cells():
    table = _table(_closures(50), kwargs={3: {"x": 3}})
    assert len(table) == 50
    rows = [table[i] for i in range(50)]
    assert [row[0] for row in rows] == list(range(50))
    assert [row[1]() for row in rows] == list(range(50))
    assert [row[2] for row in rows] == [{"x": 3} if i == 3 else {} for i in range(50)]
    assert [row[3] for row in rows] == [i % 2 == 1 for i in range(50)]
    assert table[7][1] is not table[7][1]  # made at each look-up, kept nowhere
    assert [row[1]() for row in table[10:13]] == [10, 11, 12]


def test_a_table_is_smaller_than_clones_of_each_closure():
    rows = [(tid, f, {}, False) for tid, f in enumerate(_closures(200))]
    assert len(tablepickle.dumps_table(rows)) < len(tablepickle.dumps(rows))


def test_a_table_keeps_what_a_row_cannot_carry():
    def make(i):
        def task(a=i, *, b=i * 10):
            return a + b

        task.mark = f"m{i}"
        return task

    def make_rec(i):
        def rec(k):
            return i if k == 0 else rec(k - 1)

        return rec

    shared = [1, 2]

    def make_holder(i):
        def task():
            return shared, i

        return task

    funcs = [len, *(make(i) for i in range(3)), *(make_rec(i) for i in range(3))]
    funcs += [make_holder(i) for i in range(3)]
    funcs += [lambda: 5, lambda: 6]
    funcs[2].__name__ = "renamed"
    table = _table(funcs)
    back = [row[1] for row in table]
    assert back[0] is len
    assert [f() for f in back[1:4]] == [0, 11, 22]
    assert [f.mark for f in back[1:4]] == ["m0", "m1", "m2"]
    assert back[2].__name__ == "renamed"
    assert [f(3) for f in back[4:7]] == [0, 1, 2]
    held = [f() for f in back[7:10]]
    assert [i for _, i in held] == [0, 1, 2]
    assert held[0][0] == [1, 2] and held[0][0] is held[2][0]  # one object, as it was
    assert [f() for f in back[10:]] == [5, 6]
    for f, g in zip(funcs[1:], back[1:], strict=True):
        names = ("__name__", "__qualname__", "__module__")
        assert [getattr(g, n) for n in names] == [getattr(f, n) for n in names]
