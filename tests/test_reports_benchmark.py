"""``python -m benchmarks.observer_overhead`` runs and prints its figures.

The figures themselves are not judged: a test asserts no speed.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(90)
def test_observer_overhead_benchmark_runs():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.observer_overhead", "--n", "300", "--rounds", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "W1 at 300 tasks, ThreadWorkerPool(workers=2, spare=1), 2 rounds alternating; "
        "median wall time:"
    )
    row = (
        r"  {} +\d+\.\d ms +\d+ tasks/s  x\d\.\d{{3}} of unobserved  "
        r"\(min \d+\.\d, max \d+\.\d ms\)"
    )
    for line, name in zip(lines[1:4], ["none", "no-op observer", "TraceReport"], strict=True):
        assert re.fullmatch(row.format(re.escape(name)), line), line
    assert re.fullmatch(r"  \(the trace file of the last TraceReport run: \d+\.\d\d MB\)", lines[4])
    assert len(lines) == 5 and proc.stderr == ""
