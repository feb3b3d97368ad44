"""Run reports: objects fed with a run's events, and the task graph.

Pass them to a run as observers; each writes its file as the run ends
(also a cancelled or interrupted one)::

    from pexen import sched
    from pexen.reports import JUnitReport, TraceReport, write_graph

    s = sched.Sched(tasks)
    write_graph(tasks, "tasks.dot")
    reports = [JUnitReport("results.xml"), TraceReport("trace.json")]
    for res in s.run(sched.pool.ProcessWorkerPool(4), observers=reports):
        ...

- :class:`JUnitReport`: JUnit XML, a test case per task;
- :class:`TraceReport`: Chrome trace-event JSON for Perfetto, a track per
  worker, a slice per task, flow arrows along dependencies, lock waits;
- :func:`graph_dot`, :func:`graph_mermaid`, :func:`write_graph`: the task
  graph (dependencies, lock conflicts) without running it;
- :func:`task_name`: how reports name a task;
- :class:`RunObserver` and the events (from :mod:`pexen.vocab.events`) to
  write your own. The live display of the ``pexen`` command is
  ``pexen.reports.live.LiveDisplay``.
"""

from pexen.vocab.events import (
    RunFinished,
    RunObserver,
    RunStarted,
    TaskEnded,
    TaskEvent,
    TaskHandedOut,
    TaskLockWait,
    TasksAdded,
    TaskSkipped,
    TaskStarted,
    TaskUnblocked,
)

from .graph import graph_dot, graph_mermaid, write_graph
from .junit import JUnitReport
from .naming import junit_names, task_name
from .trace import TraceReport

__all__ = [
    "JUnitReport",
    "RunFinished",
    "RunObserver",
    "RunStarted",
    "TaskEnded",
    "TaskEvent",
    "TaskHandedOut",
    "TaskLockWait",
    "TaskSkipped",
    "TaskStarted",
    "TaskUnblocked",
    "TasksAdded",
    "TraceReport",
    "graph_dot",
    "graph_mermaid",
    "junit_names",
    "task_name",
    "write_graph",
]
