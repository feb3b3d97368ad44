"""pexen's engine: an actor system on pykka (internal; the API is ``pexen.sched``).

Data flow of one run of :meth:`pexen.sched.Sched.run`::

                 Begin, Cancel, BacklogDrained
    +---------+ -------------------------------> +-----------+  AcquireLocks,  +-------------+
    |  Sched  |                                  |  Planner  |  ReleaseLocks    |    Lock     |
    |  .run() |       TaskRes ..., RunEnded      |           | ---------------> |   Manager   |
    | (facade)| <======= ResultMailbox ========= | DepGraph  | <--------------- |  LockTable  |
    +---------+   (bounded backlog: the planner  | ReadyQueue|  LockDecisions   +-------------+
                   pauses dispatch while full)   +-----------+
                                                   |       ^
                                          RunTasks |       | TaskDone, WorkerLost
                                                   v       |
                          +-------------------------------------------------------+
                          | worker actors, one per worker (a pool's WorkerSet)     |
                          |  ThreadWorker: runs the task in its own thread         |
                          |  ProcessWorker: writes it to its worker process;       |
                          |    ResultReader (a thread) reads outcomes back         |
                          +-------------------------------------------------------+
                                        |  fork (before any actor thread starts)
                                        v
                          Zygote (single-threaded fork server) --fork--> worker processes

- Every message is an immutable dataclass in :mod:`actors.messages`; a
  ``shared`` dict or return value travels with its message and belongs to the
  receiver from then on.
- Each actor is a thin shell around plain state of :mod:`pexen.state`: the
  planner owns the dependency graph, the ready queue and the shared dicts of
  tasks not yet started; the lock manager owns the lock table.
- Provides and shared-state merges happen in the planner as it handles each
  :class:`~actors.messages.TaskDone`; lock grants come back as
  :class:`~actors.messages.LockDecisions`.
- A pool is anything providing a :class:`~actors.workerset.WorkerSet`: worker
  actors that take ``RunTasks`` and report ``TaskDone``.

Modules: ``messages`` (the protocol), ``planner``, ``lockmanager``,
``threadworker``, ``procworker`` (with the result reader), ``zygote`` (fork
server and worker-process loop), ``wire`` (outcomes across processes),
``taskrun`` (calling one task), ``mailbox`` (results to the facade),
``workerset`` (a pool's running workers), ``engine`` (one run, wired).
"""
