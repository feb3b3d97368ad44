"""Exceptions: a task that raises gets ``TaskRes.excinfo`` filled in.

``excinfo`` is a ``pexen.sched.ExceptionInfo`` namedtuple with the verbatim
``sys.exc_info()`` of the error in named fields (type, val, tb), so the usual
tools work on it, also when the task ran in a worker process.

Usage: python examples/exceptions.py [thread|process]
"""

import sys
import traceback

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def greet_exc():
    test = nonexistent  # noqa: F821, F841
    return "Hello World!"


s = sched.Sched([greet_exc])
results = list(s.run(Pool(workers=2)))
print(results)

# the traceback of the failed task, printed to stderr as Python would
for result in results:
    if result.excinfo is not None:
        traceback.print_exception(*result.excinfo)
