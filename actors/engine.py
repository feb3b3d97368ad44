"""One run, wired: worker set, planner (with its lock manager), result mailbox."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pykka

from pexen.state.taskspec import TaskSpec
from pexen.state.tasktable import TaskTable
from pexen.vocab.status import HeldLock, RunningTask, RunStatus, WaitingTask

from .mailbox import ResultMailbox
from .messages import (
    AddTasks,
    BacklogDrained,
    Begin,
    Cancel,
    LockStatus,
    PlannerStatus,
    StatusQuery,
    Stop,
)
from .planner import Planner
from .workerset import MakeWorkers

__all__ = ["Engine"]

#: The most :meth:`Engine.cancel` waits for outcomes already sent to be read
#: (they are read within microseconds when they are there at all).
SETTLE_S = 0.05

_new_tuple = tuple.__new__


class Engine:
    """Starts a run at construction; :meth:`take` its results; :meth:`close` it.

    ``make_workers(table, cancelled)`` builds the pool's :class:`WorkerSet`;
    it is called before any thread of the run starts, so a process pool may
    fork there. ``table`` is the run's task table (a
    :class:`~pexen.state.tasktable.TaskTable`, made from the specs given);
    :meth:`add` grows it, :meth:`forget` drops a finished task's entry.

    With ``keep_open``, the run does not end when idle: it waits for more
    tasks until :meth:`stop`, then ends as any run does once idle. With
    ``run_table`` false, the tasks in ``table`` at the start are not run:
    they are the workers' table only, which later tasks name as their
    :attr:`~pexen.state.taskspec.TaskSpec.origin` (the standalone pool API).
    With ``forget_finished``, a task's entry is dropped as it ends, for a
    caller that cannot tell which task a result is of (a standalone pool runs
    the same callable several times at once) and so cannot :meth:`forget`.
    With ``observed``, the run's events (:mod:`pexen.vocab.events`) come out
    of :meth:`take` too, as lists, in order with the results.
    """

    def __init__(
        self,
        table: Iterable[TaskSpec],
        preset: dict[str, Any],
        make_workers: MakeWorkers,
        capacity: int,
        backlog: int,
        *,
        keep_open: bool = False,
        run_table: bool = True,
        forget_finished: bool = False,
        observed: bool = False,
    ) -> None:
        self.table = table = table if isinstance(table, TaskTable) else TaskTable(table)
        self.cancelled = threading.Event()
        self.mailbox = ResultMailbox(backlog)
        self._planner = planner = Planner(
            table, preset, capacity, self.mailbox, self.cancelled,
            keep_open=keep_open, run_table=run_table, forget_finished=forget_finished,
            observed=observed,
        )  # fmt: skip
        self.mailbox.on_drained = lambda: planner.tell(BacklogDrained())
        self._lock = threading.Lock()  # guards the table against concurrent adds
        self._closed = False
        self._workers = make_workers(table, self.cancelled)
        try:
            refs = self._workers.launch(planner, self.mailbox)
            waiter = getattr(self._workers, "waiter", None)  # optional (rule 6)
            if waiter is not None:
                self.mailbox.wait_with(waiter)
            self._workers.enforce_timeouts()
            planner.tell(Begin(tuple(refs)))
        except BaseException:
            self.close(cancel=True)
            raise

    def take(self) -> Any:
        """The next :class:`~pexen.sched.TaskRes` (or list of events, when
        observed), or the final ``RunEnded``."""
        return self.mailbox.take()

    def consumed(self) -> None:
        """The caller is done with the last result it took."""
        self.mailbox.consumed()

    def add(
        self, specs: Sequence[TaskSpec], shared: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """Add tasks to the run (their tids continue the table's).

        ``shared``: the dict each task starts with (one per spec; the run owns
        them from now on); by default each starts with a copy of the preset.
        """
        specs = tuple(specs)  # a tuple given is the message's as it is
        with self._lock:
            self.table.extend(specs)
            for spec in specs:
                if spec.timeout is not None:  # else the watchdog has nothing new to watch
                    self._workers.enforce_timeouts()
                    break
            # the named tuple built in C (its own __new__ is a Python call)
            self._planner.tell(
                _new_tuple(AddTasks, (specs, None if shared is None else tuple(shared)))
            )

    def forget(self, tid: int) -> None:
        """Drop the table's entry of a task whose result the caller took.

        The planner kept nothing of it already; with this, nothing of the
        run refers to the task any more (an open run's memory stays bounded).
        """
        self.table.forget(tid)

    def stop(self) -> None:
        """Let an open run end: it ends once idle, as any run does."""
        self._planner.tell(Stop())

    def cancel(self) -> None:
        """Dispatch nothing more; the run ends after the results already out.

        Outcomes the workers already sent are read first, for a worker set
        that can tell (``settle``, rule 7 of :mod:`actors.workerset`): a task
        that ended before the cancel gives its result.
        """
        self.cancelled.set()
        settle = getattr(self._workers, "settle", None)
        if settle is not None:
            settle(SETTLE_S)
        self._planner.tell(Cancel())

    def status(self) -> RunStatus:
        """A snapshot of the run, from the planner and the lock manager."""
        table = self.table
        try:
            planner: PlannerStatus = self._planner.ask(StatusQuery())
            locks: LockStatus = self._planner.locks.ask(StatusQuery())
        except pykka.ActorDeadError:
            return RunStatus(active=False)  # the engine failed: the run is ending
        # A task may end, and be forgotten, between the planner's answer and
        # here: it is left out (get() is None).
        get = table.get
        running = []
        for tid, worker in planner.running:
            spec = get(tid)
            if spec is None:
                continue
            current = self._workers.current(worker)
            started = current[1] if current is not None and current[0] == tid else None
            running.append(RunningTask(spec.func, worker, started))

        def specs(tids: Iterable[int]) -> list[TaskSpec]:
            return [s for s in map(get, tids) if s is not None]

        return RunStatus(
            active=True,
            running=tuple(running),
            ready=tuple(s.func for s in specs(planner.ready)),
            waiting_deps=tuple(s.func for s in specs(planner.waiting_deps)),
            waiting_locks=tuple(
                WaitingTask(s.func, s.uses, s.claims) for s in specs(planner.waiting_locks)
            ),
            held_locks=tuple(
                HeldLock(name, mode, tuple(s.func for s in specs(tids)))
                for name, mode, tids in locks.held
            ),
            finished=planner.finished,
            skipped=planner.skipped,
        )

    def alive(self) -> bool:
        """Whether any worker (thread or process) of the run is still alive."""
        return self._workers.alive()

    def close(self, cancel: bool) -> None:
        """Stop every actor and worker of the run; with ``cancel``, abandon it.

        Returns once no thread or process of the run is left, except a thread
        worker still inside a task, which cannot be interrupted.
        """
        if self._closed:
            return
        self._closed = True
        if cancel:
            self.cancelled.set()
            self._planner.tell(Cancel())
        self._workers.close(kill=cancel)
        self._planner.stop()
