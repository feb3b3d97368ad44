"""How an exec'd zygote starts: as any child interpreter, with ``site``
(real processes, in a threaded process)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from helpers import new_pool, tagged

from pexen import sched


def _probe() -> tuple[int, list[str], tuple[str, str], bool]:
    """What the worker process's interpreter looks like."""
    import builtins
    import sys as s

    return s.flags.no_site, list(s.path), (s.prefix, s.exec_prefix), hasattr(builtins, "exit")


@pytest.fixture
def foreign_thread() -> Iterator[None]:
    """A thread of the process's own: the zygote is exec'd, not forked."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    other.start()
    try:
        yield
    finally:
        stop.set()
        other.join()


def test_an_exec_d_worker_runs_site_and_has_this_process_s_path(foreign_thread):
    [res] = list(sched.Sched([tagged("probe", _probe)]).run(new_pool("process", workers=1)))
    assert res.excinfo is None, res.excinfo
    no_site, path, prefixes, has_exit = res.ret
    assert no_site == 0  # .pth files ran: their import hooks and side effects are there
    assert has_exit
    assert prefixes == (sys.prefix, sys.exec_prefix)
    assert all(entry in path for entry in sys.path)
