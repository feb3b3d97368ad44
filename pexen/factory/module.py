"""Tasks from Python modules: :class:`ModuleFactory` (one module) and
:class:`ModTreeFactory` (a package and its subpackages), and the imports of
a user's code they need (a package directory, a ``.py`` file, a dotted name).

A user's module is the user's to fail: an exception raised while importing
it becomes a :class:`CollectionError` naming its file and the exception
(chained to it, so its own traceback is kept), never an error from inside
pexen.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
import types
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pexen.sched import meta

from .base import BaseFactory, CollectionError

__all__ = ["ModTreeFactory", "ModuleFactory", "import_dotted", "import_file", "import_package_dir"]


def _where(name: str) -> str:
    """The file of module ``name`` as the import system would find it, else the name."""
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return name
    if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
        return spec.origin
    return name


def _import(name: str, where: str | None = None) -> types.ModuleType:
    """Import module ``name``; a failure of the user's code is a CollectionError."""
    try:
        return importlib.import_module(name)
    except (CollectionError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # SystemExit too: a module exiting is a module failing
        what = where or _where(name)
        raise CollectionError(what, f"cannot import {name}: {type(exc).__name__}: {exc}") from exc


def _on_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def import_package_dir(path: str | Path) -> types.ModuleType:
    """Import the package in directory ``path`` (it has an ``__init__.py``)
    from its parent directory, as a test runner does.

    Raises :class:`CollectionError` when it raises on import, or when a module
    of the same name imported earlier (the standard library's, say) shadows it.
    """
    pkgdir = Path(path).resolve()
    if not (pkgdir / "__init__.py").is_file():
        raise CollectionError(str(path), "not a package: it has no __init__.py")
    _on_path(pkgdir.parent)
    mod = _import(pkgdir.name, str(pkgdir / "__init__.py"))
    found = Path(getattr(mod, "__file__", None) or "").resolve().parent
    if found != pkgdir:
        raise CollectionError(
            str(path), f"package name {pkgdir.name!r} is taken by {found or mod!r}: rename it"
        )
    return mod


def import_file(path: str | Path) -> types.ModuleType:
    """Import the ``.py`` file ``path`` as a top-level module named by its stem,
    its directory first on ``sys.path`` (so it can import its neighbours)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise CollectionError(str(path), "no such file")
    name = file.stem
    old = sys.modules.get(name)
    if old is not None and Path(getattr(old, "__file__", None) or "").resolve() == file:
        return old
    if old is not None:
        raise CollectionError(str(path), f"module name {name!r} is taken by {old!r}: rename it")
    _on_path(file.parent)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise CollectionError(str(path), "not an importable Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # as import does: pickling by reference and self-imports work
    try:
        spec.loader.exec_module(mod)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise CollectionError(
            str(file), f"cannot import {name}: {type(exc).__name__}: {exc}"
        ) from exc
    return mod


def import_dotted(name: str) -> types.ModuleType:
    """Import module ``name`` (``pkg.sub.mod``), the current directory on the path."""
    _on_path(Path.cwd())
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    except KeyboardInterrupt:
        raise
    except BaseException:  # a parent package raised on import: say so as for the module
        return _import(name)
    if spec is None:
        raise CollectionError(name, "no such module")
    return _import(name)


def _burn(factory: BaseFactory, mod: types.ModuleType, obj: Any, path: list[str]) -> None:
    """Stamp a task found in ``mod``; one that cannot carry a callpath is the module's error."""
    try:
        factory.callpath_burn(obj, path=path)
    except TypeError as exc:
        where = getattr(mod, "__file__", None) or mod.__name__
        raise CollectionError(where, f"task {path[-1]!r}: {exc}") from None


class ModuleFactory(BaseFactory):
    """Yields the tasks of one imported module.

    A task is any callable member of the module with metadata
    (:func:`pexen.sched.meta.func_meta`), or, with ``match``, any callable
    whose name matches that ``fnmatch`` pattern too. Each is stamped with the
    callpath plus its name. Members are taken as they are after the import,
    so the module can make tasks at import time (e.g. with another factory).
    A callable bound to several names is yielded once, under the name it was
    defined with when that is one of them.
    """

    def __init__(self, match: str | None = None) -> None:
        super().__init__()
        self.match = match

    def is_valid_callable(self, objname: str, obj: Any) -> bool:
        """Whether member ``objname`` is a task."""
        if not callable(obj):
            return False
        if meta.has_meta(obj):
            return True
        return bool(self.match) and fnmatchcase(objname, self.match or "")

    def members(self, mod: types.ModuleType) -> list[tuple[str, Any]]:
        """The module's tasks with the name each is collected under, by name."""
        chosen: dict[int, tuple[str, Any]] = {}
        for name, obj in inspect.getmembers(mod):
            if not self.is_valid_callable(name, obj):
                continue
            seen = chosen.get(id(obj))
            if seen is None or getattr(obj, "__name__", None) == name:
                chosen[id(obj)] = (name, obj)
        return sorted(chosen.values(), key=lambda item: item[0])

    def __call__(self, mod: types.ModuleType) -> Iterator[Any]:  # type: ignore[override]
        """Yield the tasks of ``mod``, each stamped with its callpath."""
        for name, obj in self.members(mod):
            _burn(self, mod, obj, [*self.callpath, name])
            yield obj


class ModTreeFactory(BaseFactory):
    """Yields the tasks of a package and of every module and subpackage below it.

    Each module found is imported (as ``package.module``, so relative imports
    work) and its tasks taken as :class:`ModuleFactory` takes them, with the
    same ``match``. Callpaths start below the package given: a task ``t`` of
    the package itself is ``['t']``, of its module ``m`` ``['m', 't']``, of
    ``m`` in subpackage ``sub`` ``['sub', 'm', 't']``. A task imported by
    several modules is yielded once, under the module that defines it.
    A module that raises on import is a :class:`CollectionError`.
    """

    def __init__(self, match: str | None = None) -> None:
        super().__init__()
        self.match = match

    def _walk(self, pkg: types.ModuleType) -> Iterator[tuple[types.ModuleType, list[str]]]:
        yield pkg, list(self.callpath)
        for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
            mod = _import(f"{pkg.__name__}.{info.name}")
            self.callpath_push(info.name)
            try:
                if info.ispkg:
                    yield from self._walk(mod)
                else:
                    yield mod, list(self.callpath)
            finally:
                self.callpath_pop()

    def __call__(self, startmod: types.ModuleType) -> Iterator[Any]:  # type: ignore[override]
        """Yield the tasks of package ``startmod`` (or of a plain module) and below."""
        found: dict[int, tuple[Any, list[str], bool, types.ModuleType]] = {}
        order: list[int] = []
        picker = ModuleFactory(match=self.match)
        for mod, path in self._walk(startmod):
            for name, obj in picker.members(mod):
                home = getattr(obj, "__module__", None) == mod.__name__
                key = id(obj)
                if key not in found:
                    order.append(key)
                    found[key] = (obj, [*path, name], home, mod)
                elif home and not found[key][2]:
                    found[key] = (obj, [*path, name], home, mod)
        for key in order:
            obj, path, _, mod = found[key]
            _burn(self, mod, obj, path)
            yield obj
