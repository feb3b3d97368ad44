"""Factories: tasks collected from packages, modules and executable files.

- :class:`ModTreeFactory` walks a package and its subpackages,
  :class:`ModuleFactory` one module: their tasks are the functions tagged
  with :func:`pexen.sched.meta.func_meta` (or matching a name pattern);
- :class:`FilesystemFactory` wraps every executable file under a directory
  as a task;
- :class:`BaseFactory` is what they share (a callable yielding tasks, and
  the callpath it builds on the way).

Every collected task has a callpath, its hierarchical name
(``get_callpath(task) == ['subpkg', 'module', 'test_x']``). A module that
raises on import is a :class:`CollectionError` naming its file::

    from pexen import sched
    from pexen.factory import ModTreeFactory, get_callpath, import_package_dir

    tasks = list(ModTreeFactory()(import_package_dir("tests/suite")))
    for res in sched.Sched(tasks).run(sched.pool.ProcessWorkerPool(4)):
        print("/".join(get_callpath(res.task)), res.excinfo is None)
"""

from .base import BaseFactory, CollectionError
from .callpath import get_callpath, has_callpath, set_callpath
from .filesystem import Executable, FilesystemFactory
from .module import ModTreeFactory, ModuleFactory, import_dotted, import_file, import_package_dir

__all__ = [
    "BaseFactory",
    "CollectionError",
    "Executable",
    "FilesystemFactory",
    "ModTreeFactory",
    "ModuleFactory",
    "get_callpath",
    "has_callpath",
    "import_dotted",
    "import_file",
    "import_package_dir",
    "set_callpath",
]
