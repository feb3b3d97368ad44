"""The thread pool's workers: one :class:`ThreadWorker` actor (and thread) each.

An implementation of the pool protocol (:mod:`actors.workerset`, where each
method's contract is); like an OTP supervisor, the set replaces a lost
worker under the same index and reports it as ``WorkerLost``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pykka
from pykka._envelope import Envelope  # what ActorRef.tell puts in an inbox

from pexen.state.taskspec import TaskSpec

from .messages import WorkerLost
from .slots import ThreadSlots
from .threadworker import IdleInbox, ThreadWorker
from .watchdog import Watchdog, timeout_error

if TYPE_CHECKING:
    from .workerset import FailureSink, Reporter, WorkerActor, WorkerSet

__all__ = ["ThreadWorkerSet"]

_new_envelope = object.__new__


class _BoxedRef:
    """The planner's handle on a thread worker: each message goes in a box.

    pykka's loop keeps the last message it handled while the worker idles;
    the worker empties the box it got, so that nothing of a finished task
    (its spec, its shared dict) stays referenced by an idle worker.
    """

    __slots__ = ("_put", "hold", "ref")

    def __init__(self, ref: pykka.ActorRef[ThreadWorker]) -> None:
        self.ref = ref
        # straight into the inbox, as ActorRef.tell does, minus its liveness
        # check: a worker actor's tell must never raise (a stopped worker's
        # inbox is only dropped), and this runs once per round in the planner
        inbox = ref.actor_inbox
        assert isinstance(inbox, IdleInbox)
        self._put = inbox.put
        #: the planner holds a tiny task rather than wake this idle worker,
        #: if it says it will look (see IdleInbox.hold)
        self.hold = inbox.hold

    def tell(self, message: Any) -> None:
        # Envelope([message]), without its Python-level __init__: once per round
        envelope = _new_envelope(Envelope)
        envelope.message, envelope.reply_to = [message], None
        self._put(envelope)

    def stop(self) -> object:
        return self.ref.stop()

    def is_alive(self) -> bool:
        return self.ref.is_alive()


class ThreadWorkerSet:
    """Worker actors that run tasks in their own threads.

    A thread cannot be killed: a task over its timeout is abandoned. Its
    thread goes on (a daemon thread: it never blocks interpreter exit), its
    result is dropped, and a fresh worker takes its index.
    """

    def __init__(self, workers: int, table: Sequence[TaskSpec], cancelled: threading.Event) -> None:
        self._count = workers
        self._table = table
        self._cancelled = cancelled
        self._slots = ThreadSlots(workers)
        self._refs: list[_BoxedRef] = []
        self._abandoned: list[threading.Event] = []
        self._lock = threading.Lock()
        self._report_to: Reporter  # set by launch, before any worker starts
        self._failure_sink: FailureSink | None = None
        self._watchdog = Watchdog(table, workers, self._slots.get, self._timed_out)

    def launch(self, report_to: Reporter, failure_sink: FailureSink | None) -> list[WorkerActor]:
        self._report_to, self._failure_sink = report_to, failure_sink
        for index in range(self._count):
            self._start(index, 0)
        return list(self._refs)

    def _start(self, index: int, generation: int) -> _BoxedRef:
        abandoned = threading.Event()
        ref = _BoxedRef(ThreadWorker.start(
            index, self._report_to, self._cancelled, self._failure_sink, self._slots, generation,
            abandoned,
        ))  # fmt: skip
        if index < len(self._refs):
            self._refs[index], self._abandoned[index] = ref, abandoned
        else:
            self._refs.append(ref)
            self._abandoned.append(abandoned)
        return ref

    def enforce_timeouts(self) -> None:
        if self._watchdog.ensure():
            self._slots.guard()  # before the planner hands out a task with a timeout

    def current(self, index: int) -> tuple[int, float] | None:
        return self._slots.get(index)

    def _timed_out(self, index: int, tid: int) -> None:
        with self._lock:
            if self._cancelled.is_set():
                return
            generation = self._slots.retire(index, tid)
            if generation is None:
                return  # it finished meanwhile
            self._abandoned[index].set()
            ref = self._start(index, generation)
        err = timeout_error(self._table[tid], "its thread was abandoned")
        self._report_to.tell(WorkerLost(index, generation, tid, err, ref))

    def close(self, kill: bool) -> None:
        self._watchdog.stop()
        if kill:
            self._cancelled.set()
        with self._lock:
            refs = list(self._refs)
        for ref in refs:
            ref.stop()  # waits for a task that is running: a thread cannot be killed

    def alive(self) -> bool:
        return any(ref.is_alive() for ref in self._refs)


if TYPE_CHECKING:  # mypy checks that the set keeps the pool protocol
    _: type[WorkerSet] = ThreadWorkerSet
