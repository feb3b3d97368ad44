"""Tiny tasks on lazy workers: held for the worker about to report, never lost.

The planner's side with probes for workers (``hold()`` says whether an idle
worker will come and look), the choice itself (:meth:`Workers.for_tiny`),
the policy's mean of run times, and a thread worker's inbox that looks.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest
from helpers import wait_for
from specs import spec

import actors.planner
from actors.mailbox import ResultMailbox
from actors.messages import Begin, Outcome, RunTasks, StatusQuery, TaskDone
from actors.planner import Planner
from actors.threadworker import IdleInbox
from pexen.sched import TaskRes
from pexen.state.handout import HandOutPolicy
from pexen.state.workers import Workers

WAIT = 10  # seconds: a bound against hangs, never reached when all is well


class LazyProbe:
    """A worker actor that records what it is told; idle, it looks if ``looks``."""

    def __init__(self, looks: bool = True) -> None:
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.looks = looks
        self.held = 0  # how often the planner held a task for it

    def tell(self, message: Any) -> None:
        self.inbox.put(message)

    def hold(self) -> bool:
        self.held += 1
        return self.looks

    def stop(self) -> None:
        pass

    def tids(self) -> list[int]:
        """The tids of every RunTasks told so far, in order."""
        out = []
        while not self.inbox.empty():
            message = self.inbox.get()
            assert isinstance(message, RunTasks)
            out.extend(s.tid for s, _ in message.items)
        return out


def ran(tid: int, seconds: float = 1e-6) -> Outcome:
    """A task that ended well after ``seconds`` of running (tiny by default)."""
    return Outcome(tid, tid, {}, None, True, True, 1.0, 1.0 + seconds)


def tiny_policy() -> HandOutPolicy:
    """A policy that has seen tiny tasks already (a fresh one waits to see them)."""
    policy = HandOutPolicy()
    while not policy.tiny():
        policy.served(1e-6, 1e-6)
    return policy


class Rig:
    def __init__(
        self, ntasks: int, workers: list[LazyProbe], capacity: int = 3, tiny: bool = True
    ) -> None:
        self.specs = [spec(i) for i in range(ntasks)]
        self.mailbox = ResultMailbox(1000)
        self.workers = workers
        policy = tiny_policy() if tiny else HandOutPolicy()
        self.ref = Planner(self.specs, {}, capacity, self.mailbox, threading.Event(), policy)

    def begin(self) -> None:
        self.ref.tell(Begin(tuple(self.workers)))

    def ready(self) -> tuple[int, ...]:
        return tuple(self.ref.ask(StatusQuery()).ready)

    def results(self) -> list[int]:
        out = []
        while True:
            try:
                item = self.mailbox.take(timeout=0)
            except queue.Empty:
                return out
            assert isinstance(item, TaskRes)
            out.append(item.ret)
            self.mailbox.consumed()


@pytest.fixture
def never_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors.planner, "_STALE", 1e9)


@pytest.fixture
def always_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors.planner, "_STALE", -1.0)


def test_tiny_tasks_wait_for_the_worker_that_reports_not_the_idle_one(never_stale: None) -> None:
    rig = Rig(4, [LazyProbe(), LazyProbe()])
    rig.begin()
    # every worker idle: the first wakes; the others are held, as the idle
    # worker said it would come and look
    assert rig.workers[0].tids() == [0]
    assert rig.workers[1].tids() == []
    assert rig.ready() == (1, 2, 3) and rig.workers[1].held > 0
    # the busy worker reports: it takes its next and the spare, no wake-up
    rig.ref.tell(TaskDone(0, (ran(0),)))
    assert rig.workers[0].tids() == [1, 2]
    assert rig.ready() == (3,)
    rig.ref.tell(TaskDone(0, (ran(1),)))
    assert rig.workers[0].tids() == [3]
    assert rig.workers[1].tids() == []
    rig.ref.tell(TaskDone(0, (ran(2), ran(3))))
    assert rig.results() == [0, 1, 2, 3]


def test_an_idle_worker_that_looks_takes_nothing_while_tasks_go_out(never_stale: None) -> None:
    rig = Rig(3, [LazyProbe(), LazyProbe()])
    rig.begin()
    rig.ref.tell(TaskDone(1, ()))  # worker 1 looks: hand-outs are recent
    assert rig.workers[1].tids() == []
    assert rig.ready() == (1, 2)


def test_an_idle_worker_that_looks_takes_a_task_held_too_long(always_stale: None) -> None:
    rig = Rig(3, [LazyProbe(), LazyProbe()])
    rig.begin()
    assert rig.workers[0].tids() == [0]  # its task turns out long: it never reports
    rig.ref.tell(TaskDone(1, ()))
    assert rig.workers[1].tids() == [1, 2]
    assert rig.ready() == ()


def test_a_worker_asleep_for_good_is_handed_the_task(never_stale: None) -> None:
    rig = Rig(2, [LazyProbe(), LazyProbe(looks=False)])
    rig.begin()
    assert rig.workers[0].tids() == [0]
    assert rig.workers[1].tids() == [1]  # it would not come and look: woken


def test_longer_tasks_go_out_as_before(never_stale: None) -> None:
    rig = Rig(6, [LazyProbe(), LazyProbe()])
    rig.begin()
    rig.ref.tell(TaskDone(0, (ran(0, 0.01),)))  # 10 ms: not tiny any more
    rig.ref.tell(TaskDone(0, (ran(1, 0.01),)))
    workers = [w.tids() for w in rig.workers]
    # the held tasks went out to the least loaded workers, idle ones too
    assert workers[1] != [] and sorted(workers[0] + workers[1]) == [0, 1, 2, 3, 4]


def test_the_first_tasks_of_a_run_go_out_as_before() -> None:
    rig = Rig(3, [LazyProbe(), LazyProbe()], tiny=False)  # no task has run yet
    rig.begin()
    assert (rig.workers[0].tids(), rig.workers[1].tids()) == ([0, 2], [1])
    assert rig.workers[1].held == 0


def test_plain_workers_get_no_holds() -> None:
    """Workers without ``hold()`` (a process pool's): hand-outs as before."""

    class Plain:
        def __init__(self) -> None:
            self.told: list[RunTasks] = []

        def tell(self, message: RunTasks) -> None:
            self.told.append(message)

    plain = [Plain(), Plain()]
    planner = Planner(
        [spec(i) for i in range(3)], {}, 3, ResultMailbox(10), threading.Event(), tiny_policy()
    )
    planner.tell(Begin(tuple(plain)))
    counts = [sum(len(m.items) for m in w.told) for w in plain]
    assert counts == [2, 1]


# -- the choice, plain state ----------------------------------------------------


class Lazy:
    def __init__(self, looks: bool) -> None:
        self.looks = looks

    def hold(self) -> bool:
        return self.looks


def test_for_tiny_picks_the_awake_worker_then_holds_for_a_looker_else_wakes() -> None:
    lazy = [Lazy(False), Lazy(True), Lazy(False)]
    workers = Workers(lazy)
    assert workers.for_tiny() is workers[0]  # every worker idle: the first wakes
    workers[0].load = 1
    assert workers.for_tiny() is None  # worker 1 will come and look: held
    lazy[1].looks = False
    assert workers.for_tiny() is workers[1]  # no idle worker looks: the first is woken
    workers[1].load = workers[2].load = 1
    assert workers.for_tiny() is None  # every worker has a task
    assert workers.for_tiny(awake=0, most=2) is workers[0]  # below its most
    assert workers.for_tiny(awake=0, most=1) is None
    workers[1].alive = False
    workers[0].load = workers[2].load = 0
    assert workers.for_tiny(awake=1) is workers[0]  # a lost worker takes nothing


def test_handout_policy_is_tiny_once_tasks_ran_short() -> None:
    policy = HandOutPolicy(tiny_task=0.001)
    assert not policy.tiny()  # until tasks show it
    for _ in range(20):
        policy.served(0.00001, 0.00001)
    assert policy.tiny()
    policy.served(0.05, 0.0)  # not measured: only the served mean moves
    assert policy.tiny() and not policy.ahead()
    for _ in range(10):
        policy.served(0.01, 0.01)
    assert not policy.tiny()
    for _ in range(40):
        policy.served(0.00001, 0.00001)
    assert policy.tiny() and policy.ahead()


# -- a thread worker's inbox ----------------------------------------------------


def test_an_idle_inbox_looks_when_a_task_is_held_for_it() -> None:
    inbox = IdleInbox()
    pokes: list[int] = []

    def poke() -> None:  # the planner hands it a held task, right there
        pokes.append(1)
        inbox.put("task")

    inbox.poke = poke
    assert inbox.hold()  # awake (it is not waiting): it will look
    assert inbox.get() == "task"
    assert pokes == [1] and not inbox.wanted


def test_an_idle_inbox_with_nothing_held_sleeps_and_says_so() -> None:
    inbox = IdleInbox()
    inbox.poke = lambda: pytest.fail("poked with nothing held")
    got: list[Any] = []
    taker = threading.Thread(target=lambda: got.append(inbox.get()))
    taker.start()
    try:
        wait_for(lambda: inbox.asleep, what="the inbox asleep")
        assert not inbox.hold()  # asleep: the planner must hand it the task
    finally:
        inbox.put("task")
        taker.join(WAIT)
    assert got == ["task"] and not inbox.asleep
