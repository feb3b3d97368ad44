"""pexen's engine: an actor system on pykka (internal; the API is ``pexen.sched``).

Data flow of one run of :meth:`pexen.sched.Sched.run` (a standalone pool of
:mod:`pexen.sched.pool` drives an open run the same way)::

      caller's thread               (passive: runs in the               (passive, in the
    +-----------------+  Begin, AddTasks,  threads telling it)             planner's
    |  Sched.run()    |  Cancel, Stop,     +---------------+                 thread)
    |  (facade)       |  BacklogDrained,   |    Planner    |  AcquireLocks  +-------------+
    |                 | -status (ask)----> |               |  ReleaseLocks  | LockManager |
    |  Engine         |                    |  DepGraph     |  ForfeitLocks  |  LockTable  |
    |  (one run,      |   TaskRes ...,     |  ReadyQueue   | ---- ask ----> |             |
    |   wired)        | <== RunEnded ===== |  shared dicts | <-- answer --- |             |
    +-----------------+   ResultMailbox    +---------------+  LockDecisions +-------------+
          |               (bounded backlog;     |        ^
          |                every actor's        |        |
          |                failure_sink; event  |        |
          |                lists when observed) |        |
    ======|=========== pool protocol: actors.workerset ==|========================
          | make_workers(table, cancelled)     RunTasks |        | TaskDone,
          | launch(planner, mailbox)           (tell)   |        | WorkerLost (tell)
          | enforce_timeouts(), current(i)              v        |
          | close(kill)                +------------------------------------------+
          +--------------------------> | WorkerSet: WorkerActor 0..n-1, supervisor |
                                       +-------------------------------------------+
       thread pool (threadpool):  ThreadWorker actors, one thread each: run a task,
                      then tell the planner (in this thread) and take the next
       process pool (processpool):
                      ProcessWorker (passive) --socket--> worker process ---+
                      epoll of the sockets    <--socket-- outcome ----------+
                        read by the caller's thread while it waits in take()
                        (ResultMailbox -> Waiter, rule 6), else by the reader
                        thread; either tells the planner, which runs right
                        there, and posts to the mailbox in that thread
       both:          watchdog thread: timeouts (enforce_timeouts starts it);
                      slots: what each worker runs now
       zygote:        forks the worker processes and reaps them; it and every
                      worker are subreapers (proctree), so no process a task
                      starts outlives it, and all die with the scheduler

- Every message is immutable (a frozen dataclass or, for the three sent
  per task, a named tuple) in :mod:`actors.messages`; a
  ``shared`` dict or return value travels with its message and belongs to the
  receiver from then on.
- Each actor is a thin shell around plain state of :mod:`pexen.state`: the
  planner owns the dependency graph, the ready queue and the shared dicts of
  tasks not yet handed out; the lock manager owns the lock table.
- Provides and shared-state merges happen in the planner as it handles each
  :class:`~actors.messages.TaskDone`; lock grants are the lock manager's
  answers (:class:`~actors.messages.LockDecisions`) to the planner's asks.
- Actors whose every message is short and never blocks (the planner, the
  lock manager, a process worker) are *passive*
  (:class:`~actors.base.PassiveActor`): same protocol, one message at a time
  in order, but handled in the sender's thread, or by the thread already
  handling one. On this kind of machine a thread hop costs tens of
  microseconds, more than the planner's work for a task; only thread workers
  (which run the tasks) have threads of their own.
- A pool is anything providing a :class:`~actors.workerset.WorkerSet`, the
  protocol on one page in :mod:`actors.workerset`: worker actors that take
  ``RunTasks`` and report ``TaskDone``, and a supervisor that reports a dead
  or overdue worker as ``WorkerLost`` and replaces it; the engine calls
  ``enforce_timeouts()`` as the table grows. The thread and process pools are
  implementations in this process, and the dask pool (``daskpool``) runs
  tasks on a dask.distributed cluster.
- An actor whose handler raises is dead: it ends the run through its
  ``failure_sink`` (the result mailbox), which the facade re-raises. Asking
  a dead actor raises :class:`pykka.ActorDeadError`, a passive actor's
  ``ask`` as a pykka actor's; telling a dead passive actor drops the message
  (a dead pykka actor's ref raises there too).
- A run ends when nothing is out, nothing can start and the caller has
  taken every result; an *open* run (``Engine(keep_open=True)``: the
  standalone pools) stays open while idle until ``Stop``, then ends the
  same way. The planner's ``Phase`` is the one stop state.
- "Slots" are only what each worker runs now (:mod:`actors.slots`,
  ``ThreadSlots``): read for timeouts, status and a dead worker's culprit.
  How many tasks may be out at once is the planner's ``capacity``
  (``workers + spare``).

Modules: ``messages`` (the protocol; ``outcome``, its one message a worker
process builds, apart), ``base`` (actor kinds), ``planner``,
``lockmanager``, ``workerset`` (the pool protocol), ``threadpool``,
``processpool`` and ``daskpool`` (its implementations; ``daskcluster`` starts
a private cluster, ``daskwire`` is what runs on a cluster worker),
``threadworker``, ``procworker``,
``sources`` (the sockets' reader: the caller's thread or the reader
thread), ``zygote`` (fork server and the
worker-process loop), ``proctree`` (keeping and killing process trees),
``slots`` (what each worker runs now), ``watchdog`` (timeouts), ``wire``
(outcomes and framing across processes), ``taskrun`` (calling one task),
``mailbox`` (results to the facade), ``engine`` (one run, wired),
``tablepickle`` (a task table for an exec'd zygote).
"""
