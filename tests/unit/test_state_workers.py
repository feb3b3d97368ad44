"""The planner's view of its workers: WorkerState and Workers."""

from __future__ import annotations

from pexen.state.workers import Workers, WorkerState


def test_a_fresh_worker_is_alive_idle_and_of_generation_zero():
    actor = object()
    w = WorkerState(3, actor)
    assert (w.index, w.actor, w.load, w.generation, w.alive, w.last_done) == (
        3, actor, 0, 0, True, 0.0,
    )  # fmt: skip


def test_workers_are_indexed_in_the_order_of_their_actors():
    actors = ["a", "b", "c"]
    ws = Workers(actors)
    assert len(ws) == 3
    assert [(w.index, w.actor) for w in ws] == [(0, "a"), (1, "b"), (2, "c")]
    assert ws[1].actor == "b"
    assert len(Workers()) == 0


def test_least_loaded_takes_the_lowest_index_among_equals():
    ws = Workers("abc")
    assert ws.least_loaded() is ws[0]
    ws[0].load = 2
    ws[1].load = 1
    ws[2].load = 1
    assert ws.least_loaded() is ws[1]
    ws[2].load = 0
    assert ws.least_loaded() is ws[2]


def test_least_loaded_skips_dead_workers():
    ws = Workers("ab")
    ws[1].load = 5
    ws.lost(0, None)
    assert ws.least_loaded() is ws[1]  # busier, but the only one alive
    ws.lost(1, None)
    assert ws.least_loaded() is None


def test_all_busy_counts_live_workers_only():
    ws = Workers("ab")
    assert not ws.all_busy()
    ws[0].load = 1
    assert not ws.all_busy()
    ws[1].load = 3
    assert ws.all_busy()
    ws[0].load = 0
    ws.lost(0, None)  # idle but dead: does not make the set free
    assert ws.all_busy()
    ws.lost(1, None)
    assert ws.all_busy()  # nobody left to take a task


def test_lost_replaced_worker_gets_its_new_generation_and_actor():
    ws = Workers(["old", "other"])
    ws[0].load = 2
    w = ws.lost(0, 1, replacement="new")
    assert w is ws[0]
    assert (w.generation, w.alive, w.actor) == (1, True, "new")
    assert w.load == 2  # its tasks are the planner's to move
    ws.lost(0, 2)  # same actor, new process behind it
    assert (w.generation, w.actor) == (2, "new")
    assert ws.any_alive()


def test_lost_for_good_is_dead_and_keeps_its_generation():
    ws = Workers("ab")
    ws.lost(1, 4)
    ws.lost(1, None)
    assert (ws[1].alive, ws[1].generation) == (False, 4)
    assert ws.any_alive()
    ws.lost(0, None)
    assert not ws.any_alive()


def test_least_loaded_prefers_the_awake_worker_among_equals_only():
    ws = Workers(["a", "b", "c"])
    assert ws.least_loaded(prefer=2) is ws[2]  # all equal: the preferred one
    ws[2].load = 1
    assert ws.least_loaded(prefer=2) is ws[0]  # busier: least loaded still first
    ws[0].load = ws[1].load = 1
    assert ws.least_loaded(prefer=1) is ws[1]
    ws[1].alive = False
    assert ws.least_loaded(prefer=1) is ws[0]  # a dead worker is never preferred
