"""Plain scheduling state: no threads, no I/O, one concern per class.

Each class is owned by exactly one actor (see the ``actors`` package), which
makes it a thin shell around it; the classes are tested directly.

- :mod:`.taskspec`: a task compiled for running (:class:`TaskSpec`) and the
  per-task validation of its metadata;
- :mod:`.tasktable`: a run's task table by tid, whose entries a served task's
  result takes along (:class:`TaskTable`);
- :mod:`.depcheck`: the static check that every ``requires`` can be met (and,
  while a run stays open, only that the tasks form no cycle);
- :mod:`.depgraph`: which tasks are ready as names get provided, and whom a
  finished task's shared state flows to (owned by the planner);
- :mod:`.readyqueue`: ready tasks by priority, then insertion order (planner);
- :mod:`.handout`: whether to hand a task to a worker still busy (planner);
- :mod:`.workers`: each worker's load, generation and life (planner);
- :mod:`.locktable`: fair read-write locks, all of a task's at once (lock
  manager).
"""
