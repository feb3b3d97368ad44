"""Each actor through its messages, with probes standing in for its peers."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from typing import Any

import pytest
from specs import spec

from actors.engine import Engine
from actors.lockmanager import LockManager
from actors.mailbox import ResultMailbox
from actors.messages import (
    AcquireLocks,
    AddTasks,
    BacklogDrained,
    Begin,
    Cancel,
    LockDecisions,
    LockRequest,
    Outcome,
    ReleaseLocks,
    RunEnded,
    RunTasks,
    StatusQuery,
    Stop,
    TaskDone,
    WorkerLost,
)
from actors.planner import Planner
from actors.threadworker import ThreadWorker
from actors.workerset import ProcessWorkerSet, ThreadWorkerSet
from pexen.sched import TaskFailError, TaskRes, WorkerLostError
from pexen.state.handout import HandOutPolicy

WAIT = 10  # seconds: a bound against hangs, never reached when all is well


class Probe:
    """Stands in for an actor: records what it is told."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def tell(self, message: Any) -> None:
        self.inbox.put(message)

    def get(self) -> Any:
        return self.inbox.get(timeout=WAIT)

    def empty(self) -> bool:
        return self.inbox.empty()


def ok(tid, ret=None, shared=None):
    return Outcome(tid, ret, shared or {}, None, True, True)


def failed(tid, deps_ok=False, locks_ok=False):
    return Outcome(tid, None, {}, None, deps_ok, locks_ok)


# -- lock manager -------------------------------------------------------------


def test_lock_manager_answers_each_acquire_and_release():
    ref = LockManager()  # a passive actor: it answers in the caller's thread
    try:
        answer = ref.ask(
            AcquireLocks(
                (
                    LockRequest(1, frozenset(), frozenset({"r"})),
                    LockRequest(2, frozenset({"r"}), frozenset()),
                    LockRequest(3, frozenset({"s"}), frozenset()),
                )
            )
        )
        assert answer == LockDecisions(granted=(1, 3), waiting=(2,))
        assert ref.ask(ReleaseLocks((3,))) == LockDecisions(granted=(), waiting=())
        assert ref.ask(ReleaseLocks((1,))) == LockDecisions(granted=(2,), waiting=())
    finally:
        ref.stop()


# -- planner -----------------------------------------------------------------


class PlannerRig:
    def __init__(
        self, specs, capacity=1, workers=1, preset=None, backlog=100, handout=None, **options
    ):
        self.mailbox = ResultMailbox(backlog)
        self.cancelled = threading.Event()
        self.workers = [Probe() for _ in range(workers)]
        self.ref = Planner(
            specs, preset or {}, capacity, self.mailbox, self.cancelled, handout, **options
        )
        self.mailbox.on_drained = lambda: self.ref.tell(BacklogDrained())
        self.specs = specs

    def begin(self):
        self.ref.tell(Begin(tuple(self.workers)))

    def dispatched(self, worker=0):
        msg = self.workers[worker].get()
        assert isinstance(msg, RunTasks)
        return [(s.tid, shared) for s, shared in msg.items]

    def done(self, *outcomes, worker=0):
        self.ref.tell(TaskDone(worker, outcomes))

    def result(self):
        item = self.mailbox.take(timeout=WAIT)
        if isinstance(item, TaskRes):
            self.mailbox.consumed()
        return item

    def add(self, *specs, shared=None):
        self.specs.extend(specs)
        self.ref.tell(AddTasks(specs, shared))

    def ended(self):
        """Whether the run has ended (a barrier first: all told is handled)."""
        self.ref.ask(BacklogDrained())
        try:
            item = self.mailbox.take(timeout=0)
        except queue.Empty:
            return False
        assert isinstance(item, RunEnded), item
        return True

    def stop(self):
        self.ref.stop()


@pytest.fixture
def rig_factory():
    rigs = []

    def make(*args, **kwargs):
        rig = PlannerRig(*args, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


def test_planner_dispatches_by_priority_then_insertion(rig_factory):
    specs = [spec(0, priority=5), spec(1, priority=0), spec(2, priority=5), spec(3, priority=-1)]
    rig = rig_factory(specs, capacity=1)
    rig.begin()
    order = []
    for _ in specs:
        [(tid, _shared)] = rig.dispatched()
        order.append(tid)
        rig.done(ok(tid, ret=tid))
        assert rig.result() == TaskRes(specs[tid].func, {}, tid, None)
    assert order == [3, 1, 0, 2]
    assert rig.result() == RunEnded(0, 0)


def test_planner_flows_shared_state_to_dependants_only(rig_factory):
    specs = [
        spec(0, provides=["a"]),
        spec(1, requires=["a"]),
        spec(2),
    ]
    rig = rig_factory(specs, capacity=1, preset={"p": 1})
    rig.begin()
    assert rig.dispatched() == [(0, {"p": 1})]
    rig.done(ok(0, shared={"p": 1, "from0": True}))
    assert rig.dispatched() == [(1, {"p": 1, "from0": True})]
    rig.done(ok(1))
    assert rig.dispatched() == [(2, {"p": 1})]  # does not depend on 0: untouched
    rig.done(ok(2))
    assert [rig.result().task for _ in range(3)] == [s.func for s in specs]
    assert rig.result() == RunEnded(0, 0)


def test_planner_counts_skips_and_held_locks_of_failures(rig_factory):
    specs = [
        spec(0, provides=["a"], claims=["r"], priority=-1),
        spec(1, requires=["a"]),
        spec(2, claims=["r"]),
    ]
    rig = rig_factory(specs, capacity=1)
    rig.begin()
    assert [t for t, _ in rig.dispatched()] == [0]
    rig.done(failed(0))
    rig.result()
    assert rig.result() == RunEnded(skipped=1, held=1)
    assert rig.workers[0].empty()


def test_planner_controlled_failure_releases_and_provides(rig_factory):
    specs = [spec(0, provides=["a"], claims=["r"]), spec(1, requires=["a"], claims=["r"])]
    rig = rig_factory(specs, capacity=1)
    rig.begin()
    assert [t for t, _ in rig.dispatched()] == [0]
    rig.done(failed(0, deps_ok=True, locks_ok=True))
    assert [t for t, _ in rig.dispatched()] == [1]
    rig.done(ok(1))
    rig.result(), rig.result()
    assert rig.result() == RunEnded(0, 0)


def test_planner_spreads_work_and_respects_capacity(rig_factory):
    specs = [spec(i) for i in range(6)]
    rig = rig_factory(specs, capacity=3, workers=2)
    rig.begin()
    first = rig.dispatched(0) + rig.dispatched(1)
    assert sorted(t for t, _ in first) == [0, 1, 2]
    assert rig.workers[0].empty() and rig.workers[1].empty()
    rig.done(ok(first[0][0]), worker=0)
    more = rig.dispatched(0)
    assert [t for t, _ in more] == [3]


def test_planner_hands_out_ahead_only_while_tasks_are_short(rig_factory):
    specs = [spec(i, priority=-i) for i in range(4)]  # the last added is the most urgent
    rig = rig_factory(specs, capacity=3, workers=2, handout=HandOutPolicy(long_task=0.0))
    rig.begin()
    assert [rig.dispatched(0), rig.dispatched(1)] == [[(3, {})], [(2, {})]]
    # a spare slot is free, but both workers are busy: tasks count as long
    rig.ref.ask(BacklogDrained())  # a barrier: everything before is handled
    assert rig.workers[0].empty() and rig.workers[1].empty()
    rig.done(ok(2), worker=1)
    assert rig.dispatched(1) == [(1, {})]
    assert rig.workers[0].empty()


def test_planner_pauses_while_the_backlog_is_full(rig_factory):
    specs = [spec(i) for i in range(3)]
    rig = rig_factory(specs, capacity=1, backlog=1)
    rig.begin()
    [(tid, _)] = rig.dispatched()
    rig.done(ok(tid))
    # the caller has not taken the result: nothing more is dispatched ...
    rig.ref.ask(BacklogDrained())  # a barrier: the planner has handled all before
    assert rig.workers[0].empty()
    # ... until it does
    rig.result()
    [(tid, _)] = rig.dispatched()
    assert tid == 1


def test_planner_fails_the_tasks_of_a_lost_worker(rig_factory):
    specs = [spec(0), spec(1)]
    rig = rig_factory(specs, capacity=2, workers=2)
    rig.begin()
    rig.dispatched(0), rig.dispatched(1)
    rig.ref.tell(WorkerLost(1, 1, 1, WorkerLostError("killed by signal 9")))
    res = rig.result()
    assert res.task is specs[1].func and res.excinfo.type is WorkerLostError
    rig.done(ok(0), worker=0)
    rig.result()
    assert rig.result() == RunEnded(0, 0)


# -- workers -----------------------------------------------------------------


def test_thread_worker_runs_tasks_and_reports_each():
    report = Probe()

    def boom():
        raise TaskFailError("no", deps_ok=False)

    ref = ThreadWorker.start(0, report, threading.Event())
    try:
        ref.tell(RunTasks(((spec(0, func=lambda s: s.update(x=1), shared=True), {}),
                           (spec(1, func=boom), {"k": 2}))))  # fmt: skip
        first, second = report.get(), report.get()
    finally:
        ref.stop()
    assert first == TaskDone(0, (Outcome(0, None, {"x": 1}, None, True, True),))
    [out] = second.outcomes
    assert out.excinfo.type is TaskFailError and (out.deps_ok, out.locks_ok) == (False, True)
    assert out.shared == {"k": 2}


def test_thread_worker_drops_queued_tasks_once_cancelled():
    report, cancelled = Probe(), threading.Event()
    ref = ThreadWorker.start(0, report, cancelled)
    try:
        cancelled.set()
        ref.tell(RunTasks(((spec(0), {}),)))
        ref.ask("barrier")  # ignored, answered once the RunTasks is handled
    finally:
        ref.stop()
    assert report.empty()


@pytest.mark.timeout(30)
def test_process_workers_run_inherited_tasks_and_report_a_death():
    base = 40

    def add(shared):  # a closure: inherited by the fork, never pickled
        shared["y"] = base + 2
        return os.getpid()

    table = [
        spec(0, func=add, shared=True),
        spec(1, func=lambda: os.kill(os.getpid(), signal.SIGKILL)),
    ]
    workers = ProcessWorkerSet(2, table)
    report = Probe()
    try:
        refs = workers.launch(report, None)
        refs[0].tell(RunTasks(((table[0], {"x": 1}),)))
        done = report.get()
        assert isinstance(done, TaskDone) and done.worker == 0
        [out] = done.outcomes
        assert out.shared == {"x": 1, "y": 42} and out.ret != os.getpid()
        refs[1].tell(RunTasks(((table[1], {}),)))
        lost = report.get()
        assert isinstance(lost, WorkerLost) and (lost.worker, lost.generation) == (1, 1)
        assert lost.culprit == 1 and "signal 9 (SIGKILL)" in str(lost.error)
        # the replacement runs the next task
        refs[1].tell(RunTasks(((table[0], {}),), generation=1))
        [out] = report.get().outcomes
        assert out.shared == {"y": 42}
    finally:
        workers.close(kill=True)
    assert not workers.alive()


@pytest.mark.timeout(30)
def test_process_worker_runs_a_later_task_from_its_origin_without_pickling():
    lock = multiprocessing.Lock()  # crosses to a process by inheritance only

    def locked():
        with lock:
            return os.getpid()

    table = [spec(0, func=locked)]
    workers = ProcessWorkerSet(1, table)
    report = Probe()
    try:
        [ref] = workers.launch(report, None)
        again = table[0]._replace(tid=1, origin=0)  # a later task, same code
        table.append(again)
        ref.tell(RunTasks(((again, {"n": 1}),)))
        [out] = report.get().outcomes
    finally:
        workers.close(kill=True)
    assert (out.tid, out.excinfo, out.shared) == (1, None, {"n": 1})
    assert out.ret != os.getpid()


def test_planner_gives_late_tasks_the_shared_state_of_what_they_require(rig_factory):
    specs = [spec(0, provides=["a"])]
    rig = rig_factory(specs, capacity=1, preset={"p": 1})
    rig.begin()
    rig.dispatched()
    rig.done(ok(0, shared={"p": 1, "from0": True}))
    rig.mailbox.take(timeout=WAIT)  # the caller handles the result ...
    late = spec(1, requires=["a"])
    specs.append(late)
    rig.ref.tell(AddTasks((late,)))  # ... and adds a task meanwhile
    rig.mailbox.consumed()
    assert rig.dispatched() == [(1, {"p": 1, "from0": True})]


def test_planner_requeues_the_tasks_behind_a_lost_workers_culprit(rig_factory):
    specs = [spec(0, claims=["r"]), spec(1), spec(2, claims=["s"]), spec(3)]
    rig = rig_factory(specs, capacity=4, workers=2, preset={"p": 0})
    rig.begin()
    on0, on1 = rig.dispatched(0), rig.dispatched(1)
    assert [t for t, _ in on0] == [0, 2] and [t for t, _ in on1] == [1, 3]
    # worker 0 died running 0; 2 (holding its lock "s") never began: it goes
    # out again at once, with the very dict it was handed, to the freer worker
    rig.ref.tell(WorkerLost(0, 1, 0, WorkerLostError("killed")))
    [(tid, handed)] = rig.dispatched(0)
    assert tid == 2 and handed is on0[1][1] and handed == {"p": 0}
    assert rig.result().excinfo.type is WorkerLostError
    status = rig.ref.ask(StatusQuery())
    assert status.running == ((1, 1), (3, 1), (2, 0))
    for tid, worker in status.running:
        rig.done(ok(tid), worker=worker)
    assert {rig.result().task for _ in range(3)} == {specs[t].func for t in (1, 2, 3)}
    assert rig.result() == RunEnded(skipped=0, held=1)  # 0 failed holding "r"


def test_planner_lost_for_good_ends_the_run_when_no_worker_is_left(rig_factory):
    rig = rig_factory([spec(0), spec(1)], capacity=2, workers=1)
    rig.begin()
    rig.dispatched()
    rig.ref.tell(WorkerLost(0, None, 0, WorkerLostError("cannot fork")))
    lost = rig.result()  # the task it ran fails, and its result comes first
    assert isinstance(lost, TaskRes) and isinstance(lost.excinfo.val, WorkerLostError)
    ended = rig.result()
    assert isinstance(ended, RunEnded) and isinstance(ended.error, WorkerLostError)
    assert rig.workers[0].empty()  # task 1 was not handed out again


def test_planner_open_run_waits_for_tasks_until_stop(rig_factory):
    specs = [spec(0, provides=["a"], claims=["r"])]
    rig = rig_factory(specs, capacity=2, keep_open=True)
    rig.begin()
    assert [t for t, _ in rig.dispatched()] == [0]
    rig.done(failed(0))  # fails holding "r", providing nothing
    rig.result()
    assert not rig.ended()  # idle, but open
    rig.add(spec(1, requires=["b"]), spec(2))
    assert [t for t, _ in rig.dispatched()] == [2]
    rig.done(ok(2))
    rig.result()
    assert not rig.ended()
    rig.ref.tell(Stop())
    # it ends as any run does once idle, with the usual counts
    assert rig.mailbox.take(timeout=WAIT) == RunEnded(skipped=1, held=1)


def test_planner_open_run_stopped_while_busy_ends_once_idle(rig_factory):
    rig = rig_factory([], capacity=1, keep_open=True)
    rig.begin()
    assert not rig.ended()
    rig.add(spec(0), spec(1))
    rig.ref.tell(Stop())
    for tid in (0, 1):
        assert [t for t, _ in rig.dispatched()] == [tid]
        assert not rig.ended()
        rig.done(ok(tid))
        rig.mailbox.take(timeout=WAIT)
    assert not rig.ended()  # the caller has not consumed the last result yet
    rig.mailbox.consumed()
    rig.mailbox.consumed()
    assert rig.mailbox.take(timeout=WAIT) == RunEnded(0, 0)


def test_planner_added_tasks_start_with_the_shared_dict_given(rig_factory):
    specs = [spec(0, provides=["a"])]
    rig = rig_factory(specs, capacity=1, preset={"p": 1}, keep_open=True)
    rig.begin()
    rig.dispatched()
    rig.done(ok(0, shared={"p": 1, "from0": True}))
    rig.result()
    mine, theirs = {"mine": 1}, {"theirs": 2}
    rig.add(spec(1), spec(2, requires=["a"]), shared=(mine, theirs))
    [(tid, handed)] = rig.dispatched()
    assert tid == 1 and handed is mine and handed == {"mine": 1}  # no preset added
    rig.done(ok(1))
    # a requirer's dict gets what its providers ended with
    assert rig.dispatched() == [(2, {"theirs": 2, "p": 1, "from0": True})]


def test_planner_without_run_table_runs_only_added_tasks(rig_factory):
    table = [spec(0), spec(1)]  # the workers' table: code for later tasks
    rig = rig_factory(table, capacity=2, keep_open=True, run_table=False)
    rig.begin()
    assert not rig.ended()
    assert rig.workers[0].empty()
    rig.add(spec(2), shared=({},))
    assert rig.dispatched() == [(2, {})]
    rig.done(ok(2))
    assert rig.result().task is table[2].func
    rig.ref.tell(Stop())
    assert rig.result() == RunEnded(0, 0)


def test_planner_cancel_ends_the_run_once_and_dispatches_nothing_more(rig_factory):
    rig = rig_factory([spec(0), spec(1)], capacity=1)
    rig.begin()
    rig.dispatched()
    rig.cancelled.set()  # the workers' signal: the planner acts on it too
    rig.done(ok(0))  # it ended: its result comes before the end
    rig.ref.tell(Cancel())
    assert rig.mailbox.take(timeout=WAIT).task is rig.specs[0].func
    assert rig.mailbox.take(timeout=WAIT) == RunEnded(0, 0, cancelled=True)
    assert rig.ref.ask(BacklogDrained()) is None
    assert rig.workers[0].empty()
    later = []
    with contextlib.suppress(queue.Empty):
        while True:
            later.append(rig.mailbox.take(timeout=0))
    assert not any(isinstance(item, RunEnded) for item in later)  # one end only


def test_planner_status_shows_each_task_where_it_waits(rig_factory):
    specs = [
        spec(0, claims=["r"]),
        spec(1, claims=["r"]),
        spec(2, requires=["x"]),
        spec(3, provides=["x"], priority=1),
    ]
    rig = rig_factory(specs, capacity=2, workers=1)
    rig.begin()
    assert [t for t, _ in rig.dispatched()] == [0, 3]  # 1 waits for "r"; 3 takes its slot
    status = rig.ref.ask(StatusQuery())
    assert status.running == ((0, 0), (3, 0))
    assert (status.ready, status.waiting_deps, status.waiting_locks) == ((), (2,), (1,))
    rig.done(ok(0))
    # 1 was granted "r": before 2, which 3's end makes ready
    status = rig.ref.ask(StatusQuery())
    assert [t for t, _ in rig.dispatched()] == [1]
    assert status.waiting_locks == () and status.finished == 1


def test_engine_open_run_takes_tasks_until_stopped():
    table = [spec(0, func=lambda: "code only")]  # the workers' table, not run
    engine = Engine(
        table, {}, lambda t, cancelled: ThreadWorkerSet(1, t, cancelled), 2, 10,
        keep_open=True, run_table=False,
    )  # fmt: skip
    try:
        for round_ in range(2):  # idle between rounds: the run stays open
            mine = {"round": round_}
            engine.add([spec(len(engine.table), func=lambda s: s, shared=True)], [mine])
            res = engine.take()
            assert isinstance(res, TaskRes) and res.ret is mine
            engine.consumed()
        engine.stop()
        assert engine.take() == RunEnded(0, 0)
    finally:
        engine.close(cancel=False)
    assert not engine.alive()


def test_planner_gives_a_tie_to_the_worker_that_just_reported(rig_factory):
    # capacity 4 on two workers: 0 and 2 to worker 0, 1 and 3 to worker 1;
    # task 4 waits for what task 1 provides
    specs = [spec(0), spec(1, provides=["a"]), spec(2), spec(3), spec(4, requires=["a"])]
    rig = rig_factory(specs, capacity=4, workers=2)
    rig.begin()
    assert rig.dispatched(0) == [(0, {}), (2, {})]
    assert rig.dispatched(1) == [(1, {}), (3, {})]
    rig.done(ok(0), worker=0)  # nothing ready: loads 1 and 2
    rig.done(ok(1), worker=1)  # loads 1 and 1, task 4 ready: a tie, to the reporter
    assert rig.dispatched(1) == [(4, {})]
    assert rig.workers[0].empty()
    rig.done(ok(2), worker=0)
    rig.done(ok(3), ok(4), worker=1)
    assert {rig.result().task for _ in specs} == {s.func for s in specs}
    assert rig.result() == RunEnded(0, 0)
