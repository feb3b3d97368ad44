"""Priorities: three ways of attaching metadata to a task.

Among tasks that are ready to run, the one with the lowest ``priority`` value
starts first (the default is 0). Here each greeting gets a random priority of
0 or 10, so the order of the results changes from run to run.

Usage: python examples/priorities.py [thread|process]
"""

import sys
from random import choice

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def greet1():
    return "Hello First World!"


def greet2():
    return "Hello Second World!"


def greet3():
    return "Hello Third World!"


# 1. build a SchedMeta with its fields as keyword arguments, then attach it
m1 = sched.meta.SchedMeta(priority=choice([0, 10]))
sched.meta.assign_meta(greet1, m1)

# 2. build an empty SchedMeta, set its fields as attributes, then attach it
m2 = sched.meta.SchedMeta()
m2.priority = choice([0, 10])
sched.meta.assign_meta(greet2, m2)

# 3. set fields directly on the task (creating its metadata if needed)
sched.meta.assign_val(greet3, priority=choice([0, 10]))

s = sched.Sched([greet1, greet2, greet3])
for result in s.run(Pool(workers=2)):
    print(result)
