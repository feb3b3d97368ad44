"""The pool protocol: what a pool implements so that the engine runs tasks on it.

This page is the whole contract. The thread pool (:mod:`actors.threadpool`)
and the process pool (:mod:`actors.processpool`) implement it, and so does
the dask pool (:mod:`actors.daskpool`), written from this page.

Parties (the drawing in :mod:`actors` shows where they sit; a standalone
pool of :mod:`pexen.sched.pool` drives a set the same way, with a queue as
reporter and no failure sink)::

    Engine ---make_workers(table, cancelled)---> WorkerSet      (the pool's, one per run)
    Engine ---launch(planner, mailbox)---------> WorkerSet ---> [WorkerActor 0..n-1]
    Planner ---tell(RunTasks)------------------> WorkerActor i  (runs them, in order)
    WorkerActor i / WorkerSet ---tell(TaskDone)--> Reporter (the planner)
    WorkerSet ---tell(WorkerLost)----------------> Reporter (a worker died or timed out)
    an actor whose handler raised ---end(RunEnded)--> FailureSink (the result mailbox)

Messages crossing the boundary (immutable, of :mod:`actors.messages`)::

    RunTasks(items, generation, after)
                                    planner -> worker actor: ``items`` is
                                    ((TaskSpec, shared dict), ...), to run in order;
                                    ``after`` only to a worker that ``chains()``
    TaskDone(worker, outcomes)      worker (or its set) -> reporter: (Outcome, ...)
                                    of tasks that ended, in hand-out order
    Outcome(tid, ret, shared, excinfo, deps_ok, locks_ok, started, ended)
                                    how one task ended: what run_task returns
                                    (started/ended: time.monotonic() where it
                                    ran, 0.0 if unknown; only observers read them)
    WorkerLost(worker, generation, culprit, error, replacement)
                                    worker set -> reporter: a worker was lost, with
                                    the task it ran; who took its index
    RunEnded(0, 0, error)           an actor whose handler raised -> failure sink:
                                    the run ends with ``error``

A message's payload (a shared dict, a return value) belongs to its receiver
once sent. Tasks are named by ``tid``, their key in the run's task table
(``table[tid]`` is the :class:`~pexen.state.taskspec.TaskSpec`; tids grow as
tasks are added, and an open run drops the entries of tasks that ended, so
read a spec when its task is handed out, not after it ended); workers by
their index ``0..n-1`` in the list :meth:`WorkerSet.launch` returns, fixed for
the run (``TaskDone.worker`` and ``WorkerLost.worker`` are that index).

The rules:

1. **Order.** The planner hands out at most ``capacity`` tasks at once
   (``workers + spare``), so a busy worker may get more: they wait in its
   queue. A worker runs the items of its ``RunTasks`` in order, messages in
   the order told, and reports each task's outcome once, as it ends, in
   hand-out order (one ``TaskDone`` may carry several; a chained task that
   does not run is not reported, see ``chains()`` below). A task that fails
   before it can start (it cannot be sent to its worker) may be reported at
   once, ahead of those before it.
2. **Generations.** Every index starts at generation 0; each replacement is
   the next one (1, 2, ...). The planner stamps each ``RunTasks`` with the
   generation it knows of for that index; a worker drops a ``RunTasks`` of
   another generation than its own (its tasks were handed out again, rule 3).
3. **Loss.** When a worker dies, or its task runs past ``TaskSpec.timeout``,
   the set tells ``WorkerLost`` once: ``culprit`` is the tid the worker was
   running (``None``: it was idle), which fails with ``error``
   (:class:`~pexen.vocab.errors.WorkerLostError`,
   :class:`~pexen.vocab.errors.TaskTimeoutError`). Every other task handed to
   that index and not yet reported *never started and never will*: the
   planner hands it out again (still holding its locks). So, in this order:
   see that the lost worker starts nothing more; tell whatever outcomes it
   sent before; have the replacement take ``RunTasks`` of the new
   ``generation``; then tell ``WorkerLost``. ``replacement`` is the new actor
   when the replacement is one (the planner tells it from then on), ``None``
   when the same actor now drives a new worker. ``generation=None``: it
   could not be replaced; the index gets nothing more, and once every index
   is lost the run ends with ``error``. A task is reported in a ``TaskDone``
   or named a culprit; should both happen (it ended just as it timed out),
   the planner takes whichever comes first and ignores the other.
4. **Cancel and close.** ``cancelled`` (given to ``make_workers``) is set
   when the run is cancelled, and ``close(kill=True)`` follows: a pool
   should start no task from then on (the thread pool drops those waiting in
   a queue; the process pool's die with their process at close), and need
   not report those it drops. ``close(kill=False)`` stops the
   workers once the tasks handed out have ended (at the end of a run there
   are none). ``close(kill=True)`` abandons them: the tasks not begun are
   dropped; a running one is killed with its process, or, in a thread
   (which cannot be killed), waited for. What is reported while closing is
   ignored (the run has ended); after ``close`` returns the set tells the
   reporter nothing more.
5. **Threads.** The planner is a passive actor (:class:`~actors.base.PassiveActor`):
   telling it runs it right there, in the teller's thread, or queues the
   message for the thread already in it. So: tell the reporter from any
   thread, but never while holding a lock that a worker actor's ``tell`` or
   a method of the set takes; a worker actor's ``tell`` runs inside the
   planner, in whichever thread runs it, and must return at once, never
   block and never raise.

6. **Waiting in the caller's thread (optional).** A set whose events can be
   waited for from any thread (the process pool's sockets) may give the run
   a :class:`Waiter` as its ``waiter`` attribute (set by :meth:`WorkerSet.launch`;
   the engine hands it to the result mailbox). While the mailbox has nothing
   for the caller, it waits through ``waiter.wait(ready, timeout)``, and the
   set handles its events (tells ``TaskDone``, so runs the planner) right
   there, in the caller's thread, until ``ready()``: a result that arrives
   then needs no thread hand-off. The set's own thread handles them while
   no caller waits (from a few milliseconds after the caller left: so that
   scheduling goes on while the caller handles a result); a caller coming
   back meanwhile gets ``False`` from ``wait`` and blocks in the mailbox's
   queue until that thread posts there, or nudges (gives the lead back). A
   post from another thread while ``waiter.polling`` wakes the caller
   (``waiter.wake()``). A ``BaseException`` other than an ``Exception``
   (Ctrl-C) escaping an event handler in the caller's thread ends the run
   (``fail``: an outcome may have been half read) and goes on up that
   thread. The thread and dask pools have none: the mailbox blocks in its
   queue.

7. **Settling before a cancel (optional).** A set whose workers may have
   sent outcomes not read yet (the process pool's sockets) may have
   ``settle(timeout)``: called by the engine's cancel, from any thread,
   after ``cancelled`` is set and before the planner gets ``Cancel``, it
   returns once what the workers already sent has been read and told (or
   after ``timeout`` seconds). Then a task that ended before the cancel
   gives its result, also one whose chained successor (``chains()``) has
   started. Sets whose workers tell the planner themselves (thread, dask)
   need none.

Writing a pool (the checklist):

- A factory ``make_workers(table, cancelled) -> WorkerSet`` (:data:`MakeWorkers`;
  the facade's pool object provides it as ``_worker_set``). It runs before any
  thread of the run: fork there, if at all. Read ``table``, never write it;
  it grows during the run (:meth:`WorkerSet.enforce_timeouts` tells when
  the growth brings a timeout), and the tasks added must run too (a process
  pool sends their spec along).
- ``launch``: start ``n >= 1`` workers, return their actors in index order,
  keep ``report_to``; set each actor's ``failure_sink`` (pexen's actor kinds
  in :mod:`actors.base` end the run through it when a handler raises).
- A worker actor: ``tell(RunTasks)`` queues the items (rule 2 first); a
  worker runs each with :func:`actors.taskrun.run_task` (in another process:
  run it there and bring the :class:`Outcome` back, :mod:`actors.wire`) and
  tells ``TaskDone(index, (outcome,))``; ``stop()`` ends it.
- Supervision: a dead worker or a task over its timeout is rule 3
  (:class:`actors.watchdog.Watchdog` finds the latter; its
  :func:`~actors.watchdog.timeout_error` is the error). Keep what each worker
  runs now (:mod:`actors.slots`) for :meth:`WorkerSet.current`, and for the
  culprit.
- ``close``, ``alive``: rule 4.
- Optionally ``hold() -> bool`` on every worker actor: for tiny tasks the
  planner then holds a task (it stays ready) rather than wake an idle worker
  that says it will come and look for it. Such a worker must tell
  ``TaskDone(index, ())`` within a few milliseconds while idle, and is given
  a held task once nothing went out for 2 ms (the thread pool's
  :class:`~actors.threadworker.IdleInbox`). Without it, tasks go out as
  they become ready.
- Optionally ``chains() -> bool`` on every worker actor (the process
  pool's): the planner may then hand out a task still waiting on deps right
  behind the one task it can wait for, queued last on that worker
  (``RunTasks.after``: tid -> that task's tid, always the item before it on
  the worker). The worker runs it only if that one's outcome says
  ``deps_ok``, with its shared dict updated from that outcome's dict (as
  reported); else it runs neither it nor what is chained behind it, and
  reports nothing for them: the planner knows from that outcome, and puts
  them back. Its slot says it runs from when it really begins (timeouts,
  culprits: rule 3). Without it, a task goes out once its deps are met.
- Optionally a ``waiter`` (rule 6): ``close`` stops it, also while a caller
  waits in it (that wait returns, and later ones return ``False``).
- Check it: mypy must accept your set where a :class:`WorkerSet` is expected,
  and ``tests/unit/test_pool_protocol.py`` shows a run through
  :class:`actors.engine.Engine` with a pool written from this page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from pexen.state.taskspec import TaskSpec

from .messages import Outcome, RunEnded, RunTasks, TaskDone, WorkerLost

__all__ = [
    "FailureSink",
    "MakeWorkers",
    "Outcome",
    "ProcessWorkerSet",
    "Reporter",
    "RunTasks",
    "TaskDone",
    "ThreadWorkerSet",
    "Waiter",
    "WorkerActor",
    "WorkerLost",
    "WorkerSet",
]


@runtime_checkable
class Reporter(Protocol):
    """Where workers report: the run's planner (in a standalone pool, a queue)."""

    def tell(self, message: TaskDone | WorkerLost) -> None:
        """Take ``message``; may run the planner right there (rule 5)."""
        ...


@runtime_checkable
class FailureSink(Protocol):
    """Where an actor whose handler raised ends the run: the result mailbox."""

    def end(self, ended: RunEnded) -> None:
        """End the run with ``ended`` (``RunEnded(0, 0, exc)``); never blocks."""
        ...


@runtime_checkable
class WorkerActor(Protocol):
    """One worker, as the planner sees it: takes :class:`RunTasks`."""

    def tell(self, message: RunTasks) -> None:
        """Queue ``message``'s tasks; returns at once, never raises (rule 5).

        Called by the planner, from whichever thread runs it. A message of
        another generation than the worker's is dropped (rule 2).
        """
        ...

    def stop(self) -> object:
        """Take no more messages (called by the worker set, at close)."""
        ...


@runtime_checkable
class WorkerSet(Protocol):
    """The workers of one run of a pool, and their supervisor.

    Built by the pool's :data:`MakeWorkers`; driven by the
    :class:`~actors.engine.Engine` of the run (or by a standalone pool).
    """

    def launch(self, report_to: Reporter, failure_sink: FailureSink | None) -> list[WorkerActor]:
        """Start the workers; return their actors, worker ``i`` at index ``i``.

        Called once, by the engine in the caller's thread, right after the set
        was built and before the planner knows the workers. Workers and set
        report to ``report_to`` from then on (rules 1-3), and give
        ``failure_sink`` to their actors (``None``: a failure is only logged).
        """
        ...

    def enforce_timeouts(self) -> None:
        """Enforce ``TaskSpec.timeout`` of the tasks now in the table (rule 3).

        Called by the engine in the caller's thread: after :meth:`launch`,
        and after each growth of the table that brings a task with a timeout,
        before the planner learns of the new tasks. Looks at every entry added
        since it last looked; never blocks.
        """
        ...

    def current(self, index: int) -> tuple[int, float] | None:
        """``(tid, started)`` of the task worker ``index`` runs now, or ``None``.

        ``started`` is ``time.monotonic()`` when it began. Called by the
        engine's ``status()``, from any thread, at any time while the set is
        open: read without blocking.
        """
        ...

    def close(self, kill: bool) -> None:
        """Stop the workers; with ``kill``, abandon the tasks they have (rule 4).

        Called once by the engine in the caller's thread, when the run ends
        (``kill`` when cancelled, failed or broken off), also when
        :meth:`launch` raised. Returns once the workers'
        threads and processes are gone, except a thread that is still
        inside an abandoned task.
        """
        ...

    def alive(self) -> bool:
        """Whether any worker (thread or process) is still alive; from any thread."""
        ...


@runtime_checkable
class Waiter(Protocol):
    """Optional (rule 6): how the result mailbox waits in the caller's thread.

    A set may have one as its ``waiter`` attribute (from :meth:`WorkerSet.launch`
    on; ``None`` or absent: the mailbox blocks in its queue, as for the
    thread and dask pools). The engine attaches the run's mailbox to it.
    """

    #: True while the caller's thread sleeps in :meth:`wait` (read by the
    #: mailbox at each post: one from another thread must :meth:`wake` it)
    polling: bool

    def attach(self, nudge: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        """The mailbox waits through :meth:`wait` from now on.

        ``nudge()`` puts a token in the mailbox's queue that sends a caller
        blocked there back to :meth:`wait`; ``fail(exc)`` ends the run.
        """
        ...

    def wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """In the caller's thread, the mailbox empty: handle the set's events
        here until ``ready()`` (the mailbox has something) or ``timeout``.

        ``True`` when done so (or the set is closing); ``False`` at once when
        another thread of the set handles them now: the mailbox then blocks
        in its queue, where that thread posts, or nudges once the caller may
        wait here again. Events that come while no caller waits are the
        set's own thread's to handle, within milliseconds: they must not
        wait for the caller's return.
        """
        ...

    def wake(self) -> None:
        """Have :meth:`wait` look at ``ready()`` again; from any thread."""
        ...


#: The pool's factory of a run's worker set: ``make_workers(table, cancelled)``.
MakeWorkers = Callable[[Sequence[TaskSpec], threading.Event], WorkerSet]


# The implementations live in modules of their own; imported here so that
# ``from actors.workerset import ThreadWorkerSet`` keeps working.
from .processpool import ProcessWorkerSet  # noqa: E402
from .threadpool import ThreadWorkerSet  # noqa: E402
