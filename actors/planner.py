"""The planner actor: dependencies, priorities, dispatch and shared state."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from pexen.state.depgraph import DepGraph
from pexen.state.handout import HandOutPolicy
from pexen.state.readyqueue import ReadyQueue
from pexen.state.taskspec import TaskSpec
from pexen.state.tasktable import TaskTable
from pexen.state.workers import Workers, WorkerState
from pexen.vocab.events import (
    TaskEnded,
    TaskHandedOut,
    TaskLockWait,
    TasksAdded,
    TaskSkipped,
    TaskStarted,
    TaskUnblocked,
    describe_task,
)
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
    Stop,
    TaskDone,
    WorkerLost,
)

__all__ = ["Phase", "Planner"]

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__
_monotonic = time.monotonic

# A task's state, by tid (see the life cycle in Planner). Ordered: every
# state below _HANDED_OUT is "not handed out yet". A task that ended, or one
# in the table for its code only (a standalone pool's registered task), has
# no state: the planner keeps nothing of it.
_WAITING_DEPS = 1
_READY = 2
_WAITING_LOCKS = 3
_GRANTED = 4
_HANDED_OUT = 5
_DONE = 6  # and _FAILED: the states of no entry (the task is forgotten)
_FAILED = 7

#: what the planner keeps of a task handed out: (worker, when, shared dict)
_Out = tuple[int, float, dict[str, Any]]

#: seconds without a hand-out after which a held task goes to an idle worker
#: that comes and looks for it (see Planner._pump)
_STALE = 0.002

#: the most tasks waiting for a provider's name for which the planner looks
#: for one to chain behind it (see Planner._chain_candidate): a bound on the
#: cost of a pump behind a provider of many
_CHAIN_LOOKS = 4


class Phase(enum.Enum):
    """Where a run stands: the planner's one stop state.

    ============  ============================================  ================
    phase         the planner                                   moves on at
    ============  ============================================  ================
    ``STARTING``  waits for its workers                         ``Begin``
    ``OPEN``      dispatches; idle, it waits for more tasks     ``Stop``
    ``RUNNING``   dispatches; ends the run once idle            idle, ``Cancel``
    ``ENDED``     has posted ``RunEnded``; dispatches nothing   -
    ============  ============================================  ================

    ``Begin`` leads to ``OPEN`` for a run started with ``keep_open``, else to
    ``RUNNING``. ``Cancel`` (or the run's ``cancelled`` event, seen before a
    dispatch), the loss of every worker and an internal error end the run
    from any phase.
    """

    STARTING = "starting"
    OPEN = "open"
    RUNNING = "running"
    ENDED = "ended"


_STARTING, _OPEN, _RUNNING, _ENDED = Phase.STARTING, Phase.OPEN, Phase.RUNNING, Phase.ENDED


class Planner(PassiveActor):
    """Decides what runs next and where; turns outcomes into results.

    Owns the run's :class:`DepGraph`, its :class:`ReadyQueue`, the shared
    dicts of tasks not yet handed out and what it knows of each worker
    (:class:`~pexen.state.workers.Workers`). Starts a :class:`LockManager` of
    its own, reachable as :attr:`locks`.

    Protocol:

    - takes :class:`Begin`, :class:`AddTasks`, :class:`BacklogDrained`,
      :class:`Stop` and :class:`Cancel` (facade), :class:`TaskDone` and
      :class:`WorkerLost` (workers; a ``TaskDone`` of no outcomes is an idle
      worker looking for held tasks, see :meth:`_pump`); answers
      :class:`StatusQuery` (by ``ask``) with a :class:`PlannerStatus`;
    - sends :class:`RunTasks` to workers; asks the lock manager
      :class:`AcquireLocks`, :class:`ReleaseLocks` and :class:`ForfeitLocks`,
      each answered at once with :class:`LockDecisions`;
    - posts a :class:`~pexen.sched.TaskRes` per finished task, then one
      :class:`RunEnded`, to the result mailbox.

    A task's life cycle. Its state is an entry of a dict by tid; the
    containers are cheap indexes of some states, changed only by
    :meth:`_move`, the one place a task moves (but for the two moves of
    every task, ready to handed out in :meth:`_pump` and handed out to
    ended in :meth:`_finish`, which do what it would, inlined):

    ===================  ========================  ==============================  =================
    state                held in                   moves on when                   to
    ===================  ========================  ==============================  =================
    added                the task table            ``Begin`` / ``AddTasks``        waiting on deps
    waiting on deps      the :class:`DepGraph`     it has all its ``requires``     ready
    ready                the :class:`ReadyQueue`   the pump takes it: no locks     handed out
                                                   ... its locks granted at once   handed out
                                                   ... its locks not free          waiting on locks
    waiting on locks     ``_lock_waiting`` (and    a release (or forfeit) grants   granted
                         the lock manager)         them
    granted              ``_granted``              the pump takes it, before any   handed out
                                                   ready task
    handed out/running   ``_out``: worker, when,   ``TaskDone``                    done / failed
                         shared dict               its worker lost, not begun      ready / granted
                                                   its worker lost, running it     failed
    ... chained          ``_out``, and ``_ahead``  its provider ends deps_ok       handed out
                         (the task it runs behind) ... ends without deps_ok,       waiting on deps
                                                   or its worker is lost first     (ready if met)
    done / failed        nothing: its result is    -
                         posted, the task forgotten
    ===================  ========================  ==============================  =================

    A task *chained* (:meth:`_chain`) was handed out while still waiting on
    deps, to the worker of the one task it can wait for, right behind it:
    the worker process runs it only if that one provides. It counts as
    handed out (``status()``, the shared-dict flow) until it ends or comes
    back.

    A task *skipped* is one still waiting on deps when the run ends (a
    provider failed, or, in an open run, none came); it is counted, not
    moved. The planner cannot tell a task handed out from one running (the
    worker set's ``current`` can). A task of the initial table that is not
    part of the run (``run_table`` false, below) has no state at all.

    The planner keeps nothing of a task that ended: its state entry, its
    edges in the :class:`DepGraph` and its shared dict go as its result is
    posted. What a later task requiring a name must start with is kept per
    name (the providers' shared dicts, merged in the order they ended).

    At most ``capacity`` tasks are out at once (not counting tasks chained
    behind their provider and not begun, see :meth:`_chain`). Tasks go to the least loaded
    worker (among equals, the one whose ``TaskDone`` is being handled, else
    the lowest index); to a worker still busy (ahead) only while ``handout`` says tasks
    are short (:class:`~pexen.state.handout.HandOutPolicy`). Tiny tasks on a
    thread pool are held for a worker about to report rather than wake an
    idle one (:meth:`_pump`). Dispatch pauses while the caller's backlog of
    unconsumed results is full. The run's phase (:class:`Phase`) says whether
    it dispatches and whether it ends once idle: nothing out, nothing can
    start and the caller has consumed every result.

    ``specs`` is the run's task table (read only; the facade adds to it
    before it sends :class:`AddTasks`, and drops the entries of tasks whose
    result the caller took, in an open run). With ``run_table`` false, the tasks already in
    it are not part of the run: they are only the workers' table, whose code
    later tasks run through :attr:`~pexen.state.taskspec.TaskSpec.origin`.

    A passive actor: it has no thread and runs in the threads that tell it,
    one message at a time: a thread worker that just finished a task (which
    then finds its next task in its inbox without waiting), the reader thread
    of a process pool, the caller's thread. A thread hop per task would cost
    more than the planner's own work.

    With ``observed``, the planner also posts the run's events
    (:mod:`pexen.vocab.events`) to the mailbox, in order with the results:
    hand-outs, lock waits, each task's start and end (as its worker measured
    them), the dependency edges that unblocked tasks, live additions, and,
    as the run ends, a :class:`TaskSkipped` with its cause for each task
    still waiting. Unobserved, it builds none of them. What it keeps for
    the causes is per name or per waiting task, never per finished task.
    """

    # Slots: an instance of over 30 attributes in a __dict__ is read by
    # lookups in that dict, where a slot is read at a fixed offset (the hot
    # path reads a dozen attributes per message). A subclass's own go in the
    # __dict__ the base class has.
    __slots__ = (
        "_ahead", "_behind", "_cancel_event", "_capacity", "_chained_out", "_chaining",
        "_events",
        "_failed_provider", "_finished", "_forfeited", "_forget", "_granted", "_graph", "_handed",
        "_held_forever", "_keep_open", "_last_ended", "_late", "_lazy", "_lock_since",
        "_lock_waiting", "_mailbox", "_most", "_out", "_pending_shared", "_phase", "_policy",
        "_post", "_preset", "_provided_shared", "_ready", "_results", "_run_table", "_skipped",
        "_specs", "_state", "_table", "_workers", "failure_sink", "locks",
    )  # fmt: skip

    def __init__(
        self,
        specs: TaskTable | Sequence[TaskSpec],
        preset: dict[str, Any],
        capacity: int,
        mailbox: ResultMailbox,
        cancelled: threading.Event,
        handout: HandOutPolicy | None = None,
        *,
        keep_open: bool = False,
        run_table: bool = True,
        forget_finished: bool = False,
        observed: bool = False,
    ) -> None:
        super().__init__()
        self._table = specs
        # drop a task's spec from the table as it ends (for a caller that
        # cannot name its tasks when taking their results: standalone pools)
        self._forget = specs.forget if forget_finished and isinstance(specs, TaskTable) else None
        # lookups by tid straight in the table's dict: the hot path's
        self._specs: Mapping[int, TaskSpec] | Sequence[TaskSpec] = (
            specs.by_tid if isinstance(specs, TaskTable) else specs
        )
        self._preset = preset
        self._capacity = capacity
        self._mailbox = self.failure_sink = mailbox
        self._post = mailbox.post  # bound once (a bound method per message counts for the GC)
        self._cancel_event = cancelled  # the workers' signal; the planner turns it into _phase
        self._keep_open = keep_open
        self._run_table = run_table
        self._phase = _STARTING
        self._workers = Workers()
        self._policy = handout or HandOutPolicy()
        # the workers look for held tasks when idle (Begin says); for tiny
        # tasks, the most a reporting worker takes: its next, and the spare
        self._lazy = False
        self._most = 1
        self._handed = 0.0  # when a task was last handed out
        # tasks: their states, and the indexes of some states (see the table)
        self._state: dict[int, int] = {}
        self._graph = DepGraph()
        self._ready = ReadyQueue()
        self._lock_waiting: set[int] = set()
        self._granted: deque[int] = deque()
        self._out: dict[int, _Out] = {}  # in hand-out order
        # shared dicts of tasks not handed out yet that differ from the preset
        self._pending_shared: dict[int, dict[str, Any]] = {}
        # name -> what its providers' shared dicts ended with (merged, in the
        # order they ended: the same as merging each), for tasks added later
        # that require it. One dict per name, none per task.
        self._provided_shared: dict[Hashable, dict[str, Any]] = {}
        self._held_forever: set[Hashable] = set()
        # chaining (see _chain): tasks handed out behind their provider, on
        # its worker, while they still run only if it provides. One entry per
        # such task, gone as it ends, runs unconditionally or comes back.
        self._chaining = False  # the workers declare they can (chains())
        self._ahead: dict[int, int] = {}  # chained task -> the task it runs behind
        self._behind: dict[int, int] = {}  # task -> the task chained behind it
        # chained task -> what providers that ended since it was handed out
        # merged (its dict, should it come back); none for most chains
        self._late: dict[int, dict[str, Any]] = {}
        # chained task -> its TaskHandedOut, held until it is sure to run (its
        # provider ended with deps_ok, or it ended itself) and dropped should
        # it come back: observers never see a task handed out that is then
        # skipped (observed runs only)
        self._chained_out: dict[int, TaskHandedOut] = {}
        self._finished = 0
        self._skipped = 0
        self._results: list[TaskRes] = []  # to post once the next tasks are out
        self.locks = LockManager()
        self.locks.failure_sink = mailbox
        # events to post with the results, in order (results among them);
        # None when nobody observes the run: the hot path's one test
        self._events: list[Any] | None = [] if observed else None
        # for the events only (see _observe_*): kept while observed
        self._lock_since: dict[int, float] = {}  # tid -> when it began to wait
        self._last_ended: dict[int, float] = {}  # worker -> when its last task ended
        # name -> (provider, what it raised): the last provider of the name that
        # failed without providing it; resource -> (holder, mode) held for good
        self._failed_provider: dict[Hashable, tuple[Callable[..., Any], str]] = {}
        self._forfeited: dict[Hashable, tuple[Callable[..., Any], str]] = {}

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
        # the two messages of every task first: each test costs a service's add
        awake = -1  # the worker whose thread may run this: it takes ties (no wake-up)
        if isinstance(message, TaskDone):
            if message.outcomes:
                self._task_done(message)
                awake = message.worker
            elif _monotonic() - self._handed > _STALE:
                # an idle worker looking for held tasks: nothing went out for a
                # while (the worker they were held for is busy), so it takes one
                awake = message.worker
        elif isinstance(message, AddTasks):
            if self._events is not None:
                added = tuple(spec.func for spec in message.specs)
                self._events.append(TasksAdded(added, time.monotonic()))
            self._add(message.specs, message.shared)
        elif isinstance(message, BacklogDrained):
            pass  # pump and check for the end below
        elif isinstance(message, Begin):
            self._begin(message)
        elif isinstance(message, WorkerLost):
            self._worker_lost(message)
        elif isinstance(message, StatusQuery):
            return self._status()
        elif isinstance(message, Stop):
            self._keep_open = False
            if self._phase is _OPEN:
                self._phase = _RUNNING
        elif isinstance(message, Cancel):
            self._end(RunEnded(0, 0, cancelled=True))
            return None
        else:
            log.warning("planner: unexpected message %r", message)
            return None
        self._pump(awake)
        if self._events:
            self._flush()
        elif self._results:
            # after the pump: the tasks they unblocked are already on their way
            results = self._results
            if len(results) == 1:  # most messages: no iterator (the GC counts those)
                self._post(results[0])
            else:
                post = self._post
                for result in results:
                    post(result)
            results.clear()
        if self._phase is _RUNNING and not self._out:  # with tasks out, it cannot end
            self._maybe_end()
        return None

    def _begin(self, message: Begin) -> None:
        self._workers = Workers(message.workers)
        self._lazy = all(callable(getattr(actor, "hold", None)) for actor in message.workers)
        self._chaining = all(_chains(actor) for actor in message.workers)
        self._most = 1 + max(0, self._capacity - len(message.workers))
        self._phase = _OPEN if self._keep_open else _RUNNING
        if self._run_table:
            self._add(tuple(self._table))

    def _end(self, ended: RunEnded) -> None:
        """Post the run's last message (once); dispatch nothing more."""
        if self._phase is _ENDED:
            return
        self._phase = _ENDED
        self._skipped = ended.skipped
        if self._events is not None:
            self._observe_skips(ended)
            self._flush()
        elif self._results:  # tasks that ended in this message (a cancel seen in the pump)
            post = self._mailbox.post
            for result in self._results:
                post(result)
            self._results.clear()
        self._mailbox.end(ended)

    def _flush(self) -> None:
        """Post the events and results of an observed run, in order."""
        assert self._events is not None
        post, events = self._mailbox.post, self._mailbox.events
        batch: list[Any] = []
        for item in self._events:
            if type(item) is TaskRes:
                if batch:
                    events(batch)
                    batch = []
                post(item)
            else:
                batch.append(item)
        if batch:
            events(batch)
        self._events.clear()
        self._results.clear()

    def _add(
        self, specs: tuple[TaskSpec, ...], shared: tuple[dict[str, Any], ...] | None = None
    ) -> None:
        state = self._state
        if len(specs) == 1 and shared is None and not (specs[0].requires or specs[0].provides):
            # a service's one task: ready at once, nothing for the graph (which
            # counts the providers still to end) or the shared state to catch
            # up on (it enters its first state here)
            spec = specs[0]
            state[spec.tid] = _READY
            self._ready.push(spec.priority, spec.tid)
            return
        if shared is not None:
            for spec, start in zip(specs, shared, strict=True):
                self._pending_shared[spec.tid] = start
        if self._provided_shared:  # a live addition: catch up on shared state
            for spec in specs:
                for name in spec.requires:
                    provided = self._provided_shared.get(name)
                    if provided is not None:
                        self._merge_into(spec.tid, provided)
        ready = self._graph.add(specs)
        # each task enters waiting on deps, and those ready at once move on
        # (_move(tid, _READY): no index but the ready queue's to update); in
        # bulk for a batch: a run's whole table, at its start, came to a third
        # of the time to its first result as a _move() per task
        if len(specs) == 1:
            state[specs[0].tid] = _WAITING_DEPS
            if ready:
                self._move(ready[0], _READY)
            return
        if len(ready) < len(specs):
            state.update(dict.fromkeys([spec.tid for spec in specs], _WAITING_DEPS))
        if ready:
            state.update(dict.fromkeys(ready, _READY))
            table = self._specs
            self._ready.push_all([table[tid].priority for tid in ready], ready)

    # -- the one place a task changes state (see the class: two inlined) ---

    def _move(self, tid: int, to: int, out: _Out | None = None) -> _Out | None:
        """Move task ``tid`` to state ``to``, updating the indexes of both states.

        Entering *handed out* takes ``out``; leaving it returns what it held.
        A task leaves the ready and granted queues from their heads only: the
        pump takes the most urgent one.
        """
        state = self._state
        was = state[tid]
        if to >= _DONE:
            del state[tid]  # the planner forgets it
        else:
            state[tid] = to
        left = None
        if was == _READY:
            self._ready.pop()
        elif was == _HANDED_OUT:
            left = self._out.pop(tid)
            self._workers[left[0]].load -= 1
        elif was == _GRANTED:
            self._granted.popleft()
        elif was == _WAITING_LOCKS:
            self._lock_waiting.discard(tid)
        if to == _HANDED_OUT:
            assert out is not None
            self._out[tid] = out
            self._workers[out[0]].load += 1
        elif to == _READY:
            self._ready.push(self._specs[tid].priority, tid)
        elif to == _GRANTED:
            if was == _HANDED_OUT:
                self._granted.appendleft(tid)  # it was first already
            else:
                self._granted.append(tid)
        elif to == _WAITING_LOCKS:
            self._lock_waiting.add(tid)
        return left

    # -- outcomes ----------------------------------------------------------

    def _task_done(self, message: TaskDone) -> None:
        now = _monotonic()
        worker, outs, outcomes = message.worker, self._out, message.outcomes
        held: list[Outcome] | None = None  # the outcomes of tasks that held locks
        if len(outcomes) == 1:  # most messages: no iterator (the GC counts those)
            outcome = outcomes[0]
            out = outs.get(outcome.tid)
            # out None, or another worker's: already accounted for (its worker was lost)
            if out is not None and out[0] == worker and self._finish(outcome, out, now):
                held = [outcome]
        else:
            for outcome in outcomes:
                out = outs.get(outcome.tid)
                if out is not None and out[0] == worker and self._finish(outcome, out, now):
                    if held is None:
                        held = []
                    held.append(outcome)
        if held is None:
            return
        releases: tuple[int, ...] = ()
        forfeits: tuple[int, ...] = ()
        for outcome in held:
            if outcome.locks_ok:
                releases += (outcome.tid,)
            else:
                forfeits += (outcome.tid,)
        if releases:
            self._lock_decisions(self.locks.ask(ReleaseLocks(releases)))
        if forfeits:
            self._lock_decisions(self.locks.ask(ForfeitLocks(forfeits)))

    def _finish(self, outcome: Outcome, out: _Out, now: float) -> bool:
        """Account for one ended task (``out``: what it was handed out with);
        return whether it held locks."""
        tid = outcome.tid
        spec = self._specs[tid]
        # _move(tid, _DONE or _FAILED) of a task handed out, inlined (once per
        # task): it leaves the states and _out, and its worker's load
        del self._state[tid]
        del self._out[tid]
        worker = self._workers[out[0]]
        worker.load -= 1
        # how long it held its worker: from hand-out, or from when the task
        # before it on that worker ended
        self._policy.served(now - max(out[1], worker.last_done), outcome.ended - outcome.started)
        worker.last_done = now
        self._finished += 1
        events = self._events
        if events is not None:
            if self._chained_out:
                handed = self._chained_out.pop(tid, None)
                if handed is not None:  # it ended still chained (its worker was lost)
                    events.append(handed)
            self._observe_end(spec, outcome, out, now, events)
        if spec.requires:
            self._graph.forget(spec)
        if spec.provides:
            self._graph.provider_ended(spec.provides)
            if outcome.deps_ok:
                if outcome.shared:
                    self._flow_shared(spec, outcome.shared)
                if events is not None:
                    self._observe_provide(spec, events)
                ready = self._graph.provide(spec.provides)
                if self._ahead:  # chained ones are on their way already
                    ready = [t for t in ready if t not in self._ahead]
                for unblocked in ready:
                    self._move(unblocked, _READY)
            elif events is not None:
                what = _what_raised(outcome.excinfo)
                for name in spec.provides:
                    self._failed_provider[name] = (spec.func, what)
        if self._ahead:
            self._chain_ended(tid, outcome)
        # TaskRes(...) without its Python-level __new__: once per task
        result = _new_tuple(TaskRes, (spec.func, outcome.shared, outcome.ret, outcome.excinfo))
        self._results.append(result)
        if events is not None:
            events.append(result)
        if self._forget is not None:
            self._forget(tid)
        if not spec.locks:
            return False
        if not outcome.locks_ok:
            self._held_forever |= spec.uses | spec.claims
            if events is not None:
                for name in spec.uses:
                    self._forfeited.setdefault(name, (spec.func, "uses"))
                for name in spec.claims:
                    self._forfeited[name] = (spec.func, "claims")
        return True

    def _flow_shared(self, spec: TaskSpec, shared: dict[str, Any]) -> None:
        state, ahead = self._state, self._ahead
        for tid in self._graph.requirers(spec.provides):
            if state.get(tid, _DONE) < _HANDED_OUT:
                self._merge_into(tid, shared)
            elif ahead and tid in ahead and ahead[tid] != spec.tid:
                # chained behind another: its dict, should it come back
                self._late.setdefault(tid, {}).update(shared)
        provided = self._provided_shared
        for name in spec.provides:
            into = provided.get(name)
            if into is None:
                provided[name] = dict(shared)
            else:
                into.update(shared)

    def _merge_into(self, tid: int, shared: dict[str, Any]) -> None:
        into = self._pending_shared.get(tid)
        if into is None:
            into = self._pending_shared[tid] = dict(self._preset)
        into.update(shared)

    def _lock_decisions(self, answer: LockDecisions) -> None:
        """Apply the lock manager's answer: grants go before any ready task."""
        for tid in answer.waiting:
            self._move(tid, _WAITING_LOCKS)
        for tid in answer.granted:
            self._move(tid, _GRANTED)
        if self._events is not None:
            self._observe_locks(answer)

    def _worker_lost(self, message: WorkerLost) -> None:
        index = message.worker
        self._workers.lost(index, message.generation, message.replacement)
        on_worker = [tid for tid, out in self._out.items() if out[0] == index]
        culprit = message.culprit if message.culprit in on_worker else None
        for tid in on_worker:
            if tid in self._ahead and tid != culprit:
                self._unchain(tid)  # never begun: back to waiting, unless its deps are met
            elif tid != culprit:
                # never begun: hand it out again, to any worker
                to = _GRANTED if self._specs[tid].locks else _READY  # granted: still holds them
                out = self._move(tid, to)
                assert out is not None
                self._pending_shared[tid] = out[2]
        if culprit is not None:
            err = message.error
            excinfo = ExceptionInfo(type(err), err, None) if err is not None else ExceptionInfo()
            # not measured (0.0): the planner's own times stand in for them
            lost = Outcome(culprit, None, self._out[culprit][2], excinfo, False, False)
            self._task_done(TaskDone(index, (lost,)))
        if not self._workers.any_alive():
            self._end(RunEnded(0, 0, message.error or RuntimeError("every worker was lost")))

    # -- dispatch ----------------------------------------------------------

    def _pump(self, awake: int = -1) -> None:
        """Hand out work while capacity is free, most urgent first.

        Among workers equally loaded, ``awake`` (the worker that just
        reported: its thread may be the one running the planner, and would
        find the task in its inbox without a wake-up) goes first.

        Tiny tasks on lazy workers (a thread pool's, which look for held
        tasks when idle; see :meth:`~pexen.state.workers.Workers.for_tiny`):
        waking a sleeping worker costs more than such a task runs, so
        ``awake`` takes its next task and the spare, and a task goes to an
        idle worker only when every worker is idle or that one is asleep for
        good. Else it is *held* (it stays ready) for the next worker to
        report, or for an idle worker that comes to look (an empty
        ``TaskDone``): that one takes it once nothing went out for
        ``_STALE`` seconds (the busy worker's task turned out long).
        """
        free = self._capacity - len(self._out)
        granted, ready = self._granted, self._ready
        if not (granted or ready):
            chain = free > 0 and self._chaining and self._out and self._graph.blocked
            if chain and self._may_dispatch():
                self._chain_only(free)
            return
        if self._ahead:
            # chained tasks not begun wait for their provider and hold no
            # worker: a ready task never waits for them (see _chain)
            free += len(self._ahead)
        if free <= 0 or not self._may_dispatch():
            return
        now = _monotonic()
        workers, specs, state, outs = self._workers, self._specs, self._state, self._out
        pending, preset, events = self._pending_shared, self._preset, self._events
        # what goes to each worker: most pumps hand out to one worker only,
        # so that one's batch is kept apart, and a dict made for any other
        first = -1
        batch: list[tuple[TaskSpec, dict[str, Any]]] | None = None  # that worker's
        others: dict[int, list[tuple[TaskSpec, dict[str, Any]]]] | None = None
        policy = self._policy
        # tiny tasks, idle workers that look for work: none wakes a worker
        # while another is about to report; else, with long tasks (not
        # ahead), the next one waits for a free worker
        tiny = self._lazy and policy.run_mean < policy.tiny_task
        ahead = tiny or policy.ahead()
        most = self._most
        worker: WorkerState | None
        tid: int | None
        while free > 0:
            if tiny:
                worker = workers.for_tiny(awake, most)
                if worker is None:
                    break  # held: for the next report, or an idle worker's look
            elif not ahead and workers.all_busy():
                break
            # _next(), for a ready task that takes no locks: once per task
            if granted or not ready or specs[tid := ready.peek()].locks:
                tid = self._next()
            if tid is None:
                break
            if not tiny:
                worker = workers.least_loaded(awake)
            assert worker is not None  # with every worker lost, the run has ended
            index = worker.index
            if state[tid] == _READY:
                # _hand_out() of a ready task, its _move() inlined: once per task
                shared = pending.pop(tid, None) if pending else None
                if shared is None:
                    shared = preset.copy() if preset else {}
                state[tid] = _HANDED_OUT
                ready.pop()  # tid: the head
                outs[tid] = (index, now, shared)
                worker.load += 1
                spec = specs[tid]
                if events is not None:
                    events.append(TaskHandedOut(spec.func, index, now))
            else:
                spec, shared = self._hand_out(tid, now, worker)
            if index == first:
                batch.append((spec, shared))  # type: ignore[union-attr]
            elif batch is None:
                first, batch = index, [(spec, shared)]
            else:
                if others is None:
                    others = {}
                others.setdefault(index, []).append((spec, shared))
            free -= 1
        free = self._capacity - len(outs)  # what chaining may take: chained ones count
        if free > 0 and self._chaining and not (granted or ready):
            # the ready ones all went out first: chain behind them, in the same messages
            batches = {} if batch is None else {first: batch}
            if others is not None:
                batches.update(others)
            chained = self._chain(free, now, batches)
            if chained is not None:
                self._send_chained(batches, chained, now)
                return
        if batch is None:
            return
        self._handed = now
        # RunTasks(...) without its Python-level __new__: once per hand-out
        worker = workers[first]
        worker.actor.tell(_new_tuple(RunTasks, (tuple(batch), worker.generation, None)))
        if others is not None:  # in the order of their first hand-outs, after it
            for index, items in others.items():
                worker = workers[index]
                worker.actor.tell(_new_tuple(RunTasks, (tuple(items), worker.generation, None)))

    def _may_dispatch(self) -> bool:
        """Whether the phase lets tasks out now, and the caller keeps up."""
        phase = self._phase
        if phase is not _RUNNING and phase is not _OPEN:
            return False
        if self._cancel_event.is_set():  # Cancel is on its way: act on it now
            self._end(RunEnded(0, 0, cancelled=True))
            return False
        return not self._mailbox.should_pause(len(self._results))

    def _next(self) -> int | None:
        """The most urgent task that may start now: granted ones, then ready ones.

        A ready task whose locks are not free goes to wait for them, and the
        next one is looked at.
        """
        granted, ready = self._granted, self._ready
        while True:
            if granted:
                return granted[0]
            if not ready:
                return None
            tid = ready.peek()
            spec = self._specs[tid]
            if not spec.locks:
                return tid
            answer = self.locks.ask(AcquireLocks((LockRequest(tid, spec.uses, spec.claims),)))
            if answer.granted:
                return tid
            self._lock_decisions(answer)  # it waits, without a slot

    def _hand_out(
        self, tid: int, now: float, worker: WorkerState
    ) -> tuple[TaskSpec, dict[str, Any]]:
        """Hand task ``tid`` (what :meth:`_next` returned) to ``worker``:
        what to send it, the task and its shared dict."""
        shared = self._pending_shared.pop(tid, None)
        if shared is None:
            shared = self._preset.copy() if self._preset else {}
        self._move(tid, _HANDED_OUT, (worker.index, now, shared))
        spec = self._specs[tid]
        if self._events is not None:
            self._events.append(TaskHandedOut(spec.func, worker.index, now))
        return spec, shared

    # -- chaining: a task handed out behind its provider -------------------

    def _chain(
        self,
        free: int,
        now: float,
        batches: dict[int, list[tuple[TaskSpec, dict[str, Any]]]],
    ) -> dict[int, dict[int, int]] | None:
        """Hand out, behind their provider, tasks that can only wait for it.

        With capacity still free once every ready and granted task went out
        (they always go first), a task *B* waiting on deps goes to the
        worker of a task *A* that is the last one queued there, *chained*
        behind it (``RunTasks.after``), when the rules cannot tell the
        difference: B is the most urgent of the tasks A's end would make
        ready (:meth:`_chain_candidate`); B has no locks; every provider not yet ended of any
        name B requires is A (so no other provider's dict could reach B
        before it starts); the names B requires and A does not provide are
        provided. The worker process then runs B the moment A ends with
        ``deps_ok``, B's dict (as handed out here) updated with A's; else it
        runs neither B nor what is chained behind B, and the planner, as A's
        outcome comes in, puts them back (:meth:`_chain_ended`). So a chain
        of tasks runs back to back in one worker process, the scheduling
        process off its path. B then counts as handed out (``status()``, the
        shared-dict flow: a provider added live and ending while B is
        chained reaches B only should B come back). Only while tasks are
        short (:meth:`HandOutPolicy.ahead`), and only on workers that
        declare they can (``chains()``: the process pool's).

        Chaining takes only capacity that is free, but a chained task not
        begun holds no worker: the pump does not count it against a task
        that becomes ready meanwhile (added live, or unblocked by another
        task), which goes to an idle worker at once. So at most ``capacity``
        tasks are out plus those chained and not begun, never more than
        twice ``capacity``.

        Adds the chained tasks to ``batches`` (behind what the pump handed
        out there now: one message per worker) and returns, per worker that
        got some, the ``RunTasks.after`` of its message; ``None`` if none.
        """
        if not self._policy.ahead():
            return None
        tails: dict[int, int] = {}  # worker -> the last task queued on it
        for tid, out in reversed(self._out.items()):
            tails.setdefault(out[0], tid)
        workers, ahead, behind = self._workers, self._ahead, self._behind
        chained_by: dict[int, dict[int, int]] | None = None
        for index, tail in tails.items():
            worker = workers[index]
            if not worker.alive:
                continue
            while free > 0:
                chained = self._chain_candidate(tail)
                if chained is None:
                    break
                batches.setdefault(index, []).append(self._hand_out(chained, now, worker))
                if self._events is not None:  # its TaskHandedOut waits for its provider
                    self._chained_out[chained] = self._events.pop()
                ahead[chained] = tail
                behind[tail] = chained
                if chained_by is None:
                    chained_by = {}
                chained_by.setdefault(index, {})[chained] = tail
                tail = chained
                free -= 1
            if free <= 0:
                break
        return chained_by

    def _chain_only(self, free: int) -> None:
        """Chain what may be while nothing is ready (see :meth:`_chain`)."""
        now = time.monotonic()
        batches: dict[int, list[tuple[TaskSpec, dict[str, Any]]]] = {}
        chained = self._chain(free, now, batches)
        if chained is not None:
            self._send_chained(batches, chained, now)

    def _send_chained(
        self,
        batches: dict[int, list[tuple[TaskSpec, dict[str, Any]]]],
        chained: dict[int, dict[int, int]],
        now: float,
    ) -> None:
        """The pump's sending, for batches some of which end with a chain."""
        self._handed = now
        workers = self._workers
        for index, items in batches.items():
            worker = workers[index]
            worker.actor.tell(RunTasks(tuple(items), worker.generation, chained.get(index)))

    def _chain_candidate(self, provider: int) -> int | None:
        """The task to chain behind ``provider``, if one may be.

        Only the most urgent of the tasks that ``provider``'s end would make
        ready, so that chaining never lets a task start before a more
        urgent one that became ready with it; none behind a provider whose
        locks others wait for (they would be granted first), nor behind one
        that many tasks wait for (a fan-out: those go out as they become
        ready, and looking at them all on every pump would cost).
        """
        spec = self._specs[provider]
        provides = spec.provides
        if not provides or (spec.locks and self._lock_waiting):
            return None
        graph, specs, ahead = self._graph, self._specs, self._ahead
        provided = graph.is_provided
        best, best_key = None, None
        for name in provides:
            waiting = graph.waiting_for(name)
            if len(waiting) > _CHAIN_LOOKS:
                return None
            for tid in waiting:
                if tid in ahead:
                    continue
                spec = specs[tid]
                unmet = sum(1 for req in spec.requires if req in provides and not provided(req))
                if graph.missing(tid) != unmet:
                    continue  # it waits for another task too
                key = (spec.priority, tid)
                if best_key is None or key < best_key:
                    best, best_key = tid, key
        if best is None:
            return None
        spec = specs[best]
        if spec.locks:
            return None
        pending = graph.pending_providers
        if all(
            pending(req) == 1 if req in provides else not pending(req) and provided(req)
            for req in spec.requires
        ):
            return best
        return None

    def _chain_ended(self, tid: int, outcome: Outcome) -> None:
        """Task ``tid`` ended: what was chained behind it runs, or comes back."""
        ahead, behind = self._ahead, self._behind
        before = ahead.pop(tid, None)
        if before is not None:
            # it ended still chained: it failed before it could be sent
            del behind[before]
            self._late.pop(tid, None)
            self._graph.drop_waiting(self._specs[tid])
        chained = behind.pop(tid, None)
        if chained is None:
            return
        if outcome.deps_ok:
            del ahead[chained]  # it runs: a task like any handed out
            self._late.pop(chained, None)
            handed = self._chained_out.pop(chained, None)
            if handed is not None:
                self._events.append(handed)  # type: ignore[union-attr]
            # its dict as the worker starts it, should it be handed out again
            self._out[chained][2].update(outcome.shared)
            return
        while chained is not None:  # not run, nor what is chained behind it
            self._unchain(chained)
            chained = behind.pop(chained, None)

    def _unchain(self, tid: int) -> None:
        """Chained task ``tid`` will not run where it went: put it back.

        Back to waiting on deps (skipped at the end, should its names never
        be provided), or ready when another provider met them meanwhile.
        """
        before = self._ahead.pop(tid)
        if self._behind.get(before) == tid:
            del self._behind[before]
        self._chained_out.pop(tid, None)  # it was not handed out, as observers see it
        out = self._move(tid, _WAITING_DEPS if self._graph.is_blocked(tid) else _READY)
        assert out is not None
        shared = out[2]
        late = self._late.pop(tid, None)
        if late:
            shared.update(late)
        self._pending_shared[tid] = shared

    def _maybe_end(self) -> None:
        if self._phase is not _RUNNING:
            return
        if self._out or self._granted:
            return
        if self._ready:
            return  # paused for the caller's backlog; resumes on BacklogDrained
        if not self._mailbox.all_consumed():
            return  # the caller may still add tasks; BacklogDrained comes back
        self._end(RunEnded(self._graph.blocked, len(self._held_forever)))

    # -- events of an observed run -----------------------------------------

    def _observe_end(
        self, spec: TaskSpec, outcome: Outcome, out: _Out, now: float, events: list[Any]
    ) -> None:
        """A task's start and end, as its worker measured them.

        Times not measured (a lost worker's task, a pool that does not) or
        not possible (outside hand-out .. now, another machine's clock) are
        replaced by what the planner knows: from hand-out, or the end of
        the worker's task before, until now. So one worker's tasks never
        overlap.
        """
        index, handed = out[0], out[1]
        started, ended = outcome.started, outcome.ended
        if not handed <= started <= ended <= now:
            started = max(handed, self._last_ended.get(index, handed))
            ended = max(started, now)
        self._last_ended[index] = ended
        failed = outcome.excinfo is not None
        events.append(TaskStarted(spec.func, index, started))
        events.append(TaskEnded(spec.func, index, started, ended, failed))

    def _observe_provide(self, spec: TaskSpec, events: list[Any]) -> None:
        """The edges that mattered, before ``spec``'s names are provided.

        A name not yet provided is waited for by every task requiring it
        (none of them can have started).
        """
        graph, state = self._graph, self._state
        edges: dict[int, list[Hashable]] = {}
        for name in spec.provides:
            if graph.is_provided(name):
                continue
            for tid in graph.requirers((name,)):
                if state.get(tid) == _WAITING_DEPS or tid in self._ahead:  # chained: not begun
                    edges.setdefault(tid, []).append(name)
            self._failed_provider.pop(name, None)
        for tid in sorted(edges):
            events.append(TaskUnblocked(self._specs[tid].func, spec.func, frozenset(edges[tid])))

    def _observe_locks(self, answer: LockDecisions) -> None:
        assert self._events is not None
        now = time.monotonic()
        since = self._lock_since
        for tid in answer.waiting:
            since[tid] = now
        for tid in answer.granted:
            began = since.pop(tid, None)
            if began is not None:
                spec = self._specs[tid]
                self._events.append(TaskLockWait(spec.func, spec.uses | spec.claims, began, now))

    def _observe_skips(self, ended: RunEnded) -> None:
        """A :class:`TaskSkipped` for each task of the run that did not end."""
        assert self._events is not None
        events, specs = self._events, self._specs
        for handed in self._chained_out.values():  # still chained: out, as status() says
            events.append(handed)
        self._chained_out.clear()
        left = list(self._state)
        if ended.cancelled or ended.error is not None:
            why = "the run was cancelled" if ended.cancelled else f"the run failed: {ended.error!r}"
            for tid in left:
                if self._state[tid] >= _HANDED_OUT:
                    cause = f"{why} before it ended"
                else:
                    cause = f"not run: {why}"
                events.append(TaskSkipped(specs[tid].func, cause, interrupted=True))
            self._lock_since.clear()
            return
        # providers that could not run either, by name (a skip's own cause)
        skipped_providers: dict[Hashable, Callable[..., Any]] = {}
        for tid in left:
            for name in specs[tid].provides:
                skipped_providers.setdefault(name, specs[tid].func)
        for tid in left:
            spec = specs[tid]
            if self._state[tid] == _WAITING_DEPS:
                events.append(self._deps_skip(spec, skipped_providers))
            else:
                events.append(self._locks_skip(spec))
        self._lock_since.clear()

    def _deps_skip(
        self, spec: TaskSpec, skipped_providers: dict[Hashable, Callable[..., Any]]
    ) -> TaskSkipped:
        unmet = sorted((n for n in spec.requires if not self._graph.is_provided(n)), key=repr)
        parts, culprits = [], []
        for name in unmet:
            failed = self._failed_provider.get(name)
            if failed is not None:
                culprits.append(failed[0])
                parts.append(
                    f"{name!r} (its provider {describe_task(failed[0])} failed: {failed[1]})"
                )
            elif name in skipped_providers:
                provider = skipped_providers[name]
                culprits.append(provider)
                parts.append(f"{name!r} (its provider {describe_task(provider)} could not run)")
            else:
                parts.append(f"{name!r} (no task provided it)")
        cause = "unmet requires: " + ", ".join(parts)
        return TaskSkipped(spec.func, cause, frozenset(unmet), tuple(dict.fromkeys(culprits)))

    def _locks_skip(self, spec: TaskSpec) -> TaskSkipped:
        parts, names, holders = [], [], []
        for name in sorted(spec.uses | spec.claims, key=repr):
            held = self._forfeited.get(name)
            if held is None:
                continue
            names.append(name)
            holders.append(held[0])
            parts.append(
                f"lock {name!r} was never released: {describe_task(held[0])} failed holding it "
                f"({held[1]})"
            )
        cause = "; ".join(parts) if parts else "its locks were never granted"
        return TaskSkipped(
            spec.func, cause, locks=frozenset(names), holders=tuple(dict.fromkeys(holders))
        )

    # -- introspection -----------------------------------------------------

    def _status(self) -> PlannerStatus:
        """What each task is doing now; a chained task not begun counts as
        handed out (``running``), like a task handed out ahead."""
        ready = [*self._granted, *self._ready.tids()]
        return PlannerStatus(
            running=tuple((tid, out[0]) for tid, out in self._out.items()),
            ready=tuple(ready),
            waiting_deps=tuple(t for t in self._graph.blocked_tids() if t not in self._ahead),
            waiting_locks=tuple(sorted(self._lock_waiting)),
            finished=self._finished,
            skipped=self._skipped,
        )


def _chains(actor: Any) -> bool:
    """Whether a worker actor runs tasks chained behind another (``chains()``)."""
    chains = getattr(actor, "chains", None)
    return callable(chains) and bool(chains())


def _what_raised(excinfo: ExceptionInfo | None) -> str:
    """``"ValueError: boom"``, for a skip's cause."""
    if excinfo is None:
        return "it raised"
    kind = excinfo.type.__name__ if isinstance(excinfo.type, type) else "an exception"
    return f"{kind}: {excinfo.val}" if excinfo.val is not None and str(excinfo.val) else kind
