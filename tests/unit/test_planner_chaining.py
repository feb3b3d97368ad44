"""Chaining, through the planner's messages: a task waiting on deps handed out
behind the one task it can wait for, to a worker that declares ``chains()``."""

from __future__ import annotations

from typing import Any

import pytest
from specs import spec
from test_actors import WAIT, PlannerRig, Probe, failed, ok

from actors.messages import (
    BacklogDrained,
    RunEnded,
    RunTasks,
    StatusQuery,
    Stop,
    WorkerLost,
)
from pexen.sched import TaskRes, WorkerLostError
from pexen.vocab.events import TaskEnded, TaskHandedOut, TaskUnblocked


class ChainingProbe(Probe):
    """A worker actor that says it runs chained tasks (as the process pool's does)."""

    def chains(self) -> bool:
        return True


class ChainRig(PlannerRig):
    def __init__(self, specs, chains=True, **options):
        super().__init__(specs, **options)
        if chains:
            self.workers = [ChainingProbe() for _ in self.workers]

    def message(self, worker=0) -> RunTasks:
        msg = self.workers[worker].get()
        assert isinstance(msg, RunTasks)
        return msg

    @staticmethod
    def dispatched_items(msg: RunTasks) -> list[tuple[int, dict[str, Any]]]:
        return [(s.tid, shared) for s, shared in msg.items]

    def told_nothing(self, worker=0) -> bool:
        self.ref.ask(BacklogDrained())  # a barrier: all told is handled
        return self.workers[worker].empty()

    def results_until_end(self) -> tuple[list[Any], RunEnded]:
        got = []
        while True:
            item = self.mailbox.take(timeout=WAIT)
            if type(item) is list:  # events of an observed run
                got.extend(item)
                continue
            if isinstance(item, RunEnded):
                return got, item
            got.append(item)
            self.mailbox.consumed()


@pytest.fixture
def chain_rig():
    rigs = []

    def make(*args, **kwargs):
        rig = ChainRig(*args, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


def tids(msg: RunTasks) -> list[int]:
    return [s.tid for s, _ in msg.items]


def test_the_planner_chains_only_when_the_workers_declare_they_can(chain_rig):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    plain = chain_rig(list(specs), chains=False, capacity=2)
    plain.begin()
    assert tids(plain.message()) == [0]
    assert plain.told_nothing()  # 1 waits for 0 to end
    plain.done(ok(0))
    assert tids(plain.message()) == [1]

    rig = chain_rig(list(specs), capacity=2)
    rig.begin()
    first = rig.message()  # 1 chained behind 0, in the same message
    assert tids(first) == [0, 1] and first.after == {1: 0}
    rig.done(ok(0, shared={"from0": 1}))
    assert rig.told_nothing()  # 1 runs behind 0 already: not handed out again
    rig.done(ok(1))
    results, end = rig.results_until_end()
    assert [r.task for r in results] == [specs[0].func, specs[1].func]
    assert end == RunEnded(0, 0)


def test_a_chain_goes_out_as_far_as_capacity_allows_each_behind_the_one_before(chain_rig):
    specs = [
        spec(0, provides=["a"]),
        spec(1, requires=["a"], provides=["b"]),
        spec(2, requires=["b"], provides=["c"]),
        spec(3, requires=["c"]),
    ]
    rig = chain_rig(specs, capacity=3, preset={"p": 0})
    rig.begin()
    chained = rig.message()
    assert tids(chained) == [0, 1, 2] and chained.after == {1: 0, 2: 1}
    # handed out with what the planner knows now; the worker merges the rest
    assert [shared for _, shared in chained.items] == [{"p": 0}] * 3
    rig.done(ok(0))
    last = rig.message()  # capacity free again: 3 goes behind 2
    assert tids(last) == [3] and last.after == {3: 2}
    rig.done(ok(1), ok(2), ok(3))
    results, end = rig.results_until_end()
    assert len(results) == 4 and end == RunEnded(0, 0)


def test_a_provider_ending_without_deps_ok_brings_its_chain_back_to_be_skipped(chain_rig):
    specs = [
        spec(0, provides=["a"]),
        spec(1, requires=["a"], provides=["b"]),
        spec(2, requires=["b"]),
    ]
    rig = chain_rig(specs, capacity=3)
    rig.begin()
    assert tids(rig.message()) == [0, 1, 2]
    assert rig.ref.ask(StatusQuery()).waiting_deps == ()  # chained: handed out
    rig.done(failed(0))  # the worker runs neither 1 nor 2, and reports nothing of them
    status = rig.ref.ask(StatusQuery())
    assert status.running == () and sorted(status.waiting_deps) == [1, 2]
    assert rig.told_nothing()
    results, end = rig.results_until_end()
    assert [r.task for r in results] == [specs[0].func]
    assert end == RunEnded(skipped=2, held=0)


def test_a_controlled_failure_with_deps_ok_lets_the_chained_task_run(chain_rig):
    specs = [spec(0, provides=["a"]), spec(1, requires=["a"])]
    rig = chain_rig(specs, capacity=2)
    rig.begin()
    rig.message()
    rig.done(failed(0, deps_ok=True, locks_ok=True))
    assert rig.told_nothing()
    rig.done(ok(1, ret="ran"))
    results, end = rig.results_until_end()
    assert results[1] == TaskRes(specs[1].func, {}, "ran", None)
    assert end == RunEnded(0, 0)


def test_a_ready_task_of_any_priority_goes_out_before_any_chaining(chain_rig):
    specs = [
        spec(0, provides=["x"]),
        spec(1, requires=["x"], priority=-100),  # the most urgent, once ready
        spec(2, priority=100),  # the least urgent, but ready
    ]
    rig = chain_rig(specs, capacity=2, preset={"p": 1})
    rig.begin()
    assert tids(rig.message()) == [0, 2]  # capacity full: 1 is not chained
    assert rig.told_nothing()
    rig.done(ok(0, shared={"p": 1, "x": 0}))
    handed = rig.message()
    assert handed.after is None and rig.dispatched_items(handed) == [(1, {"p": 1, "x": 0})]


def test_no_chaining_behind_one_provider_while_another_may_end_first(chain_rig):
    specs = [
        spec(0, provides=["x"]),
        spec(1, provides=["x"]),
        spec(2, requires=["x"]),
        spec(3, provides=["y"]),
        spec(4, requires=["y"], uses=["r"]),  # locks: never chained
    ]
    rig = chain_rig(specs, capacity=5, workers=2)
    rig.begin()
    assert tids(rig.message(0)) == [0, 3]
    assert tids(rig.message(1)) == [1]
    assert rig.told_nothing(0) and rig.told_nothing(1)
    rig.done(ok(0, shared={"x": 0}))
    assert rig.dispatched_items(rig.message(0)) == [(2, {"x": 0})]


def test_a_chained_task_not_begun_when_its_worker_is_lost_goes_back_to_waiting(chain_rig):
    specs = [
        spec(0, provides=["a"]),
        spec(1, requires=["a"]),
    ]
    rig = chain_rig(specs, capacity=2)
    rig.begin()
    rig.message()
    rig.ref.tell(WorkerLost(0, 1, 0, WorkerLostError("killed by signal 9")))
    assert rig.told_nothing()  # not to ready: 0 never provided
    results, end = rig.results_until_end()
    assert [r.task for r in results] == [specs[0].func]
    assert isinstance(results[0].excinfo.val, WorkerLostError)
    assert end == RunEnded(skipped=1, held=0)


def test_a_chained_task_whose_deps_were_met_goes_out_again_when_its_worker_is_lost(chain_rig):
    specs = [spec(0, provides=["a"]), spec(1, requires=["a"])]
    rig = chain_rig(specs, capacity=2, preset={"p": 0})
    rig.begin()
    rig.message()
    rig.done(ok(0, shared={"p": 0, "a": 1}))
    rig.ref.tell(WorkerLost(0, 1, None, WorkerLostError("killed by signal 9")))
    again = rig.message()  # 0 provided: 1 is ready now, with 0's dict
    assert again.after is None and again.generation == 1
    assert rig.dispatched_items(again) == [(1, {"p": 0, "a": 1})]


def test_a_chained_task_behind_a_task_not_begun_goes_back_to_waiting_on_loss(chain_rig):
    specs = [
        spec(0),
        spec(1, provides=["a"]),
        spec(2, requires=["a"]),
    ]
    rig = chain_rig(specs, capacity=3)
    rig.begin()
    assert tids(rig.message()) == [0, 1, 2]
    # lost while running 0: 1 never began, 2 neither
    rig.ref.tell(WorkerLost(0, 1, 0, WorkerLostError("killed by signal 9")))
    # 1 ready again, 2 waiting for it (not ready): chained behind it again
    again = rig.message()
    assert tids(again) == [1, 2] and again.after == {2: 1} and again.generation == 1
    rig.done(ok(1), ok(2))
    results, end = rig.results_until_end()
    assert len(results) == 3 and end == RunEnded(0, 0)


def test_an_observed_run_posts_the_edge_to_a_chained_task(chain_rig):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    rig = chain_rig(specs, capacity=2, observed=True)
    rig.begin()
    rig.message()
    rig.done(ok(0))
    rig.done(ok(1))
    items, end = rig.results_until_end()
    kinds = [(type(i).__name__, i.task) for i in items]
    handed = kinds.index(("TaskHandedOut", specs[1].func))
    edge = next(i for i in items if type(i) is TaskUnblocked)
    assert (edge.task, edge.provider, edge.names) == (specs[1].func, specs[0].func, {"x"})
    # out before 0 provided, but observers see it out once it is sure to run:
    # unblocked, then handed out (at the time it went out), as on a thread pool
    assert items.index(edge) < handed
    assert items[handed].at <= next(i for i in items if type(i) is TaskEnded).ended
    assert sum(type(i) is TaskHandedOut for i in items) == 2
    assert end == RunEnded(0, 0)


def test_a_provider_added_live_meets_a_chained_task_should_it_come_back(chain_rig):
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    rig = chain_rig(specs, capacity=3, workers=2, keep_open=True)
    rig.begin()
    first = rig.message(0)
    assert tids(first) == [0, 1] and first.after == {1: 0}
    rig.add(spec(2, provides=["x"]))
    assert tids(rig.message(1)) == [2]
    rig.done(ok(2, shared={"from2": 1}), worker=1)
    assert rig.told_nothing(0)  # 1 is out already, behind 0: it stays there
    rig.done(failed(0), worker=0)  # so 1 does not run there: back, ready, with 2's dict
    again = rig.message()
    assert again.after is None and rig.dispatched_items(again) == [(1, {"from2": 1})]
    rig.done(ok(1), worker=0)
    rig.ref.tell(Stop())
    results, end = rig.results_until_end()
    assert len(results) == 3 and end == RunEnded(0, 0)


def test_only_the_most_urgent_task_its_provider_unblocks_is_chained(chain_rig):
    specs = [
        spec(0, provides=["x"]),
        spec(1, requires=["x"], priority=5),
        spec(2, requires=["x"], priority=1),  # the most urgent: chained, not 1
        spec(3, requires=["x", "y"], priority=0),  # waits for 4 too: not unblocked by 0
        spec(4, provides=["y"], requires=["z"]),
        spec(5, provides=["z"], uses=["r"], priority=9),
    ]
    rig = chain_rig(specs, capacity=4, workers=2)
    rig.begin()
    chained = rig.message(0)
    assert tids(chained) == [0, 2] and chained.after == {2: 0}
    behind_5 = rig.message(1)  # 4 waits only for 5
    assert tids(behind_5) == [5, 4] and behind_5.after == {4: 5}
    assert rig.told_nothing(0)  # capacity full; 3 waits for 0 and 4


def test_nothing_is_chained_when_the_most_urgent_task_unblocked_has_locks(chain_rig):
    specs = [
        spec(0, provides=["x"]),
        spec(1, requires=["x"], priority=5),
        spec(2, requires=["x"], priority=1, claims=["r"]),
    ]
    rig = chain_rig(specs, capacity=3)
    rig.begin()
    assert tids(rig.message()) == [0]
    assert rig.told_nothing()  # 1 would start before 2, more urgent, on this worker
    rig.done(ok(0))
    assert tids(rig.message()) == [2, 1]


def test_a_task_ready_meanwhile_goes_to_an_idle_worker_past_the_chained_ones(chain_rig):
    # two workers, no spare: 1 is chained behind 0 on worker 0 and fills the
    # capacity; an independent task added then must not wait for the chain
    specs = [spec(0, provides=["x"]), spec(1, requires=["x"])]
    rig = chain_rig(specs, capacity=2, workers=2)
    rig.begin()
    first = rig.message(0)
    assert tids(first) == [0, 1] and first.after == {1: 0}
    rig.add(spec(2))
    assert tids(rig.message(1)) == [2]  # worker 1 was idle: it gets it at once
    rig.done(ok(2), worker=1)
    rig.done(ok(0), ok(1))
    results, end = rig.results_until_end()
    assert sorted(r.task.__name__ for r in results) == sorted(s.func.__name__ for s in specs)
    assert end == RunEnded(0, 0)
