"""pexen: a parallel task scheduler.

Tasks are plain callables with metadata (see :mod:`pexen.sched.meta`); the
scheduler (:class:`pexen.sched.Sched`) runs them in threads or worker
processes as their dependencies and locks allow.
"""

from . import util
from .util import PexenError, PexenWarning

__all__ = ["PexenError", "PexenWarning", "sched", "util"]


def __getattr__(name: str) -> object:
    # `pexen.sched` is imported on first use, so that `import pexen` stays light.
    if name == "sched":
        import importlib

        return importlib.import_module("pexen.sched")
    raise AttributeError(f"module 'pexen' has no attribute {name!r}")
