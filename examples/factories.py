"""Factories: tasks collected from a package, a module and a directory of scripts.

Instead of listing tasks by hand, let ``pexen.factory`` find them:

- ``ModTreeFactory`` walks a package and its subpackages and yields every
  function tagged with ``func_meta`` (here the package
  ``examples/testsuite/net``); ``callpath_push`` roots their callpaths;
- ``ModuleFactory(match="check_*")`` takes the functions of one module
  whose names match, tagged or not (here this very script's ``check_*``);
- ``FilesystemFactory`` wraps every executable file under a directory as a
  task that runs it in its directory (here ``examples/testsuite/scripts``;
  its hidden script is skipped); the task returns the ``CompletedProcess``.

Every task carries its callpath (``get_callpath``), its hierarchical name.
Expected (on either pool):

    net/test_addr/test_loopback              ok
    net/test_addr/test_network_size          ok
    factories/check_python                   ok
    factories/check_platform                 ok
    examples/testsuite/scripts/check_tools.sh  ok  (tools ok)
    examples/testsuite/scripts/check_words.sh  ok
    factories behaved as designed

Usage: python examples/factories.py [thread|process]
"""

import os
import subprocess
import sys
from pathlib import Path

from pexen import sched
from pexen.factory import FilesystemFactory, ModTreeFactory, ModuleFactory, get_callpath

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool

HERE = Path(__file__).resolve().parent


def check_python():
    assert sys.version_info >= (3, 11)


def check_platform():
    assert os.name == "posix"


# a package: examples/ on the path, so that testsuite.net imports as a package
sys.path.insert(0, str(HERE))
import testsuite.net  # noqa: E402

tree = ModTreeFactory()
tree.callpath_push("net")  # callpaths below the package start with its name
tasks = list(tree(testsuite.net))

# a module, here this script itself: the functions named check_*
module = ModuleFactory(match="check_*")
module.callpath_push("factories")
tasks += module(sys.modules[__name__])

# a directory of executables, from examples/.. so that callpaths read examples/...
os.chdir(HERE.parent)
tasks += FilesystemFactory(stdout=subprocess.PIPE, text=True)("examples/testsuite/scripts")

names, failed = [], []
for res in sched.Sched(tasks).run(Pool(workers=2)):
    name = "/".join(get_callpath(res.task))
    names.append(name)
    status = "ok" if res.excinfo is None else f"FAILED {res.excinfo.type.__name__}"
    if res.excinfo is not None:
        failed.append(name)
    out = f"  ({res.ret.stdout.strip()})" if getattr(res.ret, "stdout", None) else ""
    print(f"{name:<42} {status}{out}")

assert sorted(names) == sorted(
    [
        "net/test_addr/test_loopback",
        "net/test_addr/test_network_size",
        "factories/check_python",
        "factories/check_platform",
        "examples/testsuite/scripts/check_tools.sh",
        "examples/testsuite/scripts/check_words.sh",
    ]
), names
assert not failed, failed
print("factories behaved as designed")
