"""Tasks from executable files: :class:`FilesystemFactory`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import BaseFactory

__all__ = ["Executable", "FilesystemFactory"]


class Executable:
    """A task running one executable file, in its directory, with ``check=True``.

    Calling it runs the file (argv[0] its name, cwd its directory) with the
    extra ``subprocess.run`` arguments given, and returns the
    ``CompletedProcess``; a non-zero exit raises ``CalledProcessError``, so
    the task fails. It is a plain object (picklable when its arguments are),
    so it can travel to any pool; on a process pool, what it starts is part
    of the task's process tree (it dies with the task: timeout, cancel).
    Identity is the object's: two ``Executable`` of one file are two tasks.
    """

    def __init__(self, path: str | os.PathLike[str], popen_kwargs: dict[str, Any]) -> None:
        self.path = os.path.abspath(path)
        self.popen_kwargs = dict(popen_kwargs)

    def __call__(self) -> subprocess.CompletedProcess[Any]:
        directory, name = os.path.split(self.path)
        return subprocess.run(
            [name], executable=self.path, cwd=directory, check=True, **self.popen_kwargs
        )

    def __repr__(self) -> str:
        return f"<executable {self.path}>"


class FilesystemFactory(BaseFactory):
    """Yields a task per executable file under a directory.

    Hidden files and directories (names starting with ``.``) are skipped, as
    are files that are not executable. Symbolic links to directories are
    followed with ``follow=True``. Any other keyword argument is passed to
    ``subprocess.run`` (``stdout=subprocess.PIPE`` to capture the output,
    ``subprocess.DEVNULL`` to discard it; by default it is not touched).
    Each task (an :class:`Executable`) returns the ``CompletedProcess``, and
    raises ``CalledProcessError`` when the file exits with non-zero.

    The callpath of a file is the directory given, split at ``/``, then the
    subdirectories below it and the file name: ``FilesystemFactory()("t")``
    finds ``t/net/ping.sh`` as ``['t', 'net', 'ping.sh']``.
    """

    def __init__(self, follow: bool = False, **popen_kwargs: Any) -> None:
        super().__init__()
        self.follow_symlinks = follow
        self.extra_args = popen_kwargs

    def valid_executable(self, dirpath: str, fname: str) -> bool:
        """Whether ``fname`` in ``dirpath`` is a file this user may execute."""
        full = os.path.join(dirpath, fname)
        return os.path.isfile(full) and os.access(full, os.X_OK)

    def wrap_executable(self, dirpath: str, fname: str, path: list[str]) -> Executable:
        """The task running ``fname`` of ``dirpath``, stamped with ``path`` + its name."""
        task = Executable(os.path.join(dirpath, fname), self.extra_args)
        self.callpath_burn(task, fname, path=path)
        return task

    def __call__(self, startpath: str | os.PathLike[str]) -> Iterator[Executable]:  # type: ignore[override]
        """Yield a task per executable under ``startpath``, in name order."""
        start = os.path.normpath(os.fspath(startpath))
        base = [part for part in Path(start).parts if part not in ("/", ".")]
        for dirpath, dirs, files in os.walk(start, followlinks=self.follow_symlinks):
            # hidden directories: pruned in place, so os.walk does not enter them
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = os.path.relpath(dirpath, start)
            path = base + ([] if rel == "." else list(Path(rel).parts))
            for fname in sorted(files):
                if not fname.startswith(".") and self.valid_executable(dirpath, fname):
                    yield self.wrap_executable(dirpath, fname, path)
