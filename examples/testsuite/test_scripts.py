"""The shell-script tests of ``scripts/``, collected as tasks of this module.

``FilesystemFactory`` wraps each executable file there as a task running it
(in its directory; a non-zero exit fails it); tagging them here makes them
tests of this module, named ``testsuite/test_scripts/<file>``.
"""

import subprocess
from pathlib import Path

from pexen.factory import FilesystemFactory
from pexen.sched.meta import func_meta

for _task in FilesystemFactory(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)(
    Path(__file__).parent / "scripts"
):
    globals()[Path(_task.path).name] = func_meta(_task)
del _task
