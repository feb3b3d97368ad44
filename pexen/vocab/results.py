"""The results of tasks, as the scheduler yields them.

Vocabulary: imports nothing of pexen, so that every layer can use it. The
classes are presented as ``pexen.sched.common`` (their import path since the
first release), which is where reprs and pickles name them.
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ["ExceptionInfo", "TaskRes"]

TaskRes = namedtuple(
    "TaskRes",
    ["task", "shared", "ret", "excinfo"],
    defaults=({}, None, None),
    module="pexen.sched.common",
)
TaskRes.__doc__ = """The outcome of one task, yielded by :meth:`Sched.run` as it finishes.

``task`` is the callable as it was added, ``shared`` its shared dict as it was
when the task ended, ``ret`` its return value (``None`` when it raised) and
``excinfo`` an :class:`ExceptionInfo` when it raised, else ``None``.
"""

ExceptionInfo = namedtuple(
    "ExceptionInfo", ["type", "val", "tb"], defaults=(None, None, None), module="pexen.sched.common"
)
ExceptionInfo.__doc__ = """``sys.exc_info()`` of a failed task, as named fields.

Any field that could not cross back from a worker process is ``None``.
"""
