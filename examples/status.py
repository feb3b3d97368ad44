"""What a run is doing: ``Sched.status()``.

A maintenance window: open_window provides 'window', which every other task
requires, so they all become ready at the same moment, and the rest goes the
same way every time. migrate_schema (it claims 'db') and backup_files (it
claims 'archive') then run, and hold, until the script lets them go: each
waits on an event passed in its ``kwargs`` (a ``threading.Event`` on the thread
pool, a ``multiprocessing.Event`` on the process pool). So the snapshot the
script takes when open_window's result arrives is always the same:

- running: migrate_schema on worker 0 and backup_files on worker 1, with how
  long ago each started; rotate_logs was handed to worker 0 ahead (the pool's
  ``spare`` slot) and waits there behind migrate_schema (``started`` is
  ``None``);
- ready: vacuum_cache and send_digest, waiting for a free worker;
- waiting on deps: rebuild_index, which requires 'schema' (from migrate_schema);
- waiting on locks: report_usage, which uses 'db' (and 'db' is claimed);
- held locks: 'archive' and 'db', both claimed, and by whom.

Then the script sets the events, and the run finishes. After the run,
``status()`` says ``active=False``.

Expected:

    open_window      ok
    status: active, 1 finished, 0 skipped
      running:
        worker 0  migrate_schema   started 0.10s ago
        worker 1  backup_files     started 0.10s ago
        worker 0  rotate_logs      queued behind the task running there
      ready:            vacuum_cache, send_digest
      waiting on deps:  rebuild_index
      waiting on locks: report_usage (uses db)
      held locks:       archive (claims: backup_files), db (claims: migrate_schema)
    releasing migrate_schema and backup_files
    ... the 8 other results, in an order that varies ...
    after the run: RunStatus(active=False, ...)
    status behaved as designed

Usage: python examples/status.py [thread|process]
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
Event = threading.Event if kind == "thread" else multiprocessing.Event

migrate_gate, backup_gate = Event(), Event()


def task(name, **fields):
    """A task that takes ``gate`` (an event to wait for) if its kwargs have one."""

    def run(*, gate=None):
        if gate is not None and not gate.wait(timeout=30):
            raise TimeoutError(f"{name}: nobody opened the gate")
        return None

    run.__name__ = run.__qualname__ = name
    sched.meta.assign_val(run, **fields)
    return run


tasks = [
    task("open_window", provides=["window"]),
    task(
        "migrate_schema",
        requires=["window"],
        provides=["schema"],
        claims=["db"],
        priority=1,
        kwargs={"gate": migrate_gate},
    ),
    task(
        "backup_files",
        requires=["window"],
        claims=["archive"],
        priority=2,
        kwargs={"gate": backup_gate},
    ),
    task("report_usage", requires=["window"], uses=["db"], priority=3),
    task("rotate_logs", requires=["window"], priority=4),
    task("vacuum_cache", requires=["window"], priority=5),
    task("send_digest", requires=["window"], priority=6),
    task("rebuild_index", requires=["schema"], uses=["db"]),
]


def name(func):
    return func.__name__


def settled(status):
    """Whether the run got as far as it can before the gates open."""
    return (
        sum(r.started is not None for r in status.running) == 2
        and len(status.running) == 3
        and len(status.waiting_locks) == 1
    )


def show(status):
    """A RunStatus, readably."""
    now = time.monotonic()
    lines = [
        f"status: {'active' if status.active else 'inactive'}, "
        f"{status.finished} finished, {status.skipped} skipped",
        "  running:",
    ]
    for r in status.running:
        when = (
            "queued behind the task running there"
            if r.started is None
            else f"started {now - r.started:.2f}s ago"
        )
        lines.append(f"    worker {r.worker}  {name(r.task):<16} {when}")

    def resources(w):
        return "; ".join(
            f"{mode} {', '.join(sorted(map(str, getattr(w, mode))))}"
            for mode in ("uses", "claims")
            if getattr(w, mode)
        )

    held = sorted(status.held_locks, key=lambda lock: str(lock.resource))
    lines += [
        f"  ready:            {', '.join(name(t) for t in status.ready) or '-'}",
        f"  waiting on deps:  {', '.join(name(t) for t in status.waiting_deps) or '-'}",
        "  waiting on locks: "
        + (", ".join(f"{name(w.task)} ({resources(w)})" for w in status.waiting_locks) or "-"),
        "  held locks:       "
        + (
            ", ".join(
                f"{lock.resource} ({lock.mode}: {', '.join(name(t) for t in lock.holders)})"
                for lock in held
            )
            or "-"
        ),
    ]
    return "\n".join(lines)


problems = []
s = sched.Sched(tasks)
ran = []
for result in s.run(Pool(workers=2)):
    ran.append(name(result.task))
    failure = "" if result.excinfo is None else f"FAILED {result.excinfo.val!r}"
    print(f"{name(result.task):<16} {failure or 'ok'}", flush=True)
    if name(result.task) == "open_window":
        deadline = time.monotonic() + 5
        snapshot = s.status()
        while not settled(snapshot) and time.monotonic() < deadline:
            time.sleep(0.01)
            snapshot = s.status()
        time.sleep(0.1)  # let them run a little, for the start times
        snapshot = s.status()
        print(show(snapshot))
        running = [(r.worker, name(r.task), r.started is not None) for r in snapshot.running]
        expected = {
            "running": [
                (0, "migrate_schema", True),
                (1, "backup_files", True),
                (0, "rotate_logs", False),
            ],
            "ready": ["vacuum_cache", "send_digest"],
            "waiting_deps": ["rebuild_index"],
            "waiting_locks": [("report_usage", {"db"}, set())],
            "held_locks": [
                ("archive", "claims", ["backup_files"]),
                ("db", "claims", ["migrate_schema"]),
            ],
        }
        got = {
            "running": running,
            "ready": [name(t) for t in snapshot.ready],
            "waiting_deps": [name(t) for t in snapshot.waiting_deps],
            "waiting_locks": [
                (name(w.task), set(w.uses), set(w.claims)) for w in snapshot.waiting_locks
            ],
            "held_locks": sorted(
                (lock.resource, lock.mode, [name(t) for t in lock.holders])
                for lock in snapshot.held_locks
            ),
        }
        for key, value in expected.items():
            if got[key] != value:
                problems.append(f"status {key}: {got[key]}, expected {value}")
        print("releasing migrate_schema and backup_files", flush=True)
        migrate_gate.set()
        backup_gate.set()

after = s.status()
print(f"after the run: {after}")
if after.active:
    problems.append("status() says a run is active after it ended")
if sorted(ran) != sorted(name(t) for t in tasks):
    problems.append(f"ran {ran}")
for problem in problems:
    print(f"PROBLEM: {problem}")
print("status behaved as designed" if not problems else "status MISBEHAVED")
sys.exit(1 if problems else 0)
