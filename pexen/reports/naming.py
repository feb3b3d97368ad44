"""How reports name a task: by its callpath when a factory collected it."""

from __future__ import annotations

from typing import Any

from pexen.factory import get_callpath, has_callpath

__all__ = ["junit_names", "task_name"]


def _qualname(task: Any) -> str:
    for obj in (task, getattr(task, "func", None), type(task)):  # a partial: its func
        name = getattr(obj, "__qualname__", None)
        if isinstance(name, str):
            return name
    return repr(task)


def _module(task: Any) -> str:
    for obj in (task, getattr(task, "func", None), type(task)):
        name = getattr(obj, "__module__", None)
        if isinstance(name, str):
            return name
    return ""


def task_name(task: Any) -> str:
    """``task``'s name in reports: its callpath joined with ``/`` when a
    factory collected it (``pkg/mod/test_x``), else its qualified name."""
    if has_callpath(task):
        path = get_callpath(task)
        if path:
            return "/".join(map(str, path))
    return _qualname(task)


def junit_names(task: Any) -> tuple[str, str]:
    """``(classname, name)`` of ``task``'s JUnit test case.

    A collected task: its callpath's parents joined with ``.``, and its last
    part. Any other: its module, and its qualified name.
    """
    if has_callpath(task):
        path = [str(part) for part in get_callpath(task)]
        if path:
            return ".".join(path[:-1]), path[-1]
    return _module(task), _qualname(task)
