"""``python -m benchmarks.cancel_latency`` runs and prints its figures.

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
def test_cancel_latency_benchmark_runs():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cancel_latency", "--runs", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(
        r"cancel \(gen\.close\(\) with 2 process tasks running\), 2 runs: "
        r"median \d+\.\d ms, min \d+\.\d ms, max \d+\.\d ms\n",
        proc.stdout,
    ), proc.stdout
    assert proc.stderr == ""
