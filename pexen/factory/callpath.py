"""A collected task's hierarchical name: its callpath.

Factories stamp every task they collect with the path they found it on (the
package, module and function names; or a file's directories and name), so
reports, selection (``pexen run -k``) and the live display can name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["get_callpath", "has_callpath", "set_callpath"]

#: the attribute a callpath is stored in, on the task itself (it travels
#: with the task to worker processes)
CALLPATH_ATTR = "pexen_callpath"


def get_callpath(task: Any) -> list[str]:
    """The callpath of ``task``, e.g. ``['subdummygen', 'dummy3']``.

    Raises :class:`AttributeError` for a task no factory collected.
    """
    try:
        path: list[str] = getattr(task, CALLPATH_ATTR)
    except AttributeError:
        raise AttributeError(f"{task!r} has no callpath: no factory collected it") from None
    return path


def has_callpath(task: Any) -> bool:
    """Whether a factory collected ``task`` (it has a callpath)."""
    return hasattr(task, CALLPATH_ATTR)


def set_callpath(task: Any, path: Iterable[str]) -> None:
    """Stamp ``task`` with ``path`` (a fresh list: later changes to ``path`` do not show)."""
    setattr(task, CALLPATH_ATTR, list(path))
