"""How an exec'd zygote starts: without ``site`` when its import hooks can be
installed again, with it otherwise (real processes, in a threaded process)."""

from __future__ import annotations

import builtins
import sys
import threading
from collections.abc import Iterator

import pytest
from helpers import new_pool, tagged

from actors import zygote
from pexen import sched


def _names(finders: list[object]) -> list[str]:
    return [f.__name__ if isinstance(f, type) else type(f).__name__ for f in finders]


def _probe() -> tuple[int, list[str], list[bool], list[str], tuple[str, str]]:
    """What the worker process's interpreter looks like."""
    import builtins as b
    import sys as s

    return (
        s.flags.no_site,
        _names(s.meta_path),
        [hasattr(b, n) for n in ("exit", "quit", "help", "copyright", "credits", "license")],
        list(s.path),
        (s.prefix, s.exec_prefix),
    )


@pytest.fixture
def foreign_thread() -> Iterator[None]:
    """A thread of the process's own: the zygote is exec'd, not forked."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    other.start()
    try:
        yield
    finally:
        stop.set()
        other.join()


def _run_probe() -> tuple[int, list[str], list[bool], list[str], tuple[str, str]]:
    [res] = list(sched.Sched([tagged("probe", _probe)]).run(new_pool("process", workers=1)))
    assert res.excinfo is None, res.excinfo
    return res.ret


class _UnknownFinder:
    """An import hook of a kind the zygote cannot install again."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        return None


_FAKE_EDITABLE = """
import sys
import types
from importlib.machinery import ModuleSpec


class _Loader:
    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        module.ANSWER = 42


class _EditableFinder:  # as setuptools writes one for an editable install
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "pexen_virtual_probe":
            return ModuleSpec(fullname, _Loader())
        return None


def install():
    if _EditableFinder not in sys.meta_path:
        sys.meta_path.append(_EditableFinder)
"""


def _known_hooks_only(monkeypatch, tmp_path):
    """Only the import hooks an exec'd zygote can install again, among them
    one found nowhere but through its finder (as an editable install's
    package is), as a ``.pth`` line would install it."""
    (tmp_path / "__editable___probe_finder.py").write_text(_FAKE_EDITABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    # pytest's assertion rewriter, say: no .pth file's, so no child ever had it
    kept = [f for f in sys.meta_path if zygote.reinstall_step(f) is not None]
    monkeypatch.setattr(sys, "meta_path", kept)
    monkeypatch.delitem(sys.modules, "__editable___probe_finder", raising=False)
    import __editable___probe_finder  # type: ignore[import-not-found]

    __editable___probe_finder.install()
    return __editable___probe_finder


def _import_probe() -> int:
    import pexen_virtual_probe  # type: ignore[import-not-found]

    return pexen_virtual_probe.ANSWER


def test_without_site_the_worker_has_the_hooks_path_and_builtins_of_site(
    foreign_thread, monkeypatch, tmp_path
):
    _known_hooks_only(monkeypatch, tmp_path)
    # as in a virtual environment, where site sets them from pyvenv.cfg
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "exec_prefix", str(tmp_path / "venv"))
    steps = zygote.site_free_hooks()
    assert steps is not None and "__editable___probe_finder.install()" in steps
    no_site, finders, builtins_there, path, prefixes = _run_probe()
    assert no_site == 1
    assert prefixes == (sys.prefix, sys.exec_prefix)  # a venv's, as site sets them
    assert finders == _names(sys.meta_path)  # the same hooks, in the same order
    assert all(builtins_there)
    assert all(entry in path for entry in sys.path)
    [res] = list(sched.Sched([tagged("imp", _import_probe)]).run(new_pool("process", workers=1)))
    assert res.excinfo is None and res.ret == 42  # through the hook, in the worker


def test_an_unknown_import_hook_makes_the_zygote_run_site(foreign_thread, monkeypatch, tmp_path):
    _known_hooks_only(monkeypatch, tmp_path)
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, _UnknownFinder()])
    assert zygote.site_free_hooks() is None
    no_site, _, builtins_there, _, _ = _run_probe()
    assert no_site == 0
    assert all(builtins_there)


def test_which_hooks_allow_a_start_without_site(monkeypatch):
    import importlib.machinery as machinery
    import zipimport

    stock = [machinery.BuiltinImporter, machinery.FrozenImporter, machinery.PathFinder]
    file_hook = machinery.FileFinder.path_hook(
        (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES)
    )
    monkeypatch.setattr(sys, "meta_path", stock)
    monkeypatch.setattr(sys, "path_hooks", [zipimport.zipimporter, file_hook])
    steps = zygote.site_free_hooks()
    assert steps is not None and "install" not in steps and "site.setquit()" in steps
    monkeypatch.setattr(sys, "path_hooks", [zipimport.zipimporter, file_hook, lambda p: None])
    assert zygote.site_free_hooks() is None  # a path hook of unknown kind
    monkeypatch.setattr(sys, "path_hooks", [zipimport.zipimporter, file_hook])
    monkeypatch.setitem(sys.modules, "sitecustomize", builtins)  # any module will do
    assert zygote.site_free_hooks() is None
