"""The vocabulary every layer of pexen shares: metadata, results, errors, status.

The bottom layer: these modules import nothing of pexen but :mod:`pexen.util`,
so the facade (:mod:`pexen.sched`), the engine (:mod:`actors`) and the plain
scheduling state (:mod:`pexen.state`) can all use them. Users import them from
their public paths in :mod:`pexen.sched`.

- :mod:`.meta`: task metadata (:class:`SchedMeta`), one validator per field;
- :mod:`.results`: :class:`TaskRes`, :class:`ExceptionInfo`;
- :mod:`.errors`: the scheduler's errors and the controlled failure of a task;
- :mod:`.status`: a snapshot of a run (:class:`RunStatus`);
- :mod:`.events`: a run's events and :class:`RunObserver`, the base of
  anything that watches a run (the reports of :mod:`pexen.reports`).
"""
