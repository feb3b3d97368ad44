"""pexen's engine: an actor system on pykka (internal; the API is ``pexen.sched``).

Data flow of one run of :meth:`pexen.sched.Sched.run`::

      caller's thread               planner thread                   (passive, in the
    +-----------------+  Begin, AddTasks,  +---------------+          planner's thread)
    |  Sched.run()    |  Cancel, Backlog-  |    Planner    |  AcquireLocks  +-------------+
    |  (facade)       |  Drained, status   |               |  ReleaseLocks  | LockManager |
    |                 | -----------------> |  DepGraph     |  ForfeitLocks  |  LockTable  |
    |                 |                    |  ReadyQueue   | -------------> |             |
    |                 |   TaskRes ...,     |  shared dicts | <------------- |             |
    |                 | <== RunEnded ===== |               |  LockDecisions +-------------+
    +-----------------+   ResultMailbox    +---------------+
                         (bounded backlog)     |        ^
                                      RunTasks |        | TaskDone, WorkerLost
                                               v        |
       thread pool:   ThreadWorker actors, one thread each, run the tasks
       process pool:  ProcessWorker (passive) --socket--> worker process  --+
                      reader thread (selector) <--socket-- outcome -----------+
                      watchdog thread: timeouts; zygote: forks workers, reaps the dead

- Every message is an immutable dataclass in :mod:`actors.messages`; a
  ``shared`` dict or return value travels with its message and belongs to the
  receiver from then on.
- Each actor is a thin shell around plain state of :mod:`pexen.state`: the
  planner owns the dependency graph, the ready queue and the shared dicts of
  tasks not yet handed out; the lock manager owns the lock table.
- Provides and shared-state merges happen in the planner as it handles each
  :class:`~actors.messages.TaskDone`; lock grants come back as
  :class:`~actors.messages.LockDecisions`.
- Actors whose every message is short and never blocks (the lock manager, a
  process worker) are *passive* (:class:`~actors.base.PassiveActor`): same
  protocol, handled in the sender's thread under their own lock. On this kind
  of machine a thread hop costs tens of microseconds; the planner and the
  thread workers keep threads of their own.
- A pool is anything providing a :class:`~actors.workerset.WorkerSet`: worker
  actors that take ``RunTasks`` and report ``TaskDone``, and a supervisor
  that reports a dead or overdue worker as ``WorkerLost`` and replaces it.
  A dask pool will be one more.

Modules: ``messages`` (the protocol), ``base`` (actor kinds), ``planner``,
``lockmanager``, ``threadworker``, ``procworker``, ``workerset`` (a pool's
running workers and their supervision), ``zygote`` (fork server and the
worker-process loop), ``slots`` (what each worker runs now), ``watchdog``
(timeouts), ``wire`` (outcomes across processes), ``taskrun`` (calling one
task), ``mailbox`` (results to the facade), ``engine`` (one run, wired).
"""
