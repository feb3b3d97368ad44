"""Factories: tasks collected from packages, modules and executable files.

``get_callpath(task)`` gives a collected task's hierarchical name.
"""

from .callpath import get_callpath, has_callpath, set_callpath

__all__ = ["get_callpath", "has_callpath", "set_callpath"]
