"""The ``func_meta`` decorator, with per-task keyword arguments.

``kwargs`` in the metadata are passed to the task as keyword arguments when it
runs. They are set by the user up front, unlike the shared state, which is
filled in while the tasks run (see shared_state.py).

Usage: python examples/decorator_kwargs.py [thread|process]
"""

import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


@sched.meta.func_meta(priority=10, kwargs={"version": "Last"})
def greet_ver(**kwargs):
    return f"Hello {kwargs['version']} World!"


# the decorator returns the same function, with the metadata attached to it
print("priority:", sched.meta.get_priority(greet_ver))
print("kwargs:", sched.meta.get_kwargs(greet_ver))

s = sched.Sched([greet_ver])
for result in s.run(Pool(workers=2)):
    print(result)
