"""Smoke test of the benchmark harness: tiny sizes, no timing assertions.

Runs ``python -m benchmarks --quick --tiny --no-legacy --no-dask`` (the legacy
peer needs its venv from PyPI; dask is optional) and checks that the table and
the JSON results are well formed: every workload present, every number
positive, pexen measured on every workload (W7 only where this pexen has
``Sched.serve()``; it is reported as skipped otherwise). Below that, the
harness's own logic without subprocesses: run planning, the targets judged
from given cells, the W7 skip path.
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
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9")
UNITS = {"tasks/s", "us/hop", "wall/ideal", "MB/s"}
NO_SERVE = "skipped: this pexen has no Sched.serve()"


def _has_serve():
    from pexen.sched import Sched

    return hasattr(Sched, "serve")


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
    pexen_ok = {
        (r["workload"], r["n"]) for r in results if r["impl"] == "pexen" and r["status"] == "ok"
    }
    for r in results:
        assert r["unit"] in UNITS
        assert r["status"] in {"ok", "skipped", "n/a", "error"}
        if r["status"] != "ok":
            assert r["reason"]
            continue
        assert r["reps_ok"] >= 1
        for key in ("metric", "wall_median_s", "per_task_us", "rss_mb"):
            assert _positive(r[key]), (r["workload"], r["impl"], key, r[key])
        if r["impl"] != "pexen" and (r["workload"], r["n"]) in pexen_ok:
            assert _positive(r["ratio"]), r
        if r["scaling"] is not None:
            assert _positive(r["scaling"]), r
    for run in doc["runs"]:
        if run["ok"]:
            assert _positive(run["wall_s"]) and _positive(run["rss_kb"]), run
    for t in doc["targets"]:
        assert t["status"] in {"met", "NOT MET", "n/a"}
        if t["unit"] == "MB":  # a difference of peak RSS: may be below 0
            assert t["measured"] is None or math.isfinite(t["measured"])
        else:
            assert t["measured"] is None or _positive(t["measured"])


@pytest.mark.timeout(120)
def test_pexen_and_peers_measured_everywhere(tiny_run):
    _table, doc = tiny_run
    ok = {(r["workload"], r["impl"]) for r in doc["results"] if r["status"] == "ok"}
    for wid in WORKLOADS:
        if wid == "W7" and not _has_serve():
            continue
        assert (wid, "pexen") in ok, [
            (r["impl"], r["status"], r["reason"]) for r in doc["results"] if r["workload"] == wid
        ]
        assert (wid, "cf") in ok
    assert ("W4", "pipe") in ok and ("W4", "queue") in ok
    assert ("W9", "pipe") in ok


@pytest.mark.timeout(120)
def test_w7_pexen_runs_or_says_why_not(tiny_run):
    _table, doc = tiny_run
    w7 = [r for r in doc["results"] if r["workload"] == "W7" and r["impl"] == "pexen"]
    assert sorted(r["n"] for r in w7) == [20, 60, 200]
    if _has_serve():
        assert all(r["status"] == "ok" for r in w7), w7
    else:
        assert all((r["status"], r["reason"]) == ("skipped", NO_SERVE) for r in w7), w7
        texts = {t["text"]: t for t in doc["targets"]}
        for text in ("W7 scaling ratio (per task 100k / 10k)", "W7 peak RSS at 1M minus at 100k"):
            assert (texts[text]["status"], texts[text]["detail"]) == ("n/a", NO_SERVE)


@pytest.mark.timeout(120)
def test_w8_runs_beside_a_thread_and_w9_delivers_its_bytes(tiny_run):
    _table, doc = tiny_run
    runs = [r for r in doc["runs"] if r["ok"]]
    threads = {
        (r["workload"], r["impl"]): r["record"]["threads"]
        for r in runs
        if r["workload"] in ("W2", "W8")
    }
    assert threads == {("W2", "pexen"): 1, ("W2", "cf"): 1, ("W8", "pexen"): 2, ("W8", "cf"): 2}
    w9 = [r for r in runs if r["workload"] == "W9"]
    assert {(r["impl"], r["n"]) for r in w9} == {
        (i, n) for i in ("pexen", "cf", "pipe") for n in (2, 8)
    }
    for r in w9:  # the same bytes at each size: 8 MB in --tiny
        assert r["record"]["payload_bytes"] == 8 << 20 == r["n"] * r["record"]["payload"], r
    cells = [c for c in doc["results"] if c["workload"] == "W9" and c["status"] == "ok"]
    assert {c["payload_bytes"] for c in cells} == {4 << 20, 1 << 20}


@pytest.mark.timeout(120)
def test_table_is_well_formed(tiny_run):
    table, doc = tiny_run
    lines = table.splitlines()
    assert lines[0].startswith("pexen benchmarks")
    assert lines[1].split()[:4] == ["workload", "size", "implementation", "median"]
    rows = [ln.split() for ln in lines if re.match(r"W[1-9] +[0-9]", ln)]
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
    assert {r[1] for r in rows if r[0] == "W9"} == {"2x4MB", "8x1MB"}


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
    assert cells[("pexen", 10000)]["reps_ok"] == 7 and cells[("cf", 10000)]["reps_ok"] == 7

    at_10k = [(impl, rep, timeout) for impl, n, rep, timeout in calls if n == 10000]
    assert at_10k[:3] == [("pexen", 0, 300.0), ("legacy", 0, 540.0), ("cf", 0, 300.0)]
    assert [impl for impl, _, _ in at_10k[3:]] == ["pexen", "cf"] * 6  # still alternating
    w3 = next(t for t in doc["targets"] if t["text"] == "W3@10k throughput pexen/legacy")
    assert "vs legacy 0.0.3@10k" in w3["detail"] and "1 run" in w3["detail"]


# --------------------------------------------------------------------------
# W7, W8, W9: the targets judged from given cells (no subprocess below)
# --------------------------------------------------------------------------
def _cell(wid, impl, n, per_task_us=None, metric=None, rss_mb=20.0, payload=None):
    h = _harness()
    wl = h.WORKLOADS[wid]
    if metric is None:
        metric = 1e6 / per_task_us
    if per_task_us is None:
        per_task_us = 1e6 / metric
    return h.Cell(
        wid,
        n,
        impl,
        h.impl_label(impl, wl),
        "ok",
        wall_median_s=per_task_us * n / 1e6,
        per_task_us=per_task_us,
        metric=metric,
        unit=h.UNIT[wl.kind],
        rss_mb=rss_mb,
        payload_bytes=payload,
    )


def _targets(cells, prefix):
    return {t.text: t for t in _harness().evaluate_targets(cells) if t.text.startswith(prefix)}


W7_SCALING = "W7 scaling ratio (per task 100k / 10k)"
W7_VS_W1 = "W7 per task pexen serve() / W1 run()"
W7_RSS = "W7 peak RSS at 1M minus at 100k"


def _w7(per_task_10k, per_task_100k, rss_100k, rss_1m, w1_100k):
    return [
        _cell("W7", "pexen", 10000, per_task_10k, rss_mb=30.0),
        _cell("W7", "pexen", 100000, per_task_100k, rss_mb=rss_100k),
        _cell("W7", "pexen", 1000000, per_task_100k, rss_mb=rss_1m),
        _cell("W1", "pexen", 10000, w1_100k),
        _cell("W1", "pexen", 100000, w1_100k),
    ]


def test_w7_targets_met():
    t = _targets(_w7(20.0, 24.0, 40.0, 59.0, 13.0), "W7")
    assert [t[x].status for x in (W7_SCALING, W7_VS_W1, W7_RSS)] == ["met"] * 3
    assert t[W7_SCALING].measured == pytest.approx(1.2)
    assert t[W7_SCALING].detail == "sizes 100k/10k"
    assert t[W7_VS_W1].measured == pytest.approx(24.0 / 13.0)
    assert t[W7_VS_W1].detail == "W7@100k vs W1@100k"
    assert t[W7_RSS].measured == pytest.approx(19.0) and t[W7_RSS].unit == "MB"
    assert t[W7_RSS].detail == "59 MB at 1M, 40 MB at 100k"


def test_w7_targets_not_met():
    t = _targets(_w7(20.0, 26.0, 40.0, 61.0, 12.0), "W7")
    assert [t[x].status for x in (W7_SCALING, W7_VS_W1, W7_RSS)] == ["NOT MET"] * 3
    assert t[W7_RSS].measured == pytest.approx(21.0)


def test_w7_targets_in_quick_say_which_sizes():
    cells = [_cell("W7", "pexen", n, 20.0, rss_mb=30.0) for n in (1000, 5000, 20000)]
    cells.append(_cell("W1", "pexen", 2000, 15.0))
    t = _targets(cells, "W7")
    assert t[W7_SCALING].detail == "sizes 20k/1k (not the 100k/10k of the target)"
    assert t[W7_VS_W1].detail == "W7@20k vs W1@2k (not the 100k of the target)"
    assert t[W7_RSS].detail.endswith("at 20k, 30 MB at 5k (not the 1M/100k of the target)")
    assert {x.status for x in t.values()} == {"met"}
    t = _targets(cells[:3], "W7")  # W1 not run
    assert (t[W7_VS_W1].status, t[W7_VS_W1].detail) == ("n/a", "W1 not run")


def test_w8_target():
    text = "W8@10k throughput pexen/ProcessPoolExecutor"
    for px, status in ((12000.0, "met"), (11000.0, "NOT MET")):
        cells = [_cell("W8", "pexen", 10000, metric=px), _cell("W8", "cf", 10000, metric=5600.0)]
        t = _targets(cells, "W8")[text]
        assert (t.status, t.detail) == (status, "pexen@10k vs ProcessPoolExecutor@10k")
        assert t.measured == pytest.approx(px / 5600.0)
    t = _targets([_cell("W8", "cf", 10000, metric=5600.0)], "W8")[text]
    assert t.status == "n/a"


W1_1M = "W1 scaling ratio (per task 1M / 100k)"
W1_100K = "W1 scaling ratio (per task 100k / 10k)"


def _w1_scaled(per_task):
    """W1 cells at 10k, 100k and 1M, with the ratios the harness adds."""
    h = _harness()
    cells = [
        _cell("W1", "pexen", n, us, rss_mb=mb)
        for n, us, mb in zip((10000, 100000, 1000000), per_task, (30.0, 110.0, 900.0), strict=True)
    ]
    h.add_ratios(cells, h.WORKLOADS["W1"])
    return cells


def test_scaling_compares_each_decade_from_10k():
    ten, hundred, million = _w1_scaled((10.0, 11.0, 13.2))
    assert ten.scaling is None
    assert (hundred.scaling, hundred.scaling_sizes) == (pytest.approx(1.1), "100k/10k")
    assert (million.scaling, million.scaling_sizes) == (pytest.approx(1.2), "1M/100k")


def test_w1_million_target_reports_rss_per_task():
    t = _targets(_w1_scaled((10.0, 11.0, 13.2)), "W1 scaling")
    assert (t[W1_100K].status, t[W1_100K].measured) == ("met", pytest.approx(1.1))
    assert t[W1_1M].status == "met" and t[W1_1M].measured == pytest.approx(1.2)
    assert t[W1_1M].detail == "sizes 1M/100k; peak RSS 900 MB, 944 B per task"
    t = _targets(_w1_scaled((10.0, 11.0, 14.0)), "W1 scaling")
    assert t[W1_1M].status == "NOT MET"
    t = _targets(_w1_scaled((10.0, 11.0, 13.0))[:2], "W1 scaling")  # 1M not run
    assert (t[W1_1M].status, t[W1_1M].detail) == ("n/a", "largest size measured 100k")


def test_raised_targets_are_judged():
    cells = [
        _cell("W1", "pexen", 10000, metric=100000.0),
        _cell("W1", "cf", 10000, metric=90000.0),
        _cell("W2", "pexen", 10000, metric=25000.0),
        _cell("W2", "cf", 10000, metric=5000.0),
    ]
    t = _targets(cells, "W")
    raised_w1 = t["W1@10k throughput pexen/ThreadPoolExecutor (raised)"]
    assert (raised_w1.status, raised_w1.bound) == ("NOT MET", 1.25)
    assert t["W1@10k throughput pexen/ThreadPoolExecutor"].status == "met"
    raised_w2 = t["W2@10k throughput pexen/ProcessPoolExecutor (raised)"]
    assert (raised_w2.status, raised_w2.measured) == ("met", pytest.approx(5.0))
    hop = [_cell("W4", "pexen", 2000, metric=60.0), _cell("W4", "pipe", 2000, metric=50.0)]
    t = _targets(hop, "W4")
    assert t["W4 per hop pexen/pipe round trip"].status == "met"
    assert t["W4 per hop pexen/pipe round trip (raised)"].status == "met"
    hop[0] = _cell("W4", "pexen", 2000, metric=80.0)  # us per hop
    assert _targets(hop, "W4")["W4 per hop pexen/pipe round trip (raised)"].status == "NOT MET"


W9_MANY = "W9 64 x 16 MB: MB/s pexen/ProcessPoolExecutor"
W9_BIG = "W9 4 x 256 MB: MB/s pexen/ProcessPoolExecutor"


def _w9(many, big, sizes=((64, 16), (4, 256))):
    (n_many, mb_many), (n_big, mb_big) = sizes
    return [
        _cell("W9", "pexen", n_many, metric=many, payload=mb_many << 20),
        _cell("W9", "cf", n_many, metric=400.0, payload=mb_many << 20),
        _cell("W9", "pipe", n_many, metric=2000.0, payload=mb_many << 20),
        _cell("W9", "pexen", n_big, metric=big, payload=mb_big << 20),
        _cell("W9", "cf", n_big, metric=400.0, payload=mb_big << 20),
    ]


def test_w9_targets_judge_both_sizes_against_the_executor():
    t = _targets(_w9(600.0, 599.0), "W9")
    assert (t[W9_MANY].status, t[W9_BIG].status) == ("met", "NOT MET")
    assert (t[W9_MANY].detail, t[W9_BIG].detail) == ("at 64x16MB", "at 4x256MB")
    assert t[W9_MANY].measured == pytest.approx(1.5)  # pexen/cf, not pexen/pipe
    t = _targets(_w9(599.0, 800.0), "W9")
    assert (t[W9_MANY].status, t[W9_BIG].status) == ("NOT MET", "met")
    t = _targets(_w9(800.0, 800.0, sizes=((16, 4), (2, 32))), "W9")
    assert t[W9_MANY].detail == "at 16x4MB (not the 64x16MB of the target)"
    assert t[W9_BIG].detail == "at 2x32MB (not the 4x256MB of the target)"


def test_w9_target_with_a_single_size():
    t = _targets(_w9(800.0, 800.0)[:2], "W9")
    assert t[W9_MANY].status == "met"
    assert (t[W9_BIG].status, t[W9_BIG].detail) == ("n/a", "a single size measured")


def test_payload_sizes_keep_the_bytes_of_a_run():
    h = _harness()
    w9 = h.WORKLOADS["W9"]
    assert [h.payload_size(w9, n, "full") for n in w9.sizes] == [256 << 20, 16 << 20]
    assert {n * h.payload_size(w9, n, "quick") for n in w9.quick} == {64 << 20}
    assert h.payload_size(h.WORKLOADS["W2"], 64, "full") == 0


# --------------------------------------------------------------------------
# W7 without Sched.serve(): skipped, its peer measured
# --------------------------------------------------------------------------
def test_worker_skips_w7_without_serve(monkeypatch):
    _harness()  # the repository on sys.path
    from benchmarks import worker
    from pexen.sched import Sched

    monkeypatch.delattr(Sched, "serve", raising=False)
    assert worker.serve_pexen(100) == {"skipped": "this pexen has no Sched.serve()"}
    assert worker.run_pexen("W7", 100, 1, 0) == {"skipped": "this pexen has no Sched.serve()"}


def test_harness_reports_w7_skipped_and_measures_its_peer(monkeypatch, tmp_path, capsys):
    """The harness loop with run_one faked: pexen says it cannot, cf runs."""
    h = _harness()
    calls = []

    def fake_run_one(python, wl, impl, n, rep, args, iters, timeout=None):
        calls.append((impl, n))
        if impl == "pexen":
            res = h.RunResult(wl.wid, impl, n, rep, ok=False, status="skipped")
            res.error = "this pexen has no Sched.serve()"
            return res
        return h.RunResult(wl.wid, impl, n, rep, ok=True, wall_s=20e-6 * n, rss_kb=10240)

    monkeypatch.setattr(h, "run_one", fake_run_one)
    out = tmp_path / "run.json"
    argv = ["--only", "W7", "--peers", "cf", "--quick", "--no-snapshot", "--json", str(out)]
    assert h.main(argv) == 0
    table = capsys.readouterr().out
    doc = json.loads(out.read_text())
    cells = {(r["impl"], r["n"]): r for r in doc["results"]}
    for n in (1000, 5000, 20000):
        assert (cells[("pexen", n)]["status"], cells[("pexen", n)]["reason"]) == (
            "skipped",
            NO_SERVE,
        )
        assert cells[("cf", n)]["status"] == "ok" and cells[("cf", n)]["reps_ok"] == 3
    # asked once: pexen cannot at any size, so it is not run again
    assert calls.count(("pexen", 1000)) == 1 and ("pexen", 5000) not in calls
    assert re.search(r"W7 +1k +pexen \[1\] +skipped: this pexen has no Sched\.serve\(\)", table)
    w7 = [t for t in doc["targets"] if t["text"].startswith("W7")]
    assert len(w7) == 3 and all((t["status"], t["detail"]) == ("n/a", NO_SERVE) for t in w7)


def test_summarize_a_skipped_run():
    h = _harness()
    res = h.RunResult("W7", "pexen", 100, 0, ok=False, status="skipped", error="it cannot")
    cell = h.summarize(h.WORKLOADS["W7"], 100, "pexen", [res])
    assert (cell.status, cell.reason, cell.metric) == ("skipped", "skipped: it cannot", None)
    res = h.RunResult("W7", "pexen", 100, 0, ok=False, status="error", error="boom")
    assert h.summarize(h.WORKLOADS["W7"], 100, "pexen", [res]).status == "error"


def test_w10_runs_on_the_dask_pool_and_its_peer(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "w10.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--tiny",
            "--only",
            "W10,W10-W5",
            "--no-legacy",
            "--reps",
            "1",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    ok = {(c["workload"], c["impl"]) for c in doc["results"] if c["status"] == "ok"}
    assert ok == {("W10", "pexen"), ("W10", "distributed"), ("W10-W5", "pexen")}, doc["results"]
    (rules,) = [r["record"] for r in doc["runs"] if r["workload"] == "W10-W5"]
    assert (rules["order_violations"], rules["lock_violations"]) == (0, 0)
    targets = {t["text"]: t for t in doc["targets"]}
    assert targets["W10 W5's shape completes, every rule kept"]["status"] == "met"
    assert targets["W10@10k throughput pexen/client.submit"]["measured"] is not None
