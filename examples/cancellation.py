"""Cancelling a run: leave the loop, or call ``Sched.cancel()`` from elsewhere.

1. ``break`` out of ``run()`` after three results. The run is cancelled, and
   its workers are gone by the time control returns: the script shows the
   number of threads (``threading.active_count()``) and of processes below
   this one, during the run and right after the ``break``. (The worker
   processes are children of pexen's fork server, so they are grandchildren
   of this process: ``multiprocessing.active_children()``, which only knows
   ``multiprocessing.Process`` children, would not see them. The script reads
   ``/proc`` instead, on Linux.)
2. ``Sched.cancel()`` from a ``threading.Timer``, started when the run is under
   way: nothing more is dispatched, the loop gets the results already there
   and ends.

The script prints how long each cancel took. On the process pool, running
tasks are killed, so both are quick. On the thread pool a thread cannot be
interrupted: a cancelled run first lets the tasks already running finish, so
a cancel takes up to the rest of the longest running task.

Expected (numbers vary):

    == break after 3 results
    during the run: 6 threads, 3 processes below this one
    break: control returned after 0.00s; now 1 threads, 0 processes below this one
    ran 3 of 30 tasks
    == Sched.cancel() from a timer thread
    task_0 ... task_1 done
    cancel() returned after 0.000s; the loop ended 0.00s after the cancel
    after the loop: 1 threads, 0 processes below this one
    ran 2 of 10 tasks, the rest never started
    process pool: each cancel killed the tasks that were running
    cancellation behaved as designed

Usage: python examples/cancellation.py [thread|process]
"""

import os
import sys
import threading
import time

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def descendants():
    """The pids of the live processes below this one (Linux), or None elsewhere."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    parents = {}
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (comm)"
        except OSError:
            continue  # it ended meanwhile
        if fields[0] != "Z":  # a zombie has ended
            parents[int(entry)] = int(fields[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return sorted(found)


def census():
    procs = descendants()
    shown = "?" if procs is None else len(procs)
    return f"{threading.active_count()} threads, {shown} processes below this one", procs


def make_task(i, seconds):
    def task():
        time.sleep(seconds)
        return i

    task.__name__ = task.__qualname__ = f"task_{i}"
    return task


problems = []
threads_before = threading.active_count()

print("== break after 3 results")
tasks = [make_task(i, 0.1) for i in range(30)]
seen = 0
for _result in sched.Sched(tasks).run(Pool(workers=2)):
    seen += 1
    if seen == 1:
        print(f"during the run: {census()[0]}", flush=True)
    if seen == 3:
        broke = time.monotonic()
        break
took = time.monotonic() - broke
summary, procs = census()
print(f"break: control returned after {took:.2f}s; now {summary}")
print(f"ran {seen} of {len(tasks)} tasks")
if threading.active_count() != threads_before or procs:
    problems.append(f"workers left after the break: {summary} {procs}")

print("== Sched.cancel() from a timer thread")
tasks = [make_task(i, 0.5) for i in range(10)]
s = sched.Sched(tasks)
cancel_times = []


def cancel():
    cancel_times.append(time.monotonic())
    s.cancel()
    cancel_times.append(time.monotonic())


timer = None
done = []
for result in s.run(Pool(workers=2)):
    done.append(result.task.__name__)
    print(f"{result.task.__name__} done", flush=True)
    if timer is None:
        # Started once the run is under way. (Had it been started before
        # run(), the process pool would have found a thread running besides
        # the main thread, and started its fork server by fork and exec
        # instead of a plain fork: safe, but slower, and kwargs could not
        # carry multiprocessing objects.)
        timer = threading.Timer(0.2, cancel)
        timer.start()
ended = time.monotonic()
timer.join()
called, returned = cancel_times
summary, procs = census()
print(
    f"cancel() returned after {returned - called:.3f}s; "
    f"the loop ended {ended - called:.2f}s after the cancel"
)
print(f"after the loop: {summary}")
print(f"ran {len(done)} of {len(tasks)} tasks, the rest never started")
if threading.active_count() != threads_before or procs:
    problems.append(f"workers left after the cancel: {summary} {procs}")
if not 1 <= len(done) < len(tasks):
    problems.append(f"{len(done)} tasks ran; expected the cancel to stop the run early")

if kind == "process":
    print("process pool: each cancel killed the tasks that were running")
else:
    print("thread pool: each cancel let the tasks already running finish first")
for problem in problems:
    print(f"PROBLEM: {problem}")
print("cancellation behaved as designed" if not problems else "cancellation MISBEHAVED")
sys.exit(1 if problems else 0)
