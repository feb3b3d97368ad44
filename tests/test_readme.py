"""The README's examples run and print what the README says they print.

Every Python block of the README that is followed by a "prints" block is run
as a script in a fresh directory; its output, with object addresses taken
out, must be the printed block, line for line (in any order where the README
says the order varies).
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def _examples() -> list[tuple[str, str, str]]:
    """(code, the prose after it, the block it prints) for each such example."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in _FENCE.finditer(README)]
    found = []
    for (lang, code, _, end), (nlang, printed, nstart, _) in itertools.pairwise(blocks):
        prose = README[end:nstart]
        if lang == "python" and nlang == "" and "prints" in prose:
            found.append((code, prose, printed))
    return found


def _normalized(text: str) -> list[str]:
    return [re.sub(r" at 0x[0-9a-f]+>", " ...>", line) for line in text.splitlines()]


def test_the_readme_has_examples_with_their_output() -> None:
    assert len(_examples()) >= 2


@pytest.mark.parametrize(
    "code, prose, printed", _examples(), ids=[f"example{i}" for i in range(len(_examples()))]
)
def test_a_readme_example_prints_what_the_readme_says(
    code: str, prose: str, printed: str, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got, want = _normalized(done.stdout), _normalized(printed)
    if "order" in prose:  # "in the order the tasks finish"
        got, want = sorted(got), sorted(want)
    assert got == want
