"""A test that crashes its worker process; the run goes on without it."""

import os

from pexen.sched.meta import func_meta

#: the process that imported the suite: the runner itself (on a thread pool,
#: tests run here and must not end it)
_RUNNER = os.getpid()


@func_meta
def test_native_extension():
    """Dies as a crash in native code would: the worker process exits at once."""
    if os.getpid() == _RUNNER:
        raise RuntimeError("would crash the runner itself: run with --pool process")
    os._exit(3)
