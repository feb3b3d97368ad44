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
    assert "Targets:" in lines
    targets = lines[lines.index("Targets:") + 1 :]
    assert len([t for t in targets if t.strip()]) == len(doc["targets"])
    assert table.rstrip("\n") == doc["table"]


# --------------------------------------------------------------------------
# The legacy at a target size over the budget: one run (no subprocess below)
# --------------------------------------------------------------------------
def _harness():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks import harness

    return harness


def _plan(mode="full", impl="legacy", wid="W3", n=10000, est=270.0, **kw):
    budgets = {"reps": 5, "budget": 60.0, "target_budget": 420.0, "timeout": 300.0} | kw
    return _harness().plan_run(mode, impl, wid, n, est, **budgets)


def test_plan_run_within_budget_runs_as_usual():
    h = _harness()
    assert _plan(est=30.0) == h.RunPlan(True, 5, 300.0)
    assert _plan(est=None) == h.RunPlan(True, 5, 300.0)
    assert _plan(impl="pexen", est=270.0) == h.RunPlan(True, 5, 300.0)  # 5x the budget


def test_plan_run_legacy_at_target_size_runs_once():
    plan = _plan(est=270.0)
    assert (plan.run, plan.reps, plan.timeout) == (True, 1, 540.0)
    assert plan.reason.startswith("1 run: over the budget, at a target size")
    assert _plan(est=100.0).timeout == 300.0  # never below --timeout
    for wid in ("W1", "W2"):
        assert _plan(wid=wid, est=200.0).reps == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"mode": "quick"},
        {"mode": "tiny"},
        {"n": 100000},
        {"n": 1000},
        {"wid": "W5"},
        {"impl": "cf"},
        {"est": 500.0},
        {"target_budget": 0.0},
    ],
)
def test_plan_run_skips_elsewhere(kw):
    plan = _plan(**kw)
    assert not plan.run and plan.reason.startswith("skipped: est."), plan


def test_full_mode_runs_the_legacy_once_at_10k(monkeypatch, tmp_path, capsys):
    """The harness loop in full mode with run_one faked (nothing is run)."""
    h = _harness()
    calls = []

    def fake_run_one(python, wl, impl, n, rep, args, iters, timeout=None):
        calls.append((impl, n, rep, timeout))
        per_task = {"pexen": 20e-6, "cf": 30e-6}.get(impl, 2.7e-6 * n)  # legacy: quadratic
        return h.RunResult(
            wl.wid, impl, n, rep, ok=True, wall_s=per_task * n, rss_kb=10240, timeout_s=timeout
        )

    monkeypatch.setattr(h, "run_one", fake_run_one)
    monkeypatch.setattr(h, "ensure_legacy", lambda venv, log: ("legacy-python", None))
    out = tmp_path / "run.json"
    argv = ["--only", "W3", "--peers", "legacy,cf", "--no-snapshot", "--json", str(out)]
    assert h.main(argv) == 0
    capsys.readouterr()
    doc = json.loads(out.read_text())
    cells = {(r["impl"], r["n"]): r for r in doc["results"]}

    legacy = cells[("legacy", 10000)]
    assert legacy["status"] == "ok" and legacy["reps_ok"] == 1
    assert legacy["single_run"].startswith("1 run: over the budget, at a target size")
    assert legacy["single_run"] in legacy["note"]
    assert cells[("legacy", 1000)]["single_run"] is None
    assert cells[("legacy", 100000)]["status"] == "skipped"
    assert cells[("pexen", 10000)]["reps_ok"] == 5 and cells[("cf", 10000)]["reps_ok"] == 5

    at_10k = [(impl, rep, timeout) for impl, n, rep, timeout in calls if n == 10000]
    assert at_10k[:3] == [("pexen", 0, 300.0), ("legacy", 0, 540.0), ("cf", 0, 300.0)]
    assert [impl for impl, _, _ in at_10k[3:]] == ["pexen", "cf"] * 4  # still alternating
    w3 = next(t for t in doc["targets"] if t["text"] == "W3@10k throughput pexen/legacy")
    assert "vs legacy 0.0.3@10k" in w3["detail"] and "1 run" in w3["detail"]
