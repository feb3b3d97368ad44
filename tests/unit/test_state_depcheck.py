"""DepChecker: the static dependency check, one batch of tasks at a time."""

from __future__ import annotations

import pytest
from specs import spec

from pexen.sched import DepcheckError
from pexen.state.depcheck import DepChecker, check_satisfiable


def test_a_batch_may_require_what_earlier_batches_provide():
    checker = DepChecker()
    checker.add([spec(0, provides=["a"])])
    checker.add([spec(1, requires=["a"], provides=["b"]), spec(2, requires=["b"])])


def test_a_refused_batch_leaves_the_checker_as_it_was():
    checker = DepChecker()
    checker.add([spec(0, provides=["a"])])
    with pytest.raises(DepcheckError, match=r"^Unsatisfied requires remain: \['c'\]$") as err:
        checker.add([spec(1, requires=["a"], provides=["b"]), spec(2, requires=["b", "c"])])
    assert set(err.value.remain) == {"c"}
    # 'b' was provided only inside the refused batch: it is not known now
    with pytest.raises(DepcheckError, match=r"\['b'\]"):
        checker.add([spec(3, requires=["b"])])
    checker.add([spec(4, requires=["a"])])


def test_a_cycle_inside_a_batch_is_named():
    checker = DepChecker()
    checker.add([spec(0, provides=["root"])])
    batch = [
        spec(1, requires=["root", "y"], provides=["x"]),
        spec(2, requires=["x"], provides=["y"]),
    ]
    with pytest.raises(
        DepcheckError, match=r"dependency cycle: '(x' -> 'y' -> 'x|y' -> 'x' -> 'y)'"
    ):
        checker.add(batch)


def test_unrequired_counts_every_task_accepted_so_far():
    checker = DepChecker()
    first = [spec(0, provides=["a", "b"]), spec(1, requires=["a"])]
    checker.add(first)
    assert [(s.tid, n) for s, n in checker.unrequired(first)] == [(0, "b")]
    later = [spec(2, requires=["b"], provides=["c"])]
    checker.add(later)
    assert [(s.tid, n) for s, n in checker.unrequired(later)] == [(2, "c")]


def test_cost_does_not_depend_on_what_was_added_before():
    # Every task of a chain added one at a time: each add touches only its
    # own task. Counted, not timed: the checker reads no earlier task.
    checker = DepChecker()
    checker.add([spec(0, provides=[0])])
    touched = []

    class Counting(frozenset):
        def __iter__(self):
            touched.append(1)
            return super().__iter__()

    for i in range(1, 2000):
        s = spec(i, provides=[i])._replace(requires=Counting([i - 1]))
        touched.clear()
        checker.add([s])
        assert len(touched) <= 2, i


def test_check_satisfiable_is_one_batch():
    check_satisfiable([spec(0, provides=["a"]), spec(1, requires=["a"])])
    with pytest.raises(DepcheckError):
        check_satisfiable([spec(0, requires=["a"])])
