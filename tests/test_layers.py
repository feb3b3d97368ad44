"""The layers point one way: facade -> engine -> plain state -> vocabulary.

The contract lives in ``pyproject.toml`` (import-linter's ``layers``); these
tests run it on the tree, and on a copy with one import turned upward to show
that the contract is really checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = shutil.which("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS is not None, "import-linter (the test extra) is not installed"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=50,
    )  # fmt: skip


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("pexen", "actors"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layer_contract_holds() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("pexen/state/taskspec.py", "import actors.messages"),
        ("pexen/vocab/meta.py", "import pexen.state.taskspec"),
        ("actors/planner.py", "import pexen.sched.scheduler"),
    ],
)
def test_an_upward_import_breaks_the_contract(tree_copy: Path, module: str, upward: str) -> None:
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{upward}  # noqa\n")
    done = _lint_imports(tree_copy)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout or "broken" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "module", ["actors.workerset", "actors.planner", "pexen.state.taskspec", "pexen.vocab.meta"]
)
def test_each_layer_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0, done.stderr
