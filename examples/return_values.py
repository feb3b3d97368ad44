"""Return values: whatever a task returns is handed back untouched.

The scheduler makes no use of ``TaskRes.ret``; it is passed to the caller for
further processing. With ProcessWorkerPool the value must be picklable.

Usage: python examples/return_values.py [thread|process]
"""

import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def greet():
    return {"set": {1, 2, 3}, "list": [1, 2, 3]}


s = sched.Sched([greet])
print(list(s.run(Pool(workers=2))))
