"""Processes that tasks and test scripts start: a daemon that left its parent.

Imported by the tests, and by the scripts they run in fresh interpreters
(with this folder on ``sys.path``), so there is one copy of the recipe.
"""

from __future__ import annotations

import os


def daemon() -> int:
    """Start ``sleep 300`` as a daemon: fork twice, ``setsid()``; return its pid.

    Its parent exits at once, so it is re-parented to the nearest subreaper
    (or init), out of the caller's process group and session.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as src:
        return int(src.read())
