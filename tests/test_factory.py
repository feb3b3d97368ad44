"""pexen.factory: tasks from package trees, modules and executable files, with callpaths."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers import EVENT_TIMEOUT, by_task

from pexen import PexenError, sched
from pexen.factory import (
    BaseFactory,
    CollectionError,
    FilesystemFactory,
    ModTreeFactory,
    ModuleFactory,
    get_callpath,
    has_callpath,
    import_dotted,
    import_file,
    import_package_dir,
    set_callpath,
)

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def dummygen():
    return import_package_dir(DATA / "dummygen")


def callpaths(tasks):
    return sorted(get_callpath(t) for t in tasks)


# -- callpaths and BaseFactory --------------------------------------------------


def test_callpath_is_stamped_on_the_task_as_a_copy():
    def task():
        pass

    assert not has_callpath(task)
    with pytest.raises(AttributeError, match="no callpath"):
        get_callpath(task)
    path = ["a", "b"]
    set_callpath(task, path)
    path.append("c")
    assert has_callpath(task)
    assert get_callpath(task) == ["a", "b"]


def test_base_factory_push_pop_burn_transfer():
    def t1():
        pass

    def t2():
        pass

    factory = BaseFactory()
    assert list(factory()) == []
    factory.callpath_push("pkg")
    factory.callpath_push("mod")
    factory.callpath_burn(t1, "t1")
    assert factory.callpath_pop() == "mod"
    factory.callpath_burn(t2)  # no name: the current path itself
    factory.callpath_push("other")
    assert get_callpath(t1) == ["pkg", "mod", "t1"]
    assert get_callpath(t2) == ["pkg"]  # later pushes do not change a stamp
    factory.callpath_burn(t2, "t2", path=["x"])
    assert get_callpath(t2) == ["x", "t2"]

    sub = BaseFactory()
    factory.callpath_transfer(sub)
    assert sub.callpath == ["pkg", "other"]
    sub.callpath_push("deeper")
    assert factory.callpath == ["pkg", "other"]


def test_burning_an_object_without_attributes_says_why():
    with pytest.raises(TypeError, match="takes no attributes"):
        BaseFactory().callpath_burn(len, "len")


# -- ModTreeFactory, ModuleFactory ------------------------------------------------


def test_modtree_yields_tagged_functions_with_their_callpaths(dummygen):
    tasks = list(ModTreeFactory()(dummygen))
    assert callpaths(tasks) == [
        ["dummy1"],
        ["mod_a", "dummy2"],
        ["subdummygen", "dummy3"],
        ["subdummygen", "mod_b", "dummy4"],
    ]
    assert sorted(t() if t.__name__ != "dummy4" else t({}) for t in tasks) == [
        "dummy1", "dummy2", "dummy3", "dummy4",
    ]  # fmt: skip


def test_modtree_match_adds_untagged_functions_by_name(dummygen):
    tasks = list(ModTreeFactory(match="match_*")(dummygen))
    names = callpaths(tasks)
    assert ["match_top"] in names
    assert ["mod_a", "match_a"] in names
    assert ["mod_a", "helper_a"] not in names
    assert len(names) == 6


def test_modtree_collects_a_task_once_under_its_own_module(dummygen):
    tasks = list(ModTreeFactory()(dummygen))
    dummy2 = sys.modules["dummygen.mod_a"].dummy2
    assert tasks.count(dummy2) == 1
    assert get_callpath(dummy2) == ["mod_a", "dummy2"]  # not subdummygen's import of it
    dummy3 = sys.modules["dummygen.subdummygen"].dummy3
    assert tasks.count(dummy3) == 1  # alias3 is the same task
    assert get_callpath(dummy3) == ["subdummygen", "dummy3"]


def test_modtree_callpath_push_roots_the_paths(dummygen):
    factory = ModTreeFactory()
    factory.callpath_push("dummygen")
    paths = callpaths(factory(dummygen))
    assert paths[0] == ["dummygen", "dummy1"]
    assert ["dummygen", "subdummygen", "mod_b", "dummy4"] in paths
    assert factory.callpath == ["dummygen"]


def test_module_factory_takes_one_module(dummygen):
    mod = sys.modules["dummygen.mod_a"]
    assert callpaths(ModuleFactory()(mod)) == [["dummy2"]]
    assert callpaths(ModuleFactory(match="*_a")(mod)) == [["dummy2"], ["helper_a"], ["match_a"]]


def test_collected_tasks_run_with_deps(dummygen, pool):
    tasks = list(ModTreeFactory()(dummygen))
    results = by_task(sched.Sched(tasks).run(pool))
    assert {"/".join(get_callpath(t)): r.ret for t, r in results.items()} == {
        "dummy1": "dummy1",
        "mod_a/dummy2": "dummy2",
        "subdummygen/dummy3": "dummy3",
        "subdummygen/mod_b/dummy4": "dummy4",
    }


def _package(root: Path, name: str, files: dict[str, str]) -> Path:
    pkg = root / name
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pkg


def test_a_module_raising_on_import_is_a_collection_error(tmp_path):
    pkg = _package(
        tmp_path,
        "broken_walk_pkg",
        {"__init__.py": "", "test_ok.py": "", "test_bad.py": "x = 1\nraise KeyError('nope')\n"},
    )
    with pytest.raises(CollectionError) as info:
        list(ModTreeFactory()(import_package_dir(pkg)))
    err = info.value
    assert isinstance(err, PexenError)
    assert err.path == str(pkg / "test_bad.py")
    assert str(err) == (
        f"{pkg / 'test_bad.py'}: cannot import broken_walk_pkg.test_bad: KeyError: 'nope'"
    )
    assert isinstance(err.__cause__, KeyError)


def test_import_helpers_refuse_what_they_cannot_import(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(CollectionError, match=r"no __init__\.py"):
        import_package_dir(tmp_path / "plain")
    with pytest.raises(CollectionError, match="no such module"):
        import_dotted("pexen_no_such_module_here")
    exits = tmp_path / "exits_on_import.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(CollectionError, match="SystemExit: 3"):
        import_file(exits)
    assert "exits_on_import" not in sys.modules
    shadow = _package(tmp_path, "json", {"__init__.py": ""})  # the stdlib's is imported
    with pytest.raises(CollectionError, match="'json' is taken"):
        import_package_dir(shadow)


def test_import_file_takes_a_py_file_and_its_neighbours(tmp_path):
    (tmp_path / "neighbour_mod_xyz.py").write_text("VALUE = 7\n")
    path = tmp_path / "file_target_xyz.py"
    path.write_text(
        "from neighbour_mod_xyz import VALUE\n"
        "from pexen.sched.meta import func_meta\n"
        "@func_meta\ndef seven():\n    return VALUE\n"
    )
    mod = import_file(path)
    [task] = ModuleFactory()(mod)
    assert task() == 7
    assert get_callpath(task) == ["seven"]
    assert import_file(path) is mod


# -- FilesystemFactory ------------------------------------------------------------


def _script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
def scripts(tmp_path):
    top = tmp_path / "scripts"
    _script(top / "a.sh", 'echo "a in $(pwd)"')
    _script(top / "sub" / "b.sh", "echo b")
    _script(top / ".hidden.sh", "echo hidden")
    _script(top / ".hiddendir" / "c.sh", "echo c")
    _script(top / "notexec.sh", "echo notexec", mode=0o644)
    (top / "data.txt").write_text("not a script\n")
    elsewhere = _script(tmp_path / "elsewhere" / "linked.sh", "echo linked")
    (top / "link").symlink_to(elsewhere.parent, target_is_directory=True)
    return top


def test_filesystem_factory_finds_executables_skipping_hidden(scripts, monkeypatch):
    monkeypatch.chdir(scripts.parent)
    tasks = list(FilesystemFactory()("scripts"))
    assert callpaths(tasks) == [["scripts", "a.sh"], ["scripts", "sub", "b.sh"]]


def test_filesystem_factory_follow_enters_linked_directories(scripts, monkeypatch):
    monkeypatch.chdir(scripts.parent)
    tasks = list(FilesystemFactory(follow=True)("./scripts/"))
    assert ["scripts", "link", "linked.sh"] in callpaths(tasks)
    assert len(tasks) == 3


def test_filesystem_task_runs_in_its_directory_and_returns_the_process(scripts):
    [task] = [
        t for t in FilesystemFactory(stdout=subprocess.PIPE, text=True)(scripts) if
        get_callpath(t)[-1] == "a.sh"
    ]  # fmt: skip
    assert get_callpath(task)[-2:] == ["scripts", "a.sh"]
    done = task()
    assert isinstance(done, subprocess.CompletedProcess)
    assert done.returncode == 0
    assert done.stdout == f"a in {scripts}\n"
    assert pickle.loads(pickle.dumps(task))().stdout == done.stdout


def test_a_failing_script_fails_its_task(tmp_path, pool):
    _script(tmp_path / "fail.sh", "echo bad; exit 3")
    _script(tmp_path / "good.sh", "echo good")
    tasks = list(FilesystemFactory(stdout=subprocess.PIPE)(tmp_path))
    results = {get_callpath(t)[-1]: r for t, r in by_task(sched.Sched(tasks).run(pool)).items()}
    assert results["good.sh"].excinfo is None
    assert results["good.sh"].ret.stdout == b"good\n"
    fail = results["fail.sh"]
    assert fail.excinfo.type is subprocess.CalledProcessError
    assert fail.excinfo.val.returncode == 3
    assert fail.excinfo.val.output == b"bad\n"


def test_a_timed_out_script_takes_its_children_along(tmp_path):
    pidfile = tmp_path / "child.pid"
    _script(tmp_path / "hang.sh", f"sleep 300 &\necho $! > {pidfile}\nwait")
    [task] = FilesystemFactory()(tmp_path)
    sched.meta.assign_val(task, timeout=1)
    [res] = sched.Sched([task]).run(sched.pool.ProcessWorkerPool(1))
    assert res.excinfo.type is sched.TaskTimeoutError
    try:
        child = psutil.Process(int(pidfile.read_text()))
    except psutil.NoSuchProcess:
        return  # gone already
    child.wait(timeout=EVENT_TIMEOUT)  # killed with the task's tree (raises if it is not)


def test_a_task_that_cannot_carry_a_callpath_is_a_collection_error(tmp_path):
    path = tmp_path / "bound_task_mod_xyz.py"
    path.write_text(
        "from pexen.sched.meta import func_meta\n"
        "class Checks:\n"
        "    @func_meta\n"
        "    def check(self):\n"
        "        pass\n"
        "check_bound = Checks().check  # a bound method: it has the function's metadata\n"
    )
    problem = r"task 'check_bound': .* takes no attributes"
    with pytest.raises(CollectionError, match=problem) as info:
        list(ModuleFactory()(import_file(path)))
    assert info.value.path == str(path)
