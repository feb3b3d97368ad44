"""Root exception and warning classes of pexen, and what every layer may use."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


class PexenError(Exception):
    """Base class of every error pexen raises on its own account."""


class PexenWarning(UserWarning):
    """Base class of every warning pexen emits (skipped tasks, held locks, ...)."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Compiling or (un)pickling a task table of 100,000 tasks allocates a few
    containers per task; that triggers collections which each walk every
    object alive, a third of the time spent, and find nothing: none of it is
    garbage. Reference counting still frees what is.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
