"""Process trees: keep every descendant of a worker process within reach, and kill it.

A task in a worker process may start processes of its own, and they may start
more, or detach as daemons (fork twice, ``setsid()``), which re-parents them to
the nearest *child subreaper* above them, else to init. Process groups and
sessions cannot hold them (a daemon leaves both); a cgroup could, but needs
privileges a library cannot assume. So each worker process and the zygote
above them are subreapers (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux 3.4 and
later): whatever a task starts stays a descendant of its worker, and of the
zygote once the worker is gone, where :func:`kill_descendants` finds it.

The zygote and each worker also ask to be killed when their parent dies
(``PR_SET_PDEATHSIG``), the backstop for a scheduler or zygote killed at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable, Container

__all__ = ["become_subreaper", "children", "die_with_parent", "has_children", "kill_descendants"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no subreapers, trees are not contained
    _prctl = None


def _call_prctl(option: int, value: int) -> bool:
    if _prctl is None:
        return False
    if _prctl(option, value, 0, 0, 0) != 0:
        log.warning("prctl(%d, %d) failed: %s", option, value, os.strerror(ctypes.get_errno()))
        return False
    return True


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children; ``False`` if impossible."""
    return _call_prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent ``parent`` dies.

    Exits at once if the parent died already (the request would then come too
    late: the process was re-parented before it was made).
    """
    _call_prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os._exit(1)


def children() -> list[int]:
    """The pids of this process's children (zombies included), from ``/proc``.

    Each thread has its own list: a child belongs to the thread that forked
    it, or to the one it was re-parented to.
    """
    pids: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir("/proc/self/task"):
            path = f"/proc/self/task/{tid}/children"
            with contextlib.suppress(FileNotFoundError, ProcessLookupError), open(path) as src:
                pids.extend(int(pid) for pid in src.read().split())
    return pids


def has_children() -> bool:
    """Whether this process has any child (one system call).

    May reap one child that has exited; its status is then lost, which only
    matters to a caller still waiting for it (none is, once its task ended).
    """
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def kill_descendants(keep: Container[int] = ()) -> int:
    """SIGKILL every descendant of this process but the children in ``keep``.

    Kills the children, waits for them, and goes on with the processes that
    their deaths re-parented here, until no child is left but those in
    ``keep`` (whose own descendants are theirs to kill). A killed process
    cannot fork again, so each round is the generation below the last. Returns
    how many processes it killed. Needs :func:`become_subreaper` first, or the
    grandchildren of a killed child escape to init.
    """
    killed = 0
    while True:
        doomed = [pid for pid in children() if pid not in keep]
        if not doomed:
            return killed
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        killed += len(doomed)
