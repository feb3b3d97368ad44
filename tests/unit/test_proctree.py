"""actors.proctree with real processes: subreaper, killing a tree, dying with the parent.

Each scenario runs in a fresh interpreter (so that what it makes a subreaper
and kills is that process's tree, never the test runner's) and prints the
pids it saw; the test then checks with psutil that none of them is alive.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = f"""
import json, os, subprocess, sys, time
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from spawning import daemon
from actors.proctree import become_subreaper, children, die_with_parent, kill_descendants

"""


def _scenario(body: str) -> dict:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_daemon_is_re_parented_to_the_subreaper_and_killed_with_the_tree():
    seen = _scenario("""
        assert become_subreaper()
        child = subprocess.Popen(["sleep", "300"])
        # a child with a child of its own that is not detached
        shell = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE)
        grandchild = int(shell.stdout.readline())
        d = daemon()
        kids = children()
        killed = kill_descendants()
        print(json.dumps({"pids": [child.pid, shell.pid, grandchild, d],
                          "daemon_was_ours": d in kids, "killed": killed, "left": children()}))
    """)
    assert seen["daemon_was_ours"]
    assert seen["killed"] == 4  # child, shell, then the shell's orphaned sleep, daemon
    assert seen["left"] == []
    assert [pid for pid in seen["pids"] if _alive(pid)] == []


def test_kill_descendants_keeps_the_children_it_is_told_to():
    seen = _scenario("""
        assert become_subreaper()
        keep = subprocess.Popen(["sleep", "300"])
        doomed = subprocess.Popen(["sleep", "300"])
        killed = kill_descendants(keep={keep.pid})
        alive = children()
        keep.kill(); keep.wait()
        print(json.dumps(
            {"killed": killed, "alive": alive, "keep": keep.pid, "doomed": doomed.pid}
        ))
    """)
    assert seen["killed"] == 1
    assert seen["alive"] == [seen["keep"]]
    assert not _alive(seen["doomed"])


def test_a_process_that_asked_dies_with_its_parent():
    seen = _scenario("""
        r, w = os.pipe()
        parent = os.fork()
        if parent == 0:  # the parent-to-be: starts a child that asks, then waits to be killed
            me = os.getpid()
            if os.fork() == 0:
                die_with_parent(me)
                os.write(w, str(os.getpid()).encode())
                time.sleep(300)
                os._exit(0)
            time.sleep(300)
            os._exit(0)
        child = int(os.read(r, 64))
        os.kill(parent, 9)
        os.waitpid(parent, 0)
        print(json.dumps({"child": child}))
    """)
    # SIGKILL is sent as the parent exits: a pidfd becomes readable once it died
    try:
        pidfd = os.pidfd_open(seen["child"])
    except ProcessLookupError:
        return  # dead and reaped already
    try:
        assert select.select([pidfd], [], [], 20)[0], "still alive after its parent died"
    finally:
        os.close(pidfd)
    assert not _alive(seen["child"])


def test_die_with_parent_exits_at_once_if_the_parent_is_already_gone():
    code = PRELUDE + "die_with_parent(1 if os.getppid() != 1 else 2)\nprint('no')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert done.returncode == 1
    assert done.stdout == ""
