"""pexen's engine: an actor system on pykka (internal; the API is ``pexen.sched``).

Data flow of one run of :meth:`pexen.sched.Sched.run`::

      caller's thread               (passive: runs in the               (passive, in the
    +-----------------+  Begin, AddTasks,  threads telling it)             planner's
    |  Sched.run()    |  Cancel, Backlog-  +---------------+                 thread)
    |  (facade)       |  Drained, status   |    Planner    |  AcquireLocks  +-------------+
    |                 | -----------------> |               |  ReleaseLocks  | LockManager |
    |                 |                    |  DepGraph     |  ForfeitLocks  |  LockTable  |
    |                 |   TaskRes ...,     |  ReadyQueue   | ---- ask ----> |             |
    |                 | <== RunEnded ===== |  shared dicts | <-- answer --- |             |
    +-----------------+   ResultMailbox    +---------------+  LockDecisions +-------------+
                         (bounded backlog)     |        ^
                                      RunTasks |        | TaskDone, WorkerLost
                                               v        |
       thread pool:   ThreadWorker actors, one thread each: run a task, then
                      tell the planner (in this thread) and take the next
       process pool:  ProcessWorker (passive) --socket--> worker process  --+
                      reader thread (selector) <--socket-- outcome -----------+
                        (tells the planner, which runs right there)
                      watchdog thread: timeouts; zygote: forks workers, reaps the dead

- Every message is an immutable dataclass in :mod:`actors.messages`; a
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
- A pool is anything providing a :class:`~actors.workerset.WorkerSet`: worker
  actors that take ``RunTasks`` and report ``TaskDone``, and a supervisor
  that reports a dead or overdue worker as ``WorkerLost`` and replaces it.
  A dask pool will be one more.

Modules: ``messages`` (the protocol), ``base`` (actor kinds), ``planner``,
``lockmanager``, ``threadworker``, ``procworker``, ``workerset`` (a pool's
running workers and their supervision), ``sources`` (the reader thread),
``zygote`` (fork server and the worker-process loop), ``slots`` (what each
worker runs now), ``watchdog`` (timeouts), ``wire`` (outcomes and framing
across processes), ``taskrun`` (calling one task), ``mailbox`` (results to
the facade), ``engine`` (one run, wired).
"""
