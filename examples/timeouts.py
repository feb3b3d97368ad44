"""Timeouts: a task that runs past its ``timeout`` is stopped; the run goes on.

``fetch_mirror`` hangs (it would take 2 s); its metadata says
``func_meta(timeout=0.5)``. After half a second it is reported with
``sched.TaskTimeoutError``, an uncontrolled failure, while the other tasks
(each with a generous timeout of 2 s, which they never reach) go on, on a fresh
worker where needed. The run does not wait for the hanging task.

What happens to the hanging task depends on the pool:

- process pool: its worker process is killed, and replaced. The task never
  gets to its end: the script shows that its "finished" event stays unset.
- thread pool: a thread cannot be killed. The task is abandoned: its result
  will be dropped and a fresh thread takes its worker's place, but the task
  itself goes on in its (daemon) thread until it returns by itself. Here it
  returns after 2 s, and the script shows its "finished" event being set
  then. (A task that never returns would not block the program's exit either:
  worker threads are daemon threads.)

Expected on the process pool (results in any order):

    checksum_0      ok       part 0: ok  (at 0.3s)
    fetch_mirror    TIMEOUT  TaskTimeoutError: task <function fetch_mirror at 0x...> ran past
                             its timeout of 0.5 s; its process was killed  (at 0.5s)
    checksum_1 ... checksum_3 ok
    run ended after 1.1s, without waiting for fetch_mirror
    process pool: fetch_mirror was killed: it never reached its end: True
    timeouts behaved as designed

On the thread pool the message ends with "its thread was abandoned", and:

    thread pool: fetch_mirror was abandoned: it went on in its thread and
    returned by itself 2.0s after the start: True

Exits with 0 when the timeouts behaved as designed.

Usage: python examples/timeouts.py [thread|process]
"""

import multiprocessing
import sys
import threading
import time

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool

HANG = 2.0  # how long fetch_mirror would take
# set by fetch_mirror when it gets to its end; it reaches the task via kwargs
finished = threading.Event() if kind == "thread" else multiprocessing.Event()


@sched.meta.func_meta(timeout=0.5, priority=-1, kwargs={"finished": finished})
def fetch_mirror(finished):
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:  # a download that stalled
        time.sleep(0.05)
    finished.set()
    return "mirror fetched"  # dropped on the thread pool, never reached on processes


def make_checksum(i):
    @sched.meta.func_meta(timeout=2, kwargs={"part": i})
    def checksum(part):
        time.sleep(0.3)
        return f"part {part}: ok"

    checksum.__name__ = checksum.__qualname__ = f"checksum_{i}"
    return checksum


tasks = [fetch_mirror, *(make_checksum(i) for i in range(4))]
outcome = {}
started = time.monotonic()
for result in sched.Sched(tasks).run(Pool(workers=2)):
    name = result.task.__name__
    outcome[name] = result
    at = time.monotonic() - started
    if result.excinfo is None:
        print(f"{name:<15} ok       {result.ret}  (at {at:.1f}s)", flush=True)
    else:
        exc = result.excinfo.val
        status = "TIMEOUT" if isinstance(exc, sched.TaskTimeoutError) else "FAILED"
        print(f"{name:<15} {status:<8} {type(exc).__name__}: {exc}  (at {at:.1f}s)", flush=True)
elapsed = time.monotonic() - started

problems = []
print(f"run ended after {elapsed:.1f}s, without waiting for fetch_mirror")
if elapsed >= HANG:
    problems.append(f"the run lasted {elapsed:.1f}s: it waited for the hanging task")
hung = outcome.get("fetch_mirror")
exc = hung.excinfo.val if hung is not None and hung.excinfo is not None else None
fate = "its process was killed" if kind == "process" else "its thread was abandoned"
if not (isinstance(exc, sched.TaskTimeoutError) and str(exc).endswith(fate)):
    problems.append(f"fetch_mirror reported {exc!r}, expected a TaskTimeoutError ({fate})")
ok = sorted(n for n, r in outcome.items() if r.excinfo is None)
if ok != [f"checksum_{i}" for i in range(4)]:
    problems.append(f"tasks that ended well: {ok}")

# What became of the hanging task? Wait until it would have ended by itself.
reached_end = finished.wait(timeout=max(0.0, started + HANG + 0.5 - time.monotonic()))
if kind == "process":
    print(f"process pool: fetch_mirror was killed: it never reached its end: {not reached_end}")
    if reached_end:
        problems.append("the killed process task reached its end")
else:
    print(
        "thread pool: fetch_mirror was abandoned: it went on in its thread and returned "
        f"by itself {time.monotonic() - started:.1f}s after the start: {reached_end}"
    )
    if not reached_end:
        problems.append("the abandoned thread task never returned")

for problem in problems:
    print(f"PROBLEM: {problem}")
print("timeouts behaved as designed" if not problems else "timeouts MISBEHAVED")
sys.exit(1 if problems else 0)
