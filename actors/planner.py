"""The planner actor: dependencies, priorities, dispatch and shared state."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

from pexen.state.depgraph import DepGraph
from pexen.state.handout import HandOutPolicy
from pexen.state.readyqueue import ReadyQueue
from pexen.state.taskspec import TaskSpec
from pexen.vocab.results import ExceptionInfo, TaskRes

from .base import PassiveActor
from .lockmanager import LockManager
from .mailbox import ResultMailbox
from .messages import (
    AcquireLocks,
    AddTasks,
    BacklogDrained,
    Begin,
    Cancel,
    ForfeitLocks,
    LockDecisions,
    LockRequest,
    Outcome,
    PlannerStatus,
    ReleaseLocks,
    RunEnded,
    RunTasks,
    StatusQuery,
    TaskDone,
    WorkerLost,
)

__all__ = ["Planner"]

log = logging.getLogger(__name__)

# What the planner knows of each task (one byte per task).
_WAITING, _STARTED = 0, 1


class Planner(PassiveActor):
    """Decides what runs next and where; turns outcomes into results.

    Owns the run's :class:`DepGraph`, its :class:`ReadyQueue` and the shared
    dicts of tasks not yet handed out. Starts a :class:`LockManager` of its
    own, reachable as :attr:`locks`.

    Protocol:

    - takes :class:`Begin`, :class:`AddTasks`, :class:`BacklogDrained` and
      :class:`Cancel` (facade), :class:`TaskDone` and :class:`WorkerLost`
      (workers); answers :class:`StatusQuery` (by ``ask``) with a
      :class:`PlannerStatus`;
    - sends :class:`RunTasks` to workers; asks the lock manager
      :class:`AcquireLocks`, :class:`ReleaseLocks` and :class:`ForfeitLocks`,
      each answered at once with :class:`LockDecisions`;
    - posts a :class:`~pexen.sched.TaskRes` per finished task, then one
      :class:`RunEnded`, to the result mailbox.

    At most ``capacity`` tasks are out at once. Tasks go to the least loaded
    worker; to a worker still busy (ahead) only while ``handout`` says tasks
    are short (:class:`~pexen.state.handout.HandOutPolicy`). A task whose
    locks are not free waits in the lock manager without a slot; once granted
    it goes before any ready task. Dispatch pauses while the caller's backlog
    of unconsumed results is full, and stops for good once ``cancelled`` is set or :class:`Cancel`
    arrives. The run ends when nothing is out, nothing can start and the
    caller has consumed every result.

    ``specs`` is the run's task table; the facade appends to it before it
    sends :class:`AddTasks`.

    A passive actor: it has no thread and runs in the threads that tell it,
    one message at a time: a thread worker that just finished a task (which
    then finds its next task in its inbox without waiting), the reader thread
    of a process pool, the caller's thread. A thread hop per task would cost
    more than the planner's own work.
    """

    def __init__(
        self,
        specs: list[TaskSpec],
        preset: dict[str, Any],
        capacity: int,
        mailbox: ResultMailbox,
        cancelled: threading.Event,
        handout: HandOutPolicy | None = None,
    ) -> None:
        super().__init__()
        self._specs = specs
        self._preset = preset
        self._capacity = capacity
        self._mailbox = self.failure_sink = mailbox
        self._cancel_event = cancelled
        self._graph = DepGraph()
        self._ready = ReadyQueue()
        self._state = bytearray()
        self._pending_shared: dict[int, dict[str, Any]] = {}
        # name -> shared dicts its providers ended with (non-empty ones), for
        # tasks added later that require it
        self._provided_shared: dict[Hashable, list[dict[str, Any]]] = {}
        self._granted: deque[int] = deque()  # hold their locks, wait for a slot
        self._lock_waiting: set[int] = set()  # queued in the lock manager
        self._running: dict[int, int] = {}  # tid -> worker, in hand-out order
        self._sent_at: dict[int, float] = {}  # tid -> when handed out
        self._policy = handout or HandOutPolicy()
        self._handed: dict[int, dict[str, Any]] = {}  # tid -> shared dict handed out
        self._workers: list[Any] = []
        self._load: list[int] = []
        self._generation: list[int] = []
        self._live: list[bool] = []
        self._last_done: list[float] = []  # per worker: when its last task ended
        self._held_forever: set[Hashable] = set()
        self._finished = 0
        self._results: list[TaskRes] = []  # to post once the next tasks are out
        self._cancelled = False
        self._ended: RunEnded | None = None
        self.locks = LockManager()
        self.locks.failure_sink = mailbox

    # -- lifecycle ---------------------------------------------------------

    def stop(self) -> None:
        """Take no more messages; stop the lock manager."""
        super().stop()
        self.locks.stop()

    def on_failure(self, exc: BaseException) -> None:
        super().on_failure(exc)  # ends the run with the error
        self.locks.stop()

    # -- messages ----------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, TaskDone):
            self._task_done(message)
        elif isinstance(message, BacklogDrained):
            pass  # pump and check for the end below
        elif isinstance(message, Begin):
            self._begin(message)
        elif isinstance(message, AddTasks):
            self._add(message.specs)
        elif isinstance(message, WorkerLost):
            self._worker_lost(message)
        elif isinstance(message, StatusQuery):
            return self._status()
        elif isinstance(message, Cancel):
            self._cancel()
            return None
        else:
            log.warning("planner: unexpected message %r", message)
            return None
        self._pump()
        if self._results:
            # after the pump: the tasks they unblocked are already on their way
            post = self._mailbox.post
            for result in self._results:
                post(result)
            self._results.clear()
        self._maybe_end()
        return None

    def _begin(self, message: Begin) -> None:
        count = len(message.workers)
        self._workers = list(message.workers)
        self._load = [0] * count
        self._generation = [0] * count
        self._live = [True] * count
        self._last_done = [0.0] * count
        self._add(tuple(self._specs))

    def _add(self, specs: tuple[TaskSpec, ...]) -> None:
        self._state.extend(bytes(len(specs)))
        table = self._specs
        if self._provided_shared:  # a live addition: catch up on shared state
            for spec in specs:
                for name in spec.requires:
                    for shared in self._provided_shared.get(name, ()):
                        self._merge_into(spec.tid, shared)
        for tid in self._graph.add(specs):
            self._ready.push(table[tid].priority, tid)

    def _cancel(self) -> None:
        self._cancelled = True
        if self._ended is None:
            self._ended = RunEnded(0, 0, cancelled=True)
            self._mailbox.end(self._ended)

    def _task_done(self, message: TaskDone) -> None:
        releases: list[int] = []
        forfeits: list[int] = []
        now = time.monotonic()
        for outcome in message.outcomes:
            if self._running.get(outcome.tid) != message.worker:
                continue  # already accounted for (its worker was lost)
            if self._finish(outcome, message.worker, now):
                (releases if outcome.locks_ok else forfeits).append(outcome.tid)
        if releases:
            self._lock_decisions(self.locks.ask(ReleaseLocks(tuple(releases))))
        if forfeits:
            self._lock_decisions(self.locks.ask(ForfeitLocks(tuple(forfeits))))

    def _finish(self, outcome: Outcome, worker: int, now: float) -> bool:
        """Account for one ended task; return whether it held locks."""
        tid = outcome.tid
        spec = self._specs[tid]
        del self._running[tid]
        # how long it held its worker: from hand-out, or from when the task
        # before it on that worker ended
        self._policy.served(now - max(self._sent_at.pop(tid, now), self._last_done[worker]))
        self._last_done[worker] = now
        self._handed.pop(tid, None)
        self._load[worker] -= 1
        self._finished += 1
        if outcome.deps_ok and spec.provides:
            if outcome.shared:
                self._flow_shared(spec, outcome.shared)
            for ready in self._graph.provide(spec.provides):
                self._ready.push(self._specs[ready].priority, ready)
        self._results.append(TaskRes(spec.func, outcome.shared, outcome.ret, outcome.excinfo))
        if not spec.locks:
            return False
        if not outcome.locks_ok:
            self._held_forever |= spec.uses | spec.claims
        return True

    def _flow_shared(self, spec: TaskSpec, shared: dict[str, Any]) -> None:
        state = self._state
        for tid in self._graph.requirers(spec.provides):
            if state[tid] == _WAITING:
                self._merge_into(tid, shared)
        for name in spec.provides:
            self._provided_shared.setdefault(name, []).append(shared)

    def _merge_into(self, tid: int, shared: dict[str, Any]) -> None:
        into = self._pending_shared.get(tid)
        if into is None:
            into = self._pending_shared[tid] = dict(self._preset)
        into.update(shared)

    def _lock_decisions(self, answer: LockDecisions) -> None:
        """Apply the lock manager's answer: grants go before any ready task."""
        for tid in answer.waiting:
            self._lock_waiting.add(tid)
        for tid in answer.granted:
            self._lock_waiting.discard(tid)
            self._granted.append(tid)

    def _worker_lost(self, message: WorkerLost) -> None:
        worker = message.worker
        if message.generation is None:
            self._live[worker] = False
        else:
            self._generation[worker] = message.generation
        if message.replacement is not None:
            self._workers[worker] = message.replacement
        on_worker = [tid for tid, w in self._running.items() if w == worker]
        culprit = message.culprit if message.culprit in on_worker else None
        for tid in on_worker:
            if tid == culprit:
                continue
            # never started: hand it out again, to any worker
            del self._running[tid]
            del self._sent_at[tid]
            self._load[worker] -= 1
            self._state[tid] = _WAITING
            self._pending_shared[tid] = self._handed.pop(tid)
            if self._specs[tid].locks:
                self._granted.appendleft(tid)  # it still holds its locks
            else:
                self._ready.push(self._specs[tid].priority, tid)
        if culprit is not None:
            err = message.error
            excinfo = ExceptionInfo(type(err), err, None) if err is not None else ExceptionInfo()
            shared = self._handed.get(culprit, {})
            lost = Outcome(culprit, None, shared, excinfo, False, False)
            self._task_done(TaskDone(worker, (lost,)))
        if not any(self._live) and self._ended is None:
            self._cancelled = True
            self._ended = RunEnded(0, 0, message.error or RuntimeError("every worker was lost"))
            self._mailbox.end(self._ended)

    # -- dispatch ----------------------------------------------------------

    def _pump(self) -> None:
        """Hand out work while capacity is free, most urgent first."""
        if self._cancelled or self._ended or self._cancel_event.is_set() or not self._workers:
            return
        free = self._capacity - len(self._running)
        if free <= 0 or not (self._granted or self._ready):
            return
        if self._mailbox.should_pause(len(self._results)):
            return
        specs, ready, granted = self._specs, self._ready, self._granted
        batches: dict[int, list[tuple[TaskSpec, dict[str, Any]]]] = {}
        ahead = self._policy.ahead()
        now = time.monotonic()
        while free > 0:
            if not ahead and self._all_busy():
                break  # long tasks: the next one waits for a free worker
            if granted:
                spec = specs[granted.popleft()]
            elif ready:
                spec = specs[ready.pop()]
                if spec.locks:
                    request = LockRequest(spec.tid, spec.uses, spec.claims)
                    answer = self.locks.ask(AcquireLocks((request,)))
                    if not answer.granted:
                        self._lock_decisions(answer)  # it waits, without a slot
                        continue
            else:
                break
            self._dispatch(spec, batches, now)
            free -= 1
        for worker, items in batches.items():
            self._workers[worker].tell(RunTasks(tuple(items), self._generation[worker]))

    def _all_busy(self) -> bool:
        """Whether every live worker has a task (handed out or running)."""
        return all(n or not alive for n, alive in zip(self._load, self._live, strict=True))

    def _dispatch(
        self,
        spec: TaskSpec,
        batches: dict[int, list[tuple[TaskSpec, dict[str, Any]]]],
        now: float,
    ) -> None:
        tid = spec.tid
        self._state[tid] = _STARTED
        shared = self._pending_shared.pop(tid, None)
        if shared is None:
            shared = self._preset.copy() if self._preset else {}
        load, live = self._load, self._live
        worker, least = -1, 0
        for w, n in enumerate(load):  # the least loaded live worker
            if live[w] and (worker < 0 or n < least):
                worker, least = w, n
        load[worker] += 1
        self._running[tid] = worker
        self._sent_at[tid] = now
        self._handed[tid] = shared
        batches.setdefault(worker, []).append((spec, shared))

    def _maybe_end(self) -> None:
        if self._ended is not None or self._cancelled:
            return
        if self._running or self._granted:
            return
        if self._ready:
            return  # paused for the caller's backlog; resumes on BacklogDrained
        if not self._mailbox.all_consumed():
            return  # the caller may still add tasks; BacklogDrained comes back
        self._ended = RunEnded(self._graph.blocked, len(self._held_forever))
        self._mailbox.end(self._ended)

    # -- introspection -----------------------------------------------------

    def _status(self) -> PlannerStatus:
        ready = [*self._granted, *self._ready.tids()]
        return PlannerStatus(
            running=tuple(self._running.items()),
            ready=tuple(ready),
            waiting_deps=tuple(self._graph.blocked_tids()),
            waiting_locks=tuple(sorted(self._lock_waiting)),
            finished=self._finished,
            skipped=self._ended.skipped if self._ended is not None else 0,
        )
