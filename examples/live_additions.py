"""Adding tasks while the run goes on: a supervisor.

The run starts with a single task, discover, which finds the hosts to look
after and provides 'inventory'. When its result arrives, the loop body adds
one check task per discovered host (``Sched.add_tasks``); each requires
'inventory', which the run already provided, so they are ready at once, and
gets its host through ``kwargs``. Meanwhile an operator thread adds one more
task, audit_log, from outside the loop (the loop body waits until it has,
only to keep the output in a fixed order). Everything runs in this same run:
``run()`` ends only once the added tasks are done too.

On the process pool, the added tasks were not in the worker processes'
memory when they were forked: they travel there with cloudpickle (closures,
as here, included).

Expected (the checks in any order):

    discover         ok  found 4 hosts: web1, web2, db1, cache1
    supervisor: added check_web1, check_web2, check_db1, check_cache1
    operator thread: added audit_log
    check_web1       ok  web1: healthy
    ...
    audit_log        ok  audit log rotated
    summary: 6 tasks ran in one run: discover, 4 checks, audit_log
    live additions behaved as designed

Usage: python examples/live_additions.py [thread|process]
"""

import sys
import threading
import time
import warnings

import pexen
from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool

HOSTS = ["web1", "web2", "db1", "cache1"]


@sched.meta.func_meta(provides=["inventory"])
def discover():
    time.sleep(0.05)  # ask the network
    return list(HOSTS)


def make_check(host):
    @sched.meta.func_meta(requires=["inventory"], kwargs={"host": host})
    def check(host):
        time.sleep(0.2)
        return f"{host}: healthy"

    check.__name__ = check.__qualname__ = f"check_{host}"
    return check


@sched.meta.func_meta(priority=-1)
def audit_log():
    return "audit log rotated"


# Nobody requires 'inventory' yet: the checks come later. Silence the
# warning Sched() gives about that.
warnings.filterwarnings("ignore", "Dep 'inventory' provided", pexen.PexenWarning)
s = sched.Sched([discover])
operator_added = threading.Event()


def operator():
    """Another thread, adding a task while the checks run."""
    time.sleep(0.05)
    s.add_tasks([audit_log])
    operator_added.set()


operator_thread = threading.Thread(target=operator, name="operator")
ran = []
for result in s.run(Pool(workers=2)):
    name = result.task.__name__
    ran.append(name)
    if result.excinfo is not None:
        print(f"{name:<16} FAILED  {result.excinfo.type.__name__}: {result.excinfo.val}")
        continue
    if name == "discover":
        print(f"{name:<16} ok  found {len(result.ret)} hosts: {', '.join(result.ret)}")
        checks = [make_check(host) for host in result.ret]
        s.add_tasks(checks)
        print(f"supervisor: added {', '.join(c.__name__ for c in checks)}", flush=True)
        operator_thread.start()  # started now, while the run goes on
        operator_added.wait()
        print("operator thread: added audit_log", flush=True)
    else:
        print(f"{name:<16} ok  {result.ret}", flush=True)
operator_thread.join()

problems = []
expected = ["discover", *(f"check_{host}" for host in HOSTS), "audit_log"]
if sorted(ran) != sorted(expected):
    problems.append(f"ran {ran}, expected {expected}")
elif ran[0] != "discover":
    problems.append(f"{ran[0]} ran before discover")
checks = [n for n in ran if n.startswith("check_")]
print(
    f"summary: {len(ran)} tasks ran in one run: discover, {len(checks)} checks, "
    f"{'audit_log' if 'audit_log' in ran else 'no audit_log'}"
)
for problem in problems:
    print(f"PROBLEM: {problem}")
print("live additions behaved as designed" if not problems else "live additions MISBEHAVED")
sys.exit(1 if problems else 0)
