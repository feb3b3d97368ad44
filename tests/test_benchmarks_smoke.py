"""Smoke test of the benchmark harness: tiny sizes, no timing assertions.

Runs ``python -m benchmarks --quick --tiny --no-legacy --no-dask`` (the legacy
peer needs its venv from PyPI; dask is optional) and checks that the table and
the JSON results are well formed: every workload present, every number
positive, pexen measured on every workload.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")
UNITS = {"tasks/s", "us/hop", "wall/ideal"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--tiny",
            "--no-legacy",
            "--no-dask",
            "--reps",
            "2",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def _positive(x):
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


@pytest.mark.timeout(120)
def test_json_is_well_formed(tiny_run):
    _table, doc = tiny_run
    assert doc["mode"] == "tiny"
    assert set(doc["workloads"]) == set(WORKLOADS)
    results = doc["results"]
    assert {r["workload"] for r in results} == set(WORKLOADS)
    for r in results:
        assert r["unit"] in UNITS
        assert r["status"] in {"ok", "skipped", "n/a", "error"}
        if r["status"] != "ok":
            assert r["reason"]
            continue
        assert r["reps_ok"] >= 1
        for key in ("metric", "wall_median_s", "per_task_us", "rss_mb"):
            assert _positive(r[key]), (r["workload"], r["impl"], key, r[key])
        if r["impl"] != "pexen":
            assert _positive(r["ratio"]), r
        if r["scaling"] is not None:
            assert _positive(r["scaling"]), r
    for run in doc["runs"]:
        if run["ok"]:
            assert _positive(run["wall_s"]) and _positive(run["rss_kb"]), run
    for t in doc["targets"]:
        assert t["status"] in {"met", "NOT MET", "n/a"}
        assert t["measured"] is None or _positive(t["measured"])


@pytest.mark.timeout(120)
def test_pexen_and_peers_measured_everywhere(tiny_run):
    _table, doc = tiny_run
    ok = {(r["workload"], r["impl"]) for r in doc["results"] if r["status"] == "ok"}
    for wid in WORKLOADS:
        assert (wid, "pexen") in ok, [
            (r["impl"], r["status"], r["reason"]) for r in doc["results"] if r["workload"] == wid
        ]
        assert (wid, "cf") in ok
    assert ("W4", "pipe") in ok and ("W4", "queue") in ok


@pytest.mark.timeout(120)
def test_table_is_well_formed(tiny_run):
    table, doc = tiny_run
    lines = table.splitlines()
    assert lines[0].startswith("pexen benchmarks")
    assert lines[1].split()[:4] == ["workload", "size", "implementation", "median"]
    rows = [ln.split() for ln in lines if re.match(r"W[1-6] +[0-9]", ln)]
    assert {r[0] for r in rows} == set(WORKLOADS)
    for r in rows:
        if "ERROR:" in r or "skipped:" in r:
            continue
        unit_at = next(i for i, v in enumerate(r) if v in UNITS)
        assert float(r[unit_at - 1].replace(",", "")) > 0, r
    assert "Targets (BENCHMARKS.md):" in lines
    targets = lines[lines.index("Targets (BENCHMARKS.md):") + 1 :]
    assert len([t for t in targets if t.strip()]) == len(doc["targets"])
    assert table.rstrip("\n") == doc["table"]
