"""The side benchmarks (``python -m benchmarks.X``) run and print their figures.

The figures themselves are not judged: a test asserts no speed.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_module(module: str, *args: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=80,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


@pytest.mark.timeout(90)
def test_cancel_latency_benchmark_runs():
    out = _run_module("benchmarks.cancel_latency", "--runs", "2")
    assert re.fullmatch(
        r"cancel \(gen\.close\(\) with 2 process tasks running\), 2 runs: "
        r"median \d+\.\d ms, min \d+\.\d ms, max \d+\.\d ms\n",
        out,
    ), out


@pytest.mark.timeout(90)
def test_observer_overhead_benchmark_runs():
    lines = _run_module("benchmarks.observer_overhead", "--n", "300", "--rounds", "2").splitlines()
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
    assert len(lines) == 5


@pytest.mark.timeout(90)
def test_add_cost_benchmark_runs():
    lines = _run_module("benchmarks.add_cost", "--sizes", "1200,1500").splitlines()
    assert lines[0] == "add_tasks([task]) before a run, median of 1000 calls at each size:"
    assert re.fullmatch(r"     1200 tasks: +\d+\.\d us per call  x1\.00", lines[1]), lines[1]
    assert re.fullmatch(r"     1500 tasks: +\d+\.\d us per call  x\d+\.\d\d", lines[2]), lines[2]
    assert len(lines) == 3
