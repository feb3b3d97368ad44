"""A process task's descendants never outlive it: children, grandchildren, daemons.

Each task here starts a child (``sleep 300``) and a daemon that forked twice
and left the session (``setsid``), so that it is re-parented away from the
task's process; the task reports their pids through a queue. After the task
ends (normally, by timeout, by killing its own worker, by a cancelled run)
and after the scheduling process itself is killed, none of them is alive.
(A thread task's subprocesses are the caller's business: not tested here.)
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from helpers import EVENT_TIMEOUT, by_task, new_pool, tagged
from spawning import daemon

from pexen import sched

ROOT = Path(__file__).resolve().parent.parent


def spawner(name: str, q, then: str):
    """A task that starts a child and a daemon, reports ``(name, pids)``, then ``then``."""

    def task(*, q):
        child = subprocess.Popen(["sleep", "300"])
        q.put((name, [child.pid, daemon()]))
        if then == "hang":
            time.sleep(300)
        elif then == "exit":
            q.close()
            q.join_thread()  # what was put is written before the worker dies
            os._exit(3)
        return name

    return task


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pids: list[int], within: float) -> list[int]:
    """Wait (on pidfds, no polling) until each pid has exited; return those still alive."""
    deadline = time.monotonic() + within
    alive = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if _alive(pid):
            alive.append(pid)
    return alive


@pytest.fixture
def pid_queue():
    q = multiprocessing.Queue()
    yield q
    q.close()
    q.join_thread()


def _reported(q, count: int) -> dict[str, list[int]]:
    return dict(q.get(timeout=EVENT_TIMEOUT) for _ in range(count))


def test_descendants_die_when_the_task_ends_normally(pid_queue):
    tasks = [tagged(f"ends{i}", spawner(f"ends{i}", pid_queue, "return"), kwargs={"q": pid_queue})
             for i in range(3)]  # fmt: skip
    res = by_task(sched.Sched(tasks).run(new_pool("process")))
    assert sorted(r.ret for r in res.values()) == ["ends0", "ends1", "ends2"]
    pids = [pid for pair in _reported(pid_queue, 3).values() for pid in pair]
    assert [pid for pid in pids if _alive(pid)] == []


def test_descendants_die_with_a_task_that_times_out(pid_queue):
    slow = tagged("slow", spawner("slow", pid_queue, "hang"), kwargs={"q": pid_queue}, timeout=0.5)
    after = tagged("after", lambda: "after")
    res = by_task(sched.Sched([slow, after]).run(new_pool("process", workers=1)))
    assert res[slow].excinfo.type is sched.TaskTimeoutError
    assert res[after].ret == "after"  # run on the replacement worker
    pids = _reported(pid_queue, 1)["slow"]
    assert [pid for pid in pids if _alive(pid)] == []


def test_descendants_die_with_a_task_that_kills_its_worker(pid_queue):
    crash = tagged("crash", spawner("crash", pid_queue, "exit"), kwargs={"q": pid_queue})
    res = by_task(sched.Sched([crash]).run(new_pool("process")))
    assert res[crash].excinfo.type is sched.WorkerLostError
    pids = _reported(pid_queue, 1)["crash"]
    assert [pid for pid in pids if _alive(pid)] == []


def test_descendants_die_when_the_run_is_cancelled(pid_queue):
    first = tagged("first", lambda: "first", priority=-1)
    hanging = [tagged(f"hang{i}", spawner(f"hang{i}", pid_queue, "hang"), kwargs={"q": pid_queue})
               for i in range(2)]  # fmt: skip
    gen = sched.Sched([first, *hanging]).run(new_pool("process", workers=3))
    assert next(gen).ret == "first"
    pids = [pid for pair in _reported(pid_queue, 2).values() for pid in pair]
    gen.close()  # cancels: the hanging tasks are killed, and what they started
    assert len(pids) == 4
    assert [pid for pid in pids if _alive(pid)] == []


SCRIPT = """
import os, subprocess, sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from pexen import sched
from spawning import daemon

def task():
    child = subprocess.Popen(["sleep", "300"])
    print("pids", child.pid, daemon(), flush=True)
    time.sleep(300)

for res in sched.Sched([task]).run(sched.pool.ProcessWorkerPool(workers=2)):
    print("never", res, flush=True)
"""


@pytest.mark.parametrize("threaded", [False, True], ids=["forked-zygote", "execd-zygote"])
def test_everything_dies_with_the_scheduling_process(tmp_path, threaded):
    script = SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"))
    if threaded:  # a thread of its own: the zygote is a fresh interpreter
        idle = "threading.Thread(target=threading.Event().wait, daemon=True).start()"
        script = f"import threading; {idle}\n" + script
    path = tmp_path / "victim.py"
    path.write_text(textwrap.dedent(script))
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[:1] == ["pids"], line
        task_pids = [int(p) for p in line[1:]]
        below = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert set(task_pids) <= set(below)  # the daemon too: kept by its worker
        assert len(below) >= 5  # zygote, two workers, the child, the daemon
        proc.send_signal(signal.SIGKILL)
        proc.wait(EVENT_TIMEOUT)
        assert _wait_dead(below, within=5) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
