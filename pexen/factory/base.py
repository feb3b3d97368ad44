"""The base of every factory: a callable yielding tasks, and the callpath it builds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pexen.util import PexenError

from .callpath import set_callpath

__all__ = ["BaseFactory", "CollectionError"]


class CollectionError(PexenError):
    """A target could not be collected: its module raised on import, or it
    could not be found or read.

    ``path`` is the file (or the module name, when there is no file yet);
    the original exception is ``__cause__``. ``str()`` names both, e.g.
    ``cannot import suite/test_db.py: ZeroDivisionError: division by zero``.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BaseFactory:
    """A factory: calling it with a source yields the tasks found there.

    It keeps ``callpath``, the names leading to where it is looking now
    (package, module; or directory): :meth:`callpath_push` and
    :meth:`callpath_pop` as it goes in and out, :meth:`callpath_burn` to stamp
    a task it found, :meth:`callpath_transfer` to hand the current path to a
    factory it delegates to. Subclasses override :meth:`__call__`.
    """

    def __init__(self) -> None:
        self.callpath: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Yield the tasks found in the source (the base class finds none)."""
        return iter(())

    def callpath_transfer(self, tofactory: BaseFactory) -> None:
        """Give ``tofactory`` (a copy of) this factory's current callpath."""
        tofactory.callpath = list(self.callpath)

    def callpath_push(self, name: str) -> None:
        """Go one level down, into ``name``."""
        self.callpath.append(name)

    def callpath_pop(self) -> str:
        """Go one level up; returns the name left."""
        return self.callpath.pop()

    def callpath_burn(self, obj: Any, objname: str = "", path: Iterable[str] | None = None) -> None:
        """Stamp ``obj`` with ``path`` (default: the current callpath), plus
        ``objname`` when given. The stamp is a copy: later pushes and pops of
        this factory do not change it.

        Raises ``TypeError`` for an object that takes no attributes (a
        builtin, a bound method): it cannot carry a callpath.
        """
        stamp = list(self.callpath if path is None else path)
        if objname:
            stamp.append(objname)
        try:
            set_callpath(obj, stamp)
        except AttributeError:
            raise TypeError(
                f"{obj!r} takes no attributes, so it cannot carry a callpath; wrap it in a function"
            ) from None
