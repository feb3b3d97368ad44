"""The plain state of an open run: TaskTable, DepGraph.forget, DepChecker while open."""

from __future__ import annotations

import pytest
from specs import spec

from pexen.sched import DepcheckError
from pexen.state.depcheck import DepChecker
from pexen.state.depgraph import DepGraph
from pexen.state.taskspec import TaskSpec
from pexen.state.tasktable import TaskTable


def test_task_table_reads_like_a_list_and_forgets_entries():
    table = TaskTable([spec(0), spec(1)])
    table.extend([spec(2)])
    assert len(table) == 3 and table[1].tid == 1
    assert [s.tid for s in table[1:]] == [1, 2]
    table.forget(1)
    table.forget(1)  # twice: no error
    assert len(table) == 3  # the next tid, not the count held
    assert table.held == 2
    assert table.get(1) is None
    with pytest.raises(KeyError):
        table[1]
    assert [s.tid for s in table] == [0, 2]
    assert [s.tid for s in table[1:]] == [2]
    assert table.by_tid[2] is table[2]
    with pytest.raises(ValueError, match="continue"):
        table.extend([spec(2)])
    with pytest.raises(ValueError, match="start:"):
        table[0:1]


def test_task_table_extend_checks_every_tid_of_a_batch():
    table = TaskTable([spec(0)])
    # out of order inside a batch: those before the wrong tid are added, as before
    with pytest.raises(ValueError, match=r"tid 2 does not continue the table \(4\)"):
        table.extend([spec(1), spec(3), spec(2)])
    assert [s.tid for s in table] == [0, 1, 3] and len(table) == 4
    with pytest.raises(ValueError, match="tid 3 does not continue"):
        table.extend(iter([spec(3)]))  # any iterable: the same check
    table.extend(iter([spec(5), spec(9)]))  # gaps are fine: tids only grow
    assert [s.tid for s in table[4:]] == [5, 9] and len(table) == 10


def test_task_table_tells_the_shortest_timeout_added_since_it_was_asked():
    def timed(tid: int, timeout: float | None) -> TaskSpec:
        s = spec(tid)
        return TaskSpec(
            tid, s.func, s.requires, s.provides, s.uses, s.claims, 0, {}, False, timeout
        )  # fmt: skip

    table = TaskTable([timed(0, None), timed(1, 3.0), timed(2, 1.5)])
    assert table.take_shortest_timeout() == 1.5
    assert table.take_shortest_timeout() is None  # taken: nothing new since
    table.extend([timed(3, None)])
    assert table.take_shortest_timeout() is None
    table.extend([timed(4, 9.0)])
    table.extend([timed(5, 4.0), timed(6, None)])
    assert table.take_shortest_timeout() == 4.0


def test_depgraph_forgets_a_finished_task_edges():
    g = DepGraph()
    assert g.add([spec(0, provides="a"), spec(1, requires="a"), spec(2, requires="a")]) == [0]
    assert g.provide("a") == [1, 2]
    g.forget(spec(1, requires="a"))
    assert g.requirers("a") == {2}
    g.forget(spec(2, requires="a"))
    assert g.requirers("a") == set()
    assert g._requirers == {}  # nothing left of either
    assert g.is_provided("a")


def test_open_checker_lets_tasks_wait_for_later_providers():
    checker = DepChecker()
    checker.open([])
    assert checker.is_open
    checker.add_open([spec(0, requires=["later"], provides=["b"])])
    checker.add_open([spec(1, requires=["b"])])  # b's provider waits: still fine
    checker.add_open([spec(2, provides=["later"])])


def test_open_checker_refuses_a_cycle_with_an_earlier_task_and_changes_nothing():
    checker = DepChecker()
    checker.open([spec(0, requires=["x"], provides=["y"])])
    with pytest.raises(DepcheckError, match=r"dependency cycle: '(x|y)' -> .* -> '\1'") as err:
        checker.add_open([spec(1, requires=["y"], provides=["x"])])
    assert set(err.value.remain) == {"x", "y"}
    # refused: the same batch again is refused again, nothing was kept of it
    with pytest.raises(DepcheckError):
        checker.add_open([spec(2, requires=["y"], provides=["x"])])
    # once x is provided (its provider ended well), y's provider is not stuck
    checker.add_open([spec(3, provides=["x"])])
    checker.forget(spec(3, provides=["x"]), provided=True)
    checker.add_open([spec(4, requires=["y"], provides=["x"])])


def test_open_checker_a_free_provider_breaks_a_cycle():
    checker = DepChecker()
    checker.open([spec(0, provides=["m"])])  # waits for nothing
    checker.add_open(
        [spec(1, requires=["m"], provides=["n"]), spec(2, requires=["n"], provides=["m"])]
    )


def test_open_checker_forgets_finished_providers():
    checker = DepChecker()
    checker.open([spec(0, provides=["a"]), spec(1, requires=["a"], provides=["b"])])
    checker.forget(spec(0, provides=["a"]), provided=False)  # failed: a not provided
    checker.forget(spec(1, requires=["a"], provides=["b"]), provided=False)
    assert checker._live == {}
    # a failed provider leaves its name open: a later one may come
    checker.add_open([spec(2, requires=["a"], provides=["c"]), spec(3, requires=["c"])])


def test_closing_the_checker_works_out_what_the_tasks_left_provide():
    checker = DepChecker()
    checker.open([])
    left = [spec(0, requires=["never"], provides=["p"]), spec(1, provides=["q"])]
    checker.add_open(left)
    checker.close(left)
    assert not checker.is_open
    checker.add([spec(2, requires=["q"])])  # q: its provider is still there
    with pytest.raises(DepcheckError, match="'p'"):
        checker.add([spec(3, requires=["p"])])  # p's provider can never run
