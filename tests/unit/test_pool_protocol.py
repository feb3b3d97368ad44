"""The pool protocol (``actors.workerset``): its pools keep it, and it is enough.

``PlainThreadSet`` below is a third pool written from that page alone: plain
threads with a queue each, no pykka. The engine runs real runs on it
(dependencies, shared state, locks, a timeout, a cancel), and its results
come back through ``Engine.take``.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest
from specs import spec

from actors.engine import Engine
from actors.mailbox import ResultMailbox
from actors.messages import RunEnded, RunTasks, TaskDone, WorkerLost
from actors.planner import Planner
from actors.slots import ThreadSlots
from actors.taskrun import run_task
from actors.threadworker import ThreadWorker
from actors.watchdog import Watchdog, timeout_error
from actors.workerset import (
    FailureSink,
    MakeWorkers,
    ProcessWorkerSet,
    Reporter,
    ThreadWorkerSet,
    WorkerActor,
    WorkerSet,
)
from pexen.state.taskspec import TaskSpec
from pexen.vocab.errors import TaskTimeoutError
from pexen.vocab.results import TaskRes

#: How long the test waits for an event a correct engine sets at once.
WAIT = 20


# -- a pool written from the page --------------------------------------------


class _Worker:
    """One generation of one worker index: a thread and its inbox."""

    def __init__(
        self,
        index: int,
        generation: int,
        report_to: Reporter,
        cancelled: threading.Event,
        killed: threading.Event,
        failure_sink: FailureSink | None,
    ) -> None:
        self.index, self.generation = index, generation
        self._report_to, self._failure_sink = report_to, failure_sink
        self._cancelled, self._killed = cancelled, killed
        self._inbox: queue.SimpleQueue[RunTasks | None] = queue.SimpleQueue()
        # guards `running` and `lost` together: a task is either reported
        # by the worker or declared the culprit by the set, never both
        self.lock = threading.Lock()
        self.running: tuple[int, float] | None = None
        self.lost = False
        self.thread = threading.Thread(
            target=self._run, name=f"plain-{index}.{generation}", daemon=True
        )
        self.thread.start()

    def tell(self, message: RunTasks) -> None:
        self._inbox.put(message)

    def stop(self) -> None:
        self._inbox.put(None)

    def _run(self) -> None:
        try:
            while (message := self._inbox.get()) is not None:
                if message.generation != self.generation:
                    continue  # rule 2: the planner hands those out again
                for spec_, shared in message.items:
                    with self.lock:
                        if self.lost or self._cancelled.is_set() or self._killed.is_set():
                            break  # rules 3 and 4: start nothing more
                        self.running = (spec_.tid, time.monotonic())
                    outcome = run_task(spec_, shared)
                    with self.lock:
                        self.running = None
                        lost = self.lost
                    if lost:
                        return  # abandoned: the set reported the task
                    self._report_to.tell(TaskDone(self.index, (outcome,)))
                if self.lost:
                    return
        except BaseException as exc:
            if self._failure_sink is not None:
                self._failure_sink.end(RunEnded(0, 0, exc))
            raise


class PlainThreadSet:
    """A thread pool without pykka: one thread and one queue per worker."""

    def __init__(self, workers: int, table: Sequence[TaskSpec], cancelled: threading.Event):
        self._count, self._table, self._cancelled = workers, table, cancelled
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._abandoned: list[_Worker] = []
        self._killed = threading.Event()
        self._report_to: Reporter
        self._failure_sink: FailureSink | None = None
        self._watchdog = Watchdog(table, workers, self.current, self._timed_out)
        self.losses: list[WorkerLost] = []

    def launch(self, report_to: Reporter, failure_sink: FailureSink | None) -> list[WorkerActor]:
        self._report_to, self._failure_sink = report_to, failure_sink
        self._workers = [self._new(i, 0) for i in range(self._count)]
        return list(self._workers)

    def _new(self, index: int, generation: int) -> _Worker:
        return _Worker(
            index, generation, self._report_to, self._cancelled, self._killed, self._failure_sink
        )

    def enforce_timeouts(self) -> None:
        self._watchdog.ensure()

    def current(self, index: int) -> tuple[int, float] | None:
        workers = self._workers
        return workers[index].running if index < len(workers) else None

    def _timed_out(self, index: int, tid: int) -> None:
        with self._lock:
            old = self._workers[index]
            with old.lock:
                if old.running is None or old.running[0] != tid:
                    return  # it ended meanwhile, and reported itself
                old.lost = True
            old.stop()
            self._abandoned.append(old)
            new = self._workers[index] = self._new(index, old.generation + 1)
        lost = WorkerLost(
            index, new.generation, tid, timeout_error(self._table[tid], "abandoned"), new
        )
        self.losses.append(lost)
        self._report_to.tell(lost)  # rule 5: not holding our lock

    def close(self, kill: bool) -> None:
        self._watchdog.stop()
        if kill:
            self._killed.set()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.thread.join()

    def alive(self) -> bool:
        return any(w.thread.is_alive() for w in [*self._workers, *self._abandoned])


if TYPE_CHECKING:  # `mypy tests/unit/test_pool_protocol.py` checks it statically
    _: type[WorkerSet] = PlainThreadSet


class _Reports:
    """A reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.messages: queue.SimpleQueue[TaskDone | WorkerLost] = queue.SimpleQueue()

    def tell(self, message: TaskDone | WorkerLost) -> None:
        self.messages.put(message)


# -- helpers ------------------------------------------------------------------


def _run(table: list[TaskSpec], make: MakeWorkers, capacity: int) -> tuple[list[TaskRes], RunEnded]:
    """Run ``table`` on the engine to its end; its results in the order taken."""
    engine = Engine(table, {}, make, capacity, backlog=100)
    results: list[TaskRes] = []
    try:
        while True:
            item = engine.take()
            if isinstance(item, RunEnded):
                return results, item
            results.append(item)
            engine.consumed()
    finally:
        engine.close(cancel=False)


def _plain(sets: list[PlainThreadSet], workers: int) -> MakeWorkers:
    def make(table: Sequence[TaskSpec], cancelled: threading.Event) -> WorkerSet:
        pool = PlainThreadSet(workers, table, cancelled)
        sets.append(pool)
        return pool

    return make


def _thread_name(name: str, ran: dict[str, str]):
    def task() -> str:
        ran[name] = threading.current_thread().name
        return name

    return task


# -- the protocol ---------------------------------------------------------------


PROTOCOL_METHODS = ("launch", "enforce_timeouts", "current", "close", "alive")


@pytest.mark.parametrize("cls", [ThreadWorkerSet, ProcessWorkerSet, PlainThreadSet])
def test_each_pool_has_the_methods_of_the_protocol_with_its_parameters(cls):
    for name in PROTOCOL_METHODS:
        want = list(inspect.signature(getattr(WorkerSet, name)).parameters)
        assert list(inspect.signature(getattr(cls, name)).parameters) == want, name


def test_the_pools_their_actors_and_the_engine_fit_the_protocol():
    table = [spec(0)]
    mailbox = ResultMailbox(10)
    planner = Planner(table, {}, 1, mailbox, threading.Event())
    assert isinstance(planner, Reporter)
    assert isinstance(mailbox, FailureSink)
    sets: list[WorkerSet] = [  # mypy: each is a WorkerSet
        ThreadWorkerSet(1, table, threading.Event()),
        ProcessWorkerSet(1, table),
        PlainThreadSet(1, table, threading.Event()),
    ]
    try:
        for workers in sets:
            assert isinstance(workers, WorkerSet)
            actors = workers.launch(planner, mailbox)
            assert len(actors) == 1
            assert all(isinstance(a, WorkerActor) for a in actors)
            assert workers.current(0) is None  # nothing handed out yet
            assert workers.alive()
    finally:
        for workers in sets:
            workers.close(kill=False)
        planner.stop()
    assert not any(w.alive() for w in sets)


# -- a run on the pool written from the page ----------------------------------------


def test_a_run_with_deps_shared_state_and_locks_comes_back_through_take():
    ran: dict[str, str] = {}
    events: list[str] = []

    def provider(shared: dict) -> str:
        shared["n"] = 41
        return "provided"

    def consumer(shared: dict) -> int:
        return shared["n"] + 1

    def locked(name: str):
        def task() -> None:
            events.append(f"{name}+")
            events.append(f"{name}-")

        return task

    table = [
        spec(0, provider, provides=["x"], shared=True),
        spec(1, consumer, requires=["x"], shared=True),
        spec(2, _thread_name("free", ran)),
        spec(3, locked("c1"), claims=["L"]),
        spec(4, locked("c2"), claims=["L"]),
        spec(5, lambda: 1 / 0, provides=["y"]),
        spec(6, requires=["y"]),  # skipped: its provider failed
    ]
    sets: list[PlainThreadSet] = []
    results, ended = _run(table, _plain(sets, workers=2), capacity=3)

    got = {res.task: res for res in results}
    assert set(got) == {s.func for s in table[:6]}
    assert got[provider].ret == "provided" and got[provider].shared == {"n": 41}
    assert got[consumer].ret == 42 and got[consumer].excinfo is None
    assert got[table[5].func].excinfo.type is ZeroDivisionError
    assert ended == RunEnded(skipped=1, held=0)
    assert ran["free"].startswith("plain-")  # it ran on the pool under test
    assert events in (["c1+", "c1-", "c2+", "c2-"], ["c2+", "c2-", "c1+", "c1-"])
    [pool] = sets
    assert not pool.alive()


def test_a_timed_out_task_fails_and_the_tasks_behind_it_run_on_the_replacement():
    release = threading.Event()
    ran: dict[str, str] = {}

    def stuck() -> bool:
        return release.wait(WAIT)

    # one worker, capacity 3: all three are handed to worker 0 at once
    table = [
        spec(0, stuck)._replace(timeout=0.05),
        spec(1, _thread_name("b", ran)),
        spec(2, _thread_name("c", ran)),
    ]
    sets: list[PlainThreadSet] = []
    try:
        results, ended = _run(table, _plain(sets, workers=1), capacity=3)
    finally:
        release.set()  # the abandoned thread returns, sees it was lost, ends
    [pool] = sets
    [lost] = pool.losses
    assert (lost.worker, lost.generation, lost.culprit) == (0, 1, 0)
    got = {res.task: res for res in results}
    assert got[stuck].excinfo.type is TaskTimeoutError
    assert "ran past its timeout of 0.05 s; abandoned" in str(got[stuck].excinfo.val)
    # never started on the lost worker: handed out again, to its replacement
    assert ran == {"b": "plain-0.1", "c": "plain-0.1"}
    assert (got[table[1].func].ret, got[table[2].func].ret) == ("b", "c")
    assert ended == RunEnded(0, 0)


def test_a_cancelled_run_starts_none_of_the_tasks_handed_out_behind_the_running_one():
    started, go = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> str:
        ran.append("first")
        started.set()
        go.wait(WAIT)
        return "first"

    table = [spec(0, first), *(spec(i, lambda i=i: ran.append(str(i))) for i in (1, 2))]
    sets: list[PlainThreadSet] = []
    engine = Engine(table, {}, _plain(sets, workers=1), 3, backlog=100)
    try:
        assert started.wait(WAIT)
        engine.cancel()
        go.set()
        while not isinstance(item := engine.take(), RunEnded):
            pass
        assert item.cancelled
    finally:
        go.set()
        engine.close(cancel=True)
    assert ran == ["first"]  # 1 and 2 were handed out with it, never begun
    [pool] = sets
    assert not pool.alive()


# -- rule 3 in the thread pool --------------------------------------------------


def test_a_retired_thread_slot_lets_its_worker_begin_nothing_more():
    slots = ThreadSlots(1)
    assert slots.begin(0, 0, 7)
    assert slots.retire(0, 7) == 1
    assert not slots.begin(0, 0, 8)  # the abandoned generation
    assert slots.get(0) is None
    assert slots.begin(0, 1, 8)
    slots.end(0, 0)  # the abandoned worker's end leaves its successor's slot alone
    current = slots.get(0)
    assert current is not None and current[0] == 8


def test_a_thread_worker_retired_before_its_next_task_drops_it_and_stops():
    slots = ThreadSlots(1)
    assert slots.begin(0, 0, 0)
    assert slots.retire(0, 0) == 1  # its task timed out; it has not noticed yet
    reports = _Reports()
    ran = threading.Event()
    ref = ThreadWorker.start(0, reports, threading.Event(), None, slots, 0)
    ref.tell(RunTasks(((spec(1, ran.set), {}),), 0))
    assert ref.actor_stopped.wait(WAIT)
    assert not ran.is_set()  # the planner hands it out again: it must not run here
    assert reports.messages.empty()


def test_thread_slots_take_their_locks_once_guarded_and_retire_as_before():
    slots = ThreadSlots(2)
    assert slots.begin(0, 0, 3)  # unguarded: no timeout yet, nothing retires a worker
    current = slots.get(0)
    assert current is not None and current[0] == 3
    slots.end(0, 0)
    assert slots.get(0) is None
    slots.guard()  # a task with a timeout is about to be handed out
    assert slots.begin(1, 0, 4)
    assert slots.retire(1, 4) == 1
    assert not slots.begin(1, 0, 5)  # the retired generation begins nothing more
    slots.end(1, 0)
    assert slots.get(1) is None
