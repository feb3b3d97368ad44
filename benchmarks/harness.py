"""Run W1..W10 for pexen and its peers in one invocation and print one table.

Every measurement runs in a fresh subprocess (``benchmarks/worker.py``);
implementations alternate within each repetition (pexen, legacy, cf, dask,
pexen, legacy, ...); the table shows medians and ratios of medians. See
``benchmarks/README.md`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORKER = BENCH_DIR / "worker.py"
DEFAULT_VENV = BENCH_DIR / ".venv-legacy"
RESULTS_DIR = BENCH_DIR / "results"
LEGACY_SPEC = "pexen==0.0.3"
LEGACY_VERSION = "0.0.3"
WORKERS = 2
SERVE_IN_FLIGHT = 4  # W7 (worker.SERVE_IN_FLIGHT)


@dataclass(frozen=True)
class Workload:
    wid: str
    kind: str  # "throughput" | "latency" | "cpu" | "payload"
    threaded: bool
    shape: str
    sizes: tuple[int, ...]
    quick: tuple[int, ...]
    tiny: tuple[int, ...]
    peers: tuple[str, ...]
    scaling: bool = False


WORKLOADS = {
    w.wid: w
    for w in (
        Workload(
            "W1",
            "throughput",
            True,
            "independent no-op tasks, ThreadWorkerPool(workers=2)",
            (1000, 10000, 100000, 1000000),
            (500, 2000),
            (50, 200),
            ("legacy", "cf", "dask"),
            scaling=True,
        ),
        Workload(
            "W2",
            "throughput",
            False,
            "independent no-op tasks, ProcessWorkerPool(workers=2)",
            (1000, 10000, 100000),
            (500, 2000),
            (50, 200),
            ("legacy", "cf", "dask"),
            scaling=True,
        ),
        Workload(
            "W3",
            "throughput",
            True,
            "task i claims r{i%10}, uses u{(i+1)%10}; threads (workers=2)",
            (1000, 10000, 100000),
            (500, 2000),
            (50, 200),
            ("legacy", "cf", "dask"),
            scaling=True,
        ),
        Workload(
            "W4",
            "latency",
            False,
            "chain: task i requires what i-1 provides; processes",
            (2000,),
            (500,),
            (50,),
            ("legacy", "cf", "dask", "pipe", "queue"),
        ),
        Workload(
            "W5",
            "throughput",
            False,
            "random DAG (seeded), ~3 requires/task, locks; processes",
            (10000, 100000),
            (500, 2000),
            (50, 200),
            ("legacy", "cf", "dask"),
            scaling=True,
        ),
        Workload(
            "W6",
            "cpu",
            False,
            "40 tasks of ~50 ms pure Python CPU, 2 process workers",
            (40,),
            (10,),
            (4,),
            ("legacy", "cf", "dask"),
        ),
        Workload(
            "W7",
            "throughput",
            True,
            "a service: serve() on ThreadWorkerPool(workers=2), one task added per "
            f"result from the loop body, {SERVE_IN_FLIGHT} in flight",
            (10000, 100000, 1000000),
            (1000, 5000, 20000),
            (20, 60, 200),
            ("cf",),
            scaling=True,
        ),
        Workload(
            "W8",
            "throughput",
            False,
            "W2 in a process that already runs one idle thread of its own",
            (10000,),
            (2000,),
            (200,),
            ("cf",),
        ),
        Workload(
            "W9",
            "payload",
            False,
            "tasks returning bytes, ProcessWorkerPool(workers=2): n tasks of "
            "(1 GiB / n) bytes each",
            (4, 64),
            (2, 16),
            (2, 8),
            ("cf", "pipe"),
        ),
        Workload(
            "W10",
            "throughput",
            False,
            "W1's shape on DaskWorkerPool, its private cluster of 2 single-thread "
            "workers (cluster start not timed)",
            (10000,),
            (2000,),
            (200,),
            ("distributed",),
        ),
        Workload(
            "W10-W5",
            "throughput",
            False,
            "W5's shape on DaskWorkerPool (2 workers); checked: results, deps "
            "order, no conflicting locks at once",
            (2000,),
            (500,),
            (100,),
            (),
        ),
    )
}

ALL_PEERS = ("legacy", "cf", "dask", "distributed", "pipe", "queue")
#: W10's workloads: they need dask.distributed (installed when absent)
DISTRIBUTED_WORKLOADS = ("W10", "W10-W5")
UNIT = {"throughput": "tasks/s", "latency": "us/hop", "cpu": "wall/ideal", "payload": "MB/s"}
MB = 1 << 20  # W9's payloads and MB/s: MiB, as RSS MB
# W9: the payload bytes of one run, the same at each of its sizes (n tasks of
# total / n bytes): 64 x 16 MB and 4 x 256 MB in full mode.
PAYLOAD_TOTAL = {"full": 1024 * MB, "quick": 64 * MB, "tiny": 8 * MB}


def payload_size(wl: Workload, n: int, mode: str) -> int:
    """Bytes each task of a W9 run returns (0 for the other workloads)."""
    return PAYLOAD_TOTAL[mode] // n if wl.kind == "payload" else 0


# What the legacy costs per task, as measured here earlier, to decide before its
# first run whether it fits the time budget; (per-task seconds, at size). Its
# per-task cost grows about linearly with the task count (quadratic total).
LEGACY_PRIOR = {
    "W1": (350e-6, 10000),
    "W2": (400e-6, 10000),
    "W3": (4.7e-3, 1000),
    "W4": (400e-6, 2000),
    "W5": (400e-6, 10000),
    "W6": (0.05, 40),
}

# Sizes at which evaluate_targets compares pexen with the legacy (the targets
# in benchmarks/README.md: W1, W2, W3 at 10k; W4 at its own 2k). In full mode a legacy
# run at these sizes that is over --budget but within --target-budget is still
# made, once (see plan_run).
LEGACY_TARGET_SIZES = {"W1": (10000,), "W2": (10000,), "W3": (10000,), "W4": (2000,)}


def impl_label(impl: str, wl: Workload) -> str:
    if impl == "pexen":
        return "pexen"
    if impl == "legacy":
        return f"legacy {LEGACY_VERSION}"
    if impl == "cf":
        return "ThreadPoolExecutor" if wl.threaded else "ProcessPoolExecutor"
    if impl == "dask":
        return "dask.threaded.get" if wl.threaded else "dask.multiprocessing.get"
    if impl == "distributed":
        return "distributed: submit + as_completed"
    if impl == "pipe":
        return "floor: mp.Pipe bytes" if wl.kind == "payload" else "floor: mp.Pipe RTT"
    if impl == "queue":
        return "floor: queue.Queue RTT"
    return impl


NOTES = {
    ("W3", "cf"): "a threading.Lock per r-class held in the task (uses: no claimer)",
    ("W3", "dask"): "claims as 10 chains (task i after i-10); no lock support",
    ("W4", "legacy"): "per hop: first to last result",
    ("W4", "pexen"): "per hop: first to last result",
    ("W4", "cf"): "submit + result() per hop on a warm pool",
    ("W4", "dask"): "warm pool passed to get(); wall / hops",
    ("W4", "pipe"): "small pickled tuple to a child process and back",
    ("W4", "queue"): "put/get between two threads and back",
    ("W5", "cf"): "dispatch floor: same task count, deps and locks ignored",
    ("W5", "dask"): "same DAG, locks dropped (dask has none)",
    ("W10", "distributed"): "client.submit per task, as_completed; same cluster shape",
    ("W6", "dask"): "spawn pool started inside get(), as pexen starts its own",
    ("W7", "pexen"): "serve(): a task added from the loop body per result; stop() after the last",
    ("W7", "cf"): "one submit per result (a done-callback hands it to the loop)",
    ("W8", "pexen"): "an idle thread of the process's own runs over the timed part",
    ("W8", "cf"): "an idle thread of the process's own runs over the timed part",
    ("W9", "pipe"): "one child process: send_bytes per payload, recv_bytes here",
}


# --------------------------------------------------------------------------
# Running one measurement
# --------------------------------------------------------------------------
@dataclass
class RunResult:
    workload: str
    impl: str
    n: int
    rep: int
    ok: bool
    status: str = "ok"  # ok | error | timeout | crash | skipped (it cannot: W7)
    error: str | None = None
    wall_s: float | None = None
    hop_us: float | None = None
    task_cpu_s: float | None = None
    rss_kb: int | None = None
    elapsed_s: float | None = None
    leftover_processes: bool = False
    linger_s: float = 0.0  # how long its children outlived it
    timeout_s: float | None = None  # when it would have been killed
    record: dict = field(default_factory=dict)


def _env_for(impl: str, code_root: Path = REPO_ROOT) -> dict[str, str]:
    env = dict(os.environ)
    if impl == "legacy":
        # only what the legacy venv holds: no PYTHONPATH, no user site
        for var in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
            env.pop(var, None)
        env["PYTHONNOUSERSITE"] = "1"
    else:
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(code_root) + (os.pathsep + old if old else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


def _mode(args) -> str:
    return "tiny" if args.tiny else "quick" if args.quick else "full"


def _limit_memory(gib: float):
    if not gib or gib <= 0:
        return None
    limit = int(gib * 1024**3)

    def apply():  # in the child, before exec; inherited by its pool workers
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_one(
    python: str,
    wl: Workload,
    impl: str,
    n: int,
    rep: int,
    args,
    iters: int,
    timeout: float | None = None,
) -> RunResult:
    """One fresh subprocess: run, wait4() it for its peak RSS, parse its JSON.

    It is killed after timeout seconds (default args.timeout).
    """
    timeout = args.timeout if timeout is None else timeout
    worker_impl = "pexen" if impl == "legacy" else impl
    cmd = [
        python,
        "-P",
        str(WORKER),
        "--workload",
        wl.wid,
        "--impl",
        worker_impl,
        "--n",
        str(n),
        "--seed",
        str(args.seed),
        "--iters",
        str(iters),
        "--spare",
        str(args.spare),
        "--payload",
        str(payload_size(wl, n, _mode(args))),
    ]
    res = RunResult(wl.wid, impl, n, rep, ok=False, timeout_s=timeout)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=_env_for(impl, args.code_root),
            cwd=str(BENCH_DIR) if impl == "legacy" else str(REPO_ROOT),
            start_new_session=True,  # its own process group: cleanable by id
            preexec_fn=_limit_memory(args.mem_limit),
        )
        pgid = proc.pid
        deadline = t0 + timeout
        status = rusage = None
        delay = 0.002
        try:
            while True:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    res.status = "timeout"
                    os.killpg(pgid, signal.SIGKILL)
                    pid, status, rusage = os.wait4(proc.pid, 0)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except BaseException:  # Ctrl-C: leave nothing of this run behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        res.elapsed_s = time.monotonic() - t0
        res.rss_kb = rusage.ru_maxrss  # KiB on Linux: this process only
        # nothing may be left behind: give stragglers a moment, then clean up
        t_exit = time.monotonic()
        grace = t_exit + 2.0
        while _group_alive(pgid) and time.monotonic() < grace:
            time.sleep(0.01)
        res.linger_s = time.monotonic() - t_exit
        if _group_alive(pgid):
            res.leftover_processes = res.status != "timeout"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if res.status == "timeout":
        res.error = f"timed out after {timeout:.0f} s"
        return res
    record = None
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
            break
    if record is None:
        res.status = "crash"
        lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
        err_line = next((ln for ln in reversed(lines) if "Error" in ln), None)
        tail = err_line or (lines or ["no output"])[-1]
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            res.error = f"killed by {sig} at {res.rss_kb / 1024:,.0f} MB peak RSS"
            if sig == "SIGKILL":
                res.error += " (the kernel's OOM killer?)"
        else:
            res.error = f"exit {proc.returncode}: {tail}"[:300]
        return res
    res.record = record
    if impl == "legacy" and record.get("pexen_version") != LEGACY_VERSION:
        res.status = "error"
        res.error = f"legacy run imported pexen {record.get('pexen_version')}"
        return res
    if impl == "pexen":
        pfile = record.get("pexen_file") or ""
        if not pfile.startswith(str(args.code_root / "pexen")):
            res.status = "error"
            res.error = f"imported pexen from {pfile}, not from {args.code_root}"
            return res
    if record.get("skipped"):  # this implementation cannot run it (W7: no serve())
        res.status = "skipped"
        res.error = record["skipped"]
        return res
    if not record.get("ok"):
        res.status = "error"
        res.error = record.get("error", "unknown error")
        return res
    res.ok = True
    res.wall_s = record.get("wall_s")
    res.hop_us = record.get("hop_us")
    res.task_cpu_s = record.get("task_cpu_s")
    return res


# --------------------------------------------------------------------------
# A snapshot of this tree's code, so that edits during a long run do not mix
# --------------------------------------------------------------------------
CODE_PACKAGES = ("pexen", "actors")


def snapshot_code(dest: Path) -> str:
    """Copy this tree's packages to dest; return a short hash of their content."""
    for pkg in CODE_PACKAGES:
        src = REPO_ROOT / pkg
        if src.is_dir():
            shutil.copytree(src, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
            # compiled, as pip leaves an installed package: an exec'd zygote
            # (W8) would otherwise compile pexen's modules inside the timing
            # wherever PYTHONDONTWRITEBYTECODE is set
            compileall.compile_dir(dest / pkg, quiet=1)
    return code_hash(dest)


def code_hash(root: Path) -> str:
    h = hashlib.sha256()
    for pkg in CODE_PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def git_head() -> str | None:
    try:  # read-only
        r = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
        )
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


# --------------------------------------------------------------------------
# The legacy's virtual environment
# --------------------------------------------------------------------------
def ensure_legacy(venv: Path, log) -> tuple[str | None, str | None]:
    """Return (python, None) for a working legacy venv, or (None, reason)."""
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-P",
        "-c",
        "import importlib.metadata as m, pexen.sched; print(m.version('pexen'))",
    ]

    def works() -> bool:
        if not python.exists():
            return False
        r = subprocess.run(probe, capture_output=True, text=True, env=_env_for("legacy"), cwd=venv)
        return r.returncode == 0 and r.stdout.strip() == LEGACY_VERSION

    if works():
        return str(python), None
    log(f"creating the legacy venv in {venv} ({LEGACY_SPEC}) ...")
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", LEGACY_SPEC],
            check=True,
            capture_output=True,
            text=True,
            env=_env_for("legacy"),
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        lines = [ln for ln in str(detail).strip().splitlines() if ln.strip()]
        return None, f"legacy venv unavailable: {(lines or ['?'])[-1][:200]}"
    if works():
        return str(python), None
    return None, "legacy venv unavailable: pexen 0.0.3 not importable after install"


def ensure_distributed(log) -> str | None:
    """dask.distributed for W10, installed with pip when absent; ``None`` or why not."""
    probe = [sys.executable, "-c", "import distributed; print(distributed.__version__)"]
    r = subprocess.run(probe, capture_output=True, text=True, env=_env_for("distributed"))
    if r.returncode == 0:
        return None
    log("installing dask[distributed] for W10 ...")
    install = [sys.executable, "-m", "pip", "install", "--quiet", "dask[distributed]"]
    r = subprocess.run(install, capture_output=True, text=True)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        return f"dask.distributed unavailable: {(lines or ['?'])[-1][:200]}"
    r = subprocess.run(probe, capture_output=True, text=True, env=_env_for("distributed"))
    return None if r.returncode == 0 else "dask.distributed not importable after install"


def dask_available() -> tuple[bool, str]:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dask, dask.multiprocessing; print(dask.__version__)",
        ],
        capture_output=True,
        text=True,
        env=_env_for("dask"),
    )
    if r.returncode == 0:
        return True, r.stdout.strip()
    return False, "dask is not importable"


# --------------------------------------------------------------------------
# W6: work per task
# --------------------------------------------------------------------------
def calibrate_burn(target_s: float) -> int:
    """Iterations of worker.burn() that take about target_s of CPU here."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        import worker  # the same file the subprocesses run
    finally:
        sys.path.pop(0)
    iters = 20000
    while worker.burn(iters) < 0.01:
        iters *= 2
    per_iter = min(worker.burn(iters) / iters for _ in range(5))
    return max(1000, int(target_s / per_iter))


# --------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------
@dataclass
class Cell:
    workload: str
    n: int
    impl: str
    label: str
    status: str  # ok | skipped | n/a | error
    reason: str | None = None
    reps_ok: int = 0
    wall_median_s: float | None = None
    wall_min_s: float | None = None
    wall_max_s: float | None = None
    per_task_us: float | None = None
    metric: float | None = None
    unit: str = ""
    spread_pct: float | None = None
    rss_mb: float | None = None
    ratio: float | None = None  # pexen vs this impl (see ratio_kind)
    ratio_kind: str = ""
    scaling: float | None = None
    scaling_sizes: str | None = None
    warnings: str | None = None
    note: str | None = None
    # why it was run once only (the legacy over the budget at a target size)
    single_run: str | None = None
    payload_bytes: int | None = None  # W9: bytes each task returned


def size_label(c: Cell) -> str:
    """The size column: the task count, and for W9 the bytes of each task."""
    if c.payload_bytes:
        return f"{c.n}x{_fmt_bytes(c.payload_bytes)}"
    return _fmt_n(c.n)


def summarize(wl: Workload, n: int, impl: str, runs: list[RunResult], payload: int = 0) -> Cell:
    cell = Cell(wl.wid, n, impl, impl_label(impl, wl), "ok", unit=UNIT[wl.kind])
    cell.note = NOTES.get((wl.wid, impl))
    cell.payload_bytes = payload or None
    good = [r for r in runs if r.ok]
    cell.reps_ok = len(good)
    if not good:
        bad = next((r for r in runs if not r.ok), None)
        reason = bad.error if bad else "no run"
        if bad is not None and bad.status == "skipped":
            cell.status = "skipped"
            cell.reason = f"skipped: {reason}"
        elif impl == "legacy":
            cell.status = "n/a"
            cell.reason = f"legacy cannot: {reason}"
        else:
            cell.status = "error"
            cell.reason = reason
        return cell
    walls = [r.wall_s for r in good]
    cell.wall_median_s = statistics.median(walls)
    cell.wall_min_s = min(walls)
    cell.wall_max_s = max(walls)
    cell.per_task_us = cell.wall_median_s / n * 1e6
    if wl.kind == "throughput":
        cell.metric = n / cell.wall_median_s
        vals = [n / w for w in walls]
    elif wl.kind == "payload":
        vals = [n * payload / MB / r.wall_s for r in good]
        cell.metric = statistics.median(vals)
    elif wl.kind == "latency":
        vals = [r.hop_us for r in good]
        cell.metric = statistics.median(vals)
    else:
        vals = [r.wall_s / (r.task_cpu_s / WORKERS) for r in good]
        cell.metric = statistics.median(vals)
    if len(vals) > 1 and cell.metric:
        cell.spread_pct = (max(vals) - min(vals)) / cell.metric * 100
    cell.rss_mb = statistics.median(r.rss_kb for r in good) / 1024
    problems = []
    nwarn = [r.record.get("warnings", 0) for r in good]
    if any(nwarn):
        first = next(r.record.get("first_warning") for r in good if r.record.get("warnings"))
        problems.append(f"{max(nwarn)} warnings, e.g. {first!r}")
    viol = [r.record.get("order_violations", 0) for r in good]
    if any(viol):
        problems.append(f"{max(viol)} results yielded before a result they required")
    if any(r.leftover_processes for r in good):
        problems.append("processes left behind after the run")
    failed = [r for r in runs if not r.ok]
    if failed:
        problems.append(f"{len(failed)} of {len(runs)} runs failed: {failed[0].error}")
    cell.warnings = "; ".join(problems) or None
    return cell


def add_ratios(cells: list[Cell], wl: Workload) -> None:
    by_n: dict[int, dict[str, Cell]] = {}
    for c in cells:
        by_n.setdefault(c.n, {})[c.impl] = c
    for group in by_n.values():
        px = group.get("pexen")
        for c in group.values():
            if c.status != "ok" or not px or px.status != "ok":
                continue
            if wl.kind == "throughput":
                c.ratio = px.metric / c.metric
                c.ratio_kind = "throughput pexen/peer (higher is better)"
            elif wl.kind == "payload":
                c.ratio = px.metric / c.metric
                c.ratio_kind = "MB/s pexen/peer (higher is better)"
            elif wl.kind == "latency":
                c.ratio = px.metric / c.metric
                c.ratio_kind = "per hop pexen/peer (lower is better)"
            else:
                c.ratio = px.metric / c.metric
                c.ratio_kind = "wall/ideal pexen/peer (lower is better)"
    if not wl.scaling:
        return
    impls = {c.impl for c in cells}
    for impl in impls:
        ok = sorted((c for c in cells if c.impl == impl and c.status == "ok"), key=lambda c: c.n)
        if len(ok) < 2:
            continue
        # A size of 100k or more is compared with the largest one at least ten
        # times smaller, from 10k up (100k/10k, 1M/100k); the largest size, if
        # still without, with 10k or else the smallest (--quick, --sizes).
        for c in ok:
            decade = [r for r in ok if r.n >= 10000 and r.n * 10 <= c.n]
            if decade:
                _set_scaling(c, decade[-1])
        big = ok[-1]
        ref = next((c for c in ok if c.n == 10000 and c.n < big.n), ok[0])
        if ref is not big and big.scaling is None:
            _set_scaling(big, ref)


def _set_scaling(big: Cell, ref: Cell) -> None:
    big.scaling = big.per_task_us / ref.per_task_us
    big.scaling_sizes = f"{_fmt_n(big.n)}/{_fmt_n(ref.n)}"


# --------------------------------------------------------------------------
# Targets (listed in benchmarks/README.md)
# --------------------------------------------------------------------------
@dataclass
class Target:
    text: str
    measured: float | None
    bound: float
    cmp: str  # ">=" | "<="
    status: str
    detail: str = ""
    unit: str = "x"  # "x": a ratio; "MB": a difference of peak RSS


def _pick(cells: list[Cell], wid: str, impl: str, n: int | None, allow_smaller=True):
    """The ok cell of impl at size n; else the largest measured size below n."""
    ok = [c for c in cells if c.workload == wid and c.impl == impl and c.status == "ok"]
    if n is None:
        return max(ok, key=lambda c: c.n, default=None)
    exact = [c for c in ok if c.n == n]
    if exact:
        return exact[0]
    if allow_smaller:
        below = [c for c in ok if c.n < n]
        return max(below, key=lambda c: c.n, default=None)
    return None


def _why_missing(cells, wid, impl, n, excluded=None):
    if excluded and impl in excluded:
        return f"{impl}: {excluded[impl]}"
    for c in cells:
        if c.workload == wid and c.impl == impl and (n is None or c.n == n) and c.status != "ok":
            if c.reason and c.reason.startswith(f"{c.status}:"):
                return c.reason
            return f"{c.status}: {c.reason}"
    if not any(c.workload == wid for c in cells):
        return f"{wid} not run"
    return f"no {impl} measurement"


def evaluate_targets(cells: list[Cell], excluded: dict[str, str] | None = None) -> list[Target]:
    """Judge the targets of benchmarks/README.md; excluded: peer -> why it was left out."""
    out: list[Target] = []

    def why(wid, impl, n):
        return _why_missing(cells, wid, impl, n, excluded)

    def judge(text, value, bound, cmp, detail="", unit="x"):
        if value is None:
            out.append(Target(text, None, bound, cmp, "n/a", detail, unit))
            return
        met = value >= bound if cmp == ">=" else value <= bound
        out.append(Target(text, value, bound, cmp, "met" if met else "NOT MET", detail, unit))

    def thr_ratio(wid, peer, bound, text):
        px = _pick(cells, wid, "pexen", 10000)
        if px is None:
            judge(text, None, bound, ">=", why(wid, "pexen", 10000))
            return
        other = _pick(cells, wid, peer, px.n)
        if other is None:
            judge(text, None, bound, ">=", why(wid, peer, px.n))
            return
        label = impl_label(peer, WORKLOADS[wid])
        detail = f"pexen@{_fmt_n(px.n)} vs {label}@{_fmt_n(other.n)}"
        if other.n < px.n:
            detail += " (peer skipped at the larger size; cheaper per task when smaller)"
        if px.n != 10000:
            detail += " (not the 10k of the target)"
        if other.single_run:
            detail += f" ({label}: 1 run, over the budget)"
        judge(text, px.metric / other.metric, bound, ">=", detail)

    thr_ratio("W1", "legacy", 5, "W1@10k throughput pexen/legacy")
    thr_ratio("W1", "cf", 0.5, "W1@10k throughput pexen/ThreadPoolExecutor")
    thr_ratio("W1", "cf", 1.25, "W1@10k throughput pexen/ThreadPoolExecutor (raised)")
    thr_ratio("W2", "legacy", 5, "W2@10k throughput pexen/legacy")
    thr_ratio("W2", "cf", 2, "W2@10k throughput pexen/ProcessPoolExecutor")
    thr_ratio("W2", "cf", 4, "W2@10k throughput pexen/ProcessPoolExecutor (raised)")
    thr_ratio("W3", "legacy", 100, "W3@10k throughput pexen/legacy")
    thr_ratio("W10", "distributed", 5, "W10@10k throughput pexen/client.submit")
    w10 = _pick(cells, "W10-W5", "pexen", None)
    judge(
        "W10 W5's shape completes, every rule kept",
        1.0 if w10 is not None else None,
        1.0,
        ">=",
        f"at {_fmt_n(w10.n)}" if w10 is not None else why("W10-W5", "pexen", None),
    )

    px4 = _pick(cells, "W4", "pexen", None)
    for peer, bound, text in (
        ("legacy", 0.5, "W4 per hop pexen/legacy"),
        ("pipe", 3, "W4 per hop pexen/pipe round trip"),
        ("pipe", 1.5, "W4 per hop pexen/pipe round trip (raised)"),
    ):
        other = _pick(cells, "W4", peer, px4.n if px4 else None) if px4 else None
        if px4 is None or other is None:
            judge(
                text,
                None,
                bound,
                "<=",
                why("W4", "pexen" if px4 is None else peer, None),
            )
        else:
            detail = f"at {_fmt_n(px4.n)} hops"
            if other.single_run:
                detail += f" ({impl_label(peer, WORKLOADS['W4'])}: 1 run, over the budget)"
            judge(text, px4.metric / other.metric, bound, "<=", detail)

    for wid in ("W1", "W2", "W3", "W5"):
        text = f"{wid} scaling ratio (per task 100k / 10k)"
        big = _pick(cells, wid, "pexen", 100000)
        if big is None or big.scaling is None:
            judge(
                text,
                None,
                1.25,
                "<=",
                why(wid, "pexen", None) if big is None else "a single size measured",
            )
        else:
            detail = f"sizes {big.scaling_sizes}"
            if big.scaling_sizes != "100k/10k":
                detail += " (not the 100k/10k of the target)"
            judge(text, big.scaling, 1.25, "<=", detail)

    _million_target(cells, judge, why)

    w6 = _pick(cells, "W6", "pexen", None)
    if w6 is None:
        judge(
            "W6 wall time / ideal",
            None,
            1.1,
            "<=",
            why("W6", "pexen", None),
        )
    else:
        ctx = [
            f"{impl_label(c.impl, WORKLOADS['W6'])} {c.metric:.2f}"
            for c in cells
            if c.workload == "W6" and c.n == w6.n and c.impl != "pexen" and c.metric
        ]
        detail = f"{w6.n} tasks"
        if ctx:
            detail += "; same run: " + ", ".join(ctx)
        judge("W6 wall time / ideal", w6.metric, 1.1, "<=", detail)

    _serve_targets(cells, judge, why)
    thr_ratio("W8", "cf", 2, "W8@10k throughput pexen/ProcessPoolExecutor")
    _payload_targets(cells, judge, why)
    return out


def _million_target(cells: list[Cell], judge, why) -> None:
    """W1 at 1M: scaling against 100k, with the peak RSS per task in the detail."""
    text = "W1 scaling ratio (per task 1M / 100k)"
    ok = _ok_sizes(cells, "W1")
    top = ok[-1] if ok else None
    if top is None:
        judge(text, None, 1.25, "<=", why("W1", "pexen", None))
    elif top.n < 1000000 or top.scaling is None:
        judge(text, None, 1.25, "<=", f"largest size measured {_fmt_n(top.n)}")
    else:
        detail = f"sizes {top.scaling_sizes}"
        if top.rss_mb:
            per_task = top.rss_mb * 1024 * 1024 / top.n
            detail += f"; peak RSS {top.rss_mb:.0f} MB, {per_task:.0f} B per task"
        judge(text, top.scaling, 1.25, "<=", detail)


def _ok_sizes(cells: list[Cell], wid: str, impl: str = "pexen") -> list[Cell]:
    """The ok cells of impl on wid, smallest size first."""
    ok = [c for c in cells if c.workload == wid and c.impl == impl and c.status == "ok"]
    return sorted(ok, key=lambda c: c.n)


def _serve_targets(cells: list[Cell], judge, why) -> None:
    """W7: scaling 100k/10k, per task against W1's, peak RSS 1M against 100k.

    Where those sizes were not run (--quick), the nearest below are compared
    and the detail says which.
    """
    text = "W7 scaling ratio (per task 100k / 10k)"
    big = _pick(cells, "W7", "pexen", 100000)
    ok = _ok_sizes(cells, "W7")
    ref = _pick(cells, "W7", "pexen", 10000, allow_smaller=False) or (ok[0] if ok else None)
    if big is None or ref is None:
        judge(text, None, 1.25, "<=", why("W7", "pexen", None))
    elif big is ref:
        judge(text, None, 1.25, "<=", "a single size measured")
    else:
        sizes = f"{_fmt_n(big.n)}/{_fmt_n(ref.n)}"
        detail = f"sizes {sizes}" + (
            "" if sizes == "100k/10k" else " (not the 100k/10k of the target)"
        )
        judge(text, big.per_task_us / ref.per_task_us, 1.25, "<=", detail)

    text = "W7 per task pexen serve() / W1 run()"
    if big is None:
        judge(text, None, 2, "<=", why("W7", "pexen", None))
    else:
        w1 = _pick(cells, "W1", "pexen", big.n)
        if w1 is None:
            judge(text, None, 2, "<=", why("W1", "pexen", None))
        else:
            detail = f"W7@{_fmt_n(big.n)} vs W1@{_fmt_n(w1.n)}"
            if big.n != 100000:
                detail += " (not the 100k of the target)"
            judge(text, big.per_task_us / w1.per_task_us, 2, "<=", detail)

    text = "W7 peak RSS at 1M minus at 100k"
    top = _pick(cells, "W7", "pexen", 1000000)
    below = _pick(cells, "W7", "pexen", top.n - 1) if top else None
    if top is None:
        judge(text, None, 20, "<=", why("W7", "pexen", None), unit="MB")
    elif below is None:
        judge(text, None, 20, "<=", "a single size measured", unit="MB")
    else:
        detail = (
            f"{top.rss_mb:.0f} MB at {_fmt_n(top.n)}, {below.rss_mb:.0f} MB at {_fmt_n(below.n)}"
        )
        if (top.n, below.n) != (1000000, 100000):
            detail += " (not the 1M/100k of the target)"
        judge(text, top.rss_mb - below.rss_mb, 20, "<=", detail, unit="MB")


def _payload_targets(cells: list[Cell], judge, why) -> None:
    """W9: MB/s at least 1.5x ProcessPoolExecutor's, with many and with big payloads.

    "Many" is W9's largest task count (64 x 16 MB in full mode), "big" its
    smallest (4 x 256 MB).
    """
    label = impl_label("cf", WORKLOADS["W9"])
    ok = _ok_sizes(cells, "W9")
    for text, want, px in (
        (f"W9 64 x 16 MB: MB/s pexen/{label}", "64x16MB", ok[-1] if ok else None),
        (f"W9 4 x 256 MB: MB/s pexen/{label}", "4x256MB", ok[0] if len(ok) > 1 else None),
    ):
        if px is None:
            judge(
                text,
                None,
                1.5,
                ">=",
                why("W9", "pexen", None) if not ok else "a single size measured",
            )
            continue
        other = _pick(cells, "W9", "cf", px.n, allow_smaller=False)
        if other is None:
            judge(text, None, 1.5, ">=", why("W9", "cf", px.n))
            continue
        detail = f"at {size_label(px)}"
        if size_label(px) != want:
            detail += f" (not the {want} of the target)"
        judge(text, px.metric / other.metric, 1.5, ">=", detail)


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------
def _fmt_n(n: int) -> str:
    if n >= 1000000 and n % 1000000 == 0:
        return f"{n // 1000000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def _fmt_bytes(b: int) -> str:
    if b >= MB and b % MB == 0:
        return f"{b // MB}MB"
    if b >= 1024 and b % 1024 == 0:
        return f"{b // 1024}kB"
    return f"{b}B"


def _fmt_num(x: float | None, kind: str = "") -> str:
    if x is None:
        return "-"
    if kind == "throughput":
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    return f"{x:.2f}x"


def render(cells: list[Cell], targets: list[Target], meta: dict) -> str:
    lines = []
    head = (
        "workload",
        "size",
        "implementation",
        "median",
        "unit",
        "spread",
        "pexen/peer",
        "scaling",
        "RSS MB",
    )
    rows = []
    notes: list[str] = []
    problems: list[str] = []
    for c in cells:
        wl = WORKLOADS[c.workload]
        label = c.label
        if c.note:
            if c.note not in notes:
                notes.append(c.note)
            label += f" [{notes.index(c.note) + 1}]"
        if c.status != "ok":
            text = c.reason if c.status in ("skipped", "n/a") else f"ERROR: {c.reason}"
            if c.status == "n/a":
                text = f"n/a ({c.reason})"
            rows.append((c.workload, size_label(c), label, text, "", "", "", "", ""))
            continue
        ratio = "" if c.impl == "pexen" else _fmt_ratio(c.ratio)
        scaling = f"{c.scaling:.2f} ({c.scaling_sizes})" if c.scaling is not None else ""
        spread = f"±{c.spread_pct / 2:.0f}%" if c.spread_pct is not None else ""
        rows.append(
            (
                c.workload,
                size_label(c),
                label,
                _fmt_num(c.metric, wl.kind),
                c.unit,
                spread,
                ratio,
                scaling,
                f"{c.rss_mb:.0f}",
            )
        )
        if c.warnings:
            problems.append(f"{c.workload} {size_label(c)} {c.label}: {c.warnings}")
    widths = [len(h) for h in head]
    for r in rows:
        if r[4]:  # wide skip/n/a texts span the columns and do not set widths
            widths = [max(w, len(v)) for w, v in zip(widths, r, strict=True)]
        else:
            widths[:3] = [max(w, len(v)) for w, v in zip(widths[:3], r[:3], strict=True)]

    def fmt(r):
        right = (1, 3, 6)
        cols = []
        for i, (v, w) in enumerate(zip(r, widths, strict=True)):
            if not r[4] and r[3] and i == 3:
                cols.append(v)  # a skip/n/a/error text spans the rest
                break
            cols.append(v.rjust(w) if i in right else v.ljust(w))
        return "  ".join(cols).rstrip()

    title = (
        f"pexen benchmarks  ({meta['mode']}, {meta['reps_desc']}, medians, "
        f"spare={meta.get('spare', 1)}; {meta['code']}; "
        f"{meta['cpus']} CPUs, load {meta['load_before']} -> {meta['load_after']})"
    )
    lines.append(title)
    lines.append(fmt(head))
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            lines.append("")
        prev = r[0]
        lines.append(fmt(r))
    lines.append("")
    lines.append(
        "pexen/peer: throughput ratio for W1 W2 W3 W5 W7 W8 and MB/s ratio for W9 "
        "(higher is better); per-hop latency ratio for W4 and wall/ideal ratio for W6 "
        "(lower is better)."
    )
    lines.append(
        "scaling: per-task cost over that at the size shown after it (100k over 10k, "
        "1M over 100k; the smallest size when 10k was not run); 1.0 is linear."
    )
    lines.append(
        "W6 median is wall time over the ideal (total task CPU time / 2 workers); "
        "spread is half the min-max range over the median."
    )
    if any(c.workload == "W9" for c in cells):
        lines.append(
            "W9 size is tasks x bytes each; median is MB/s of payload delivered "
            "(MB = 2^20 bytes), pool start-up included; results dropped as they come."
        )
    for i, note in enumerate(notes, 1):
        lines.append(f"[{i}] {note}")
    for line in meta.get("skipped_lines", []):
        lines.append(line)
    for wid in ("W5", "W7"):
        ok = [c for c in cells if c.workload == wid and c.status == "ok"]
        if ok:
            top = max(c.n for c in ok)
            rss = ", ".join(f"{c.label} {c.rss_mb:.0f} MB" for c in ok if c.n == top and c.rss_mb)
            lines.append(f"Peak RSS of the scheduling process, {wid} at {_fmt_n(top)}: {rss}")
    if problems:
        lines.append("")
        lines.append("Problems seen:")
        lines.extend(f"  - {p}" for p in problems)
    lines.append("")
    lines.append("Targets:")
    tw = max(len(t.text) for t in targets) if targets else 10
    for t in targets:
        if t.unit == "MB":
            bound = f"{t.cmp} {t.bound:.0f} MB"
            value = f"{t.measured:+.1f} MB" if t.measured is not None else "-"
        else:
            bound = f"{t.cmp} {_fmt_ratio(t.bound)}"
            value = _fmt_ratio(t.measured) if t.measured is not None else "-"
        lines.append(f"  {t.text.ljust(tw)}  {bound:>9}  {value:>9}  {t.status:<7}  {t.detail}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------
def _predict_s(impl: str, wl: Workload, n: int, measured: dict) -> float | None:
    """Predicted wall time of one run of impl at size n, from a smaller size."""
    smaller = [(m, t) for (i, m), t in measured.items() if i == impl and m < n]
    quadratic = impl == "legacy"
    if smaller:
        m, per_task = max(smaller)
    elif impl == "legacy" and wl.wid in LEGACY_PRIOR:
        per_task, m = LEGACY_PRIOR[wl.wid]
    else:
        return None
    if wl.kind == "cpu":
        return per_task * n
    if wl.kind == "payload":
        return per_task * m  # the same bytes at every size (PAYLOAD_TOTAL)
    return per_task * n * (n / m if quadratic else 1.0)


@dataclass(frozen=True)
class RunPlan:
    run: bool
    reps: int
    timeout: float  # kill timeout of each run
    reason: str | None = None  # skipped: why; run: why fewer reps (None: as usual)


def plan_run(
    mode: str,
    impl: str,
    wid: str,
    n: int,
    est: float | None,
    *,
    reps: int,
    budget: float,
    target_budget: float,
    timeout: float,
) -> RunPlan:
    """Whether impl runs at size n, how many times, and its kill timeout.

    est is _predict_s's prediction of one run (None: unknown, run it). Over the
    budget (five times it for pexen) it is skipped, except in full mode for the
    legacy at a size a target is measured at (LEGACY_TARGET_SIZES): within
    target_budget (0: never) it runs once, killed after max(timeout, 2 * est).
    """
    limit = budget * (5 if impl == "pexen" else 1)
    if est is None or est <= limit:
        return RunPlan(True, reps, timeout)
    over = f"est. {est:,.0f} s per run > {limit:,.0f} s budget"
    at_target = mode == "full" and impl == "legacy" and n in LEGACY_TARGET_SIZES.get(wid, ())
    if at_target and target_budget > 0 and est <= target_budget:
        reason = f"1 run: over the budget, at a target size ({over})"
        return RunPlan(True, 1, max(timeout, 2 * est), reason)
    reason = f"skipped: {over}"
    if impl == "legacy":
        reason += " (quadratic)"
    if at_target and target_budget > 0:
        reason += f" and > {target_budget:,.0f} s target budget"
    return RunPlan(False, 0, timeout, reason)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the pexen benchmarks (W1..W10) against their peers, one table.",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, 3 repetitions (under a minute)",
    )
    ap.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions per measurement (default 7, 3 from 100k; --quick 3)",
    )
    ap.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W3")
    ap.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="results file (default benchmarks/results/<timestamp>.json)",
    )
    ap.add_argument(
        "--no-legacy", action="store_true", help="leave out the legacy pexen 0.0.3 peer"
    )
    ap.add_argument(
        "--no-dask", action="store_true", help="leave out the dask peers, and W10 (dask's)"
    )
    ap.add_argument(
        "--peers",
        default=None,
        help="only these peers, comma-separated from legacy,cf,dask,distributed,pipe,queue "
        "('none': pexen alone)",
    )
    ap.add_argument(
        "--with-dask",
        action="store_true",
        help="include the dask peers in --quick (left out there: their spawned "
        "pools alone take longer than a minute)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="skip a peer where one run is predicted to take longer, in seconds "
        "(default 60; --quick 4)",
    )
    ap.add_argument(
        "--target-budget",
        type=float,
        default=None,
        help="full mode: run the legacy once where it is over --budget at a size a "
        "target is measured at (W1, W2, W3 at 10k) if one run is predicted within "
        "this many seconds; 0: skip it as elsewhere (default 420; --quick 0)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="kill a single run after this many seconds (default 300)",
    )
    ap.add_argument(
        "--mem-limit",
        type=float,
        default=6.0,
        help="address-space limit of each process of a run, in GiB (default 6), so "
        "that a peer that blows up fails alone instead of exhausting the machine",
    )
    ap.add_argument(
        "--legacy-venv",
        default=str(DEFAULT_VENV),
        help="where the legacy's venv lives (created on first use)",
    )
    ap.add_argument("--seed", type=int, default=1, help="seed of the W5 random DAG")
    ap.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run pexen from the live tree (default: from a copy of pexen/ and actors/ "
        "taken at start, so that edits during the run do not mix in)",
    )
    ap.add_argument(
        "--sizes",
        default=None,
        help="task counts to run instead of each selected workload's own, e.g. 1000,30000",
    )
    ap.add_argument(
        "--spare",
        type=int,
        default=1,
        help="the spare of pexen's (and the legacy's) pools (default 1, their default): "
        "how many tasks beyond the workers may be handed out ahead",
    )
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.only:
        args.only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in args.only if w not in WORKLOADS]
        if unknown:
            ap.error(f"unknown workload(s): {', '.join(unknown)}")
    else:
        args.only = list(WORKLOADS)
    if args.peers is not None:
        args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        args.peers = [p for p in args.peers if p != "none"]
        unknown = [p for p in args.peers if p not in ALL_PEERS]
        if unknown:
            ap.error(f"unknown peer(s): {', '.join(unknown)}")
        if "legacy" not in args.peers:
            args.no_legacy = True
        if "dask" not in args.peers:
            args.no_dask = True
        elif args.quick or args.tiny:
            args.with_dask = True
    if args.sizes:
        try:
            args.sizes = tuple(sorted(int(x) for x in args.sizes.split(",") if x.strip()))
        except ValueError:
            ap.error("--sizes takes comma-separated integers")
        if not args.sizes or min(args.sizes) < 2:
            ap.error("--sizes must be at least 2")
    if args.reps is not None and args.reps < 1:
        ap.error("--reps must be at least 1")
    small = args.quick or args.tiny
    if args.budget is None:
        args.budget = 4.0 if small else 60.0
    if args.timeout is None:
        args.timeout = 60.0 if small else 300.0
    if args.target_budget is None:
        args.target_budget = 0.0 if small else 420.0
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.no_snapshot:
        args.code_root = REPO_ROOT
        args.code_desc = f"live tree, code {code_hash(REPO_ROOT)}"
        return _run(args, argv)
    with tempfile.TemporaryDirectory(prefix="pexen-bench-code-") as tmp:
        args.code_root = Path(tmp)
        args.code_desc = f"code {snapshot_code(args.code_root)}"
        return _run(args, argv)


def _run(args, argv) -> int:
    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    mode = _mode(args)
    started = _dt.datetime.now()
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())

    # peers that may be unavailable
    skipped_lines = []
    legacy_python = None
    legacy_reason = None
    if args.no_legacy:
        legacy_reason = "left out (--no-legacy / --peers)"
    else:
        legacy_python, legacy_reason = ensure_legacy(Path(args.legacy_venv), log)
        if legacy_reason:
            log(legacy_reason)
    if legacy_reason:
        skipped_lines.append(f"legacy pexen {LEGACY_VERSION}: {legacy_reason}")
    dask_version = None
    if args.no_dask:
        skipped_lines.append("dask: left out (--no-dask / --peers)")
    elif (args.quick or args.tiny) and not args.with_dask:
        skipped_lines.append(f"dask: left out in --{mode} (add --with-dask)")
    else:
        have, info = dask_available()
        if have:
            dask_version = info
        else:
            line = "dask: skipped (dask is not importable; it is an optional peer)"
            skipped_lines.append(line)
            log(line)

    if args.no_dask and any(w in args.only for w in DISTRIBUTED_WORKLOADS):
        skipped_lines.append("W10: left out (--no-dask)")
        args.only = [w for w in args.only if w not in DISTRIBUTED_WORKLOADS]
    if any(w in args.only for w in DISTRIBUTED_WORKLOADS):
        reason = ensure_distributed(log)
        if reason:
            log(reason)
            skipped_lines.append(f"W10: skipped ({reason})")
            args.only = [w for w in args.only if w not in DISTRIBUTED_WORKLOADS]

    iters = 0
    if "W6" in args.only:
        iters = calibrate_burn(0.005 if args.tiny else 0.05)
        log(f"W6: {iters} iterations per task (~{5 if args.tiny else 50} ms of CPU here)")

    all_runs: list[RunResult] = []
    cells: list[Cell] = []
    for wid in args.only:
        wl = WORKLOADS[wid]
        sizes = wl.tiny if args.tiny else wl.quick if args.quick else wl.sizes
        if args.sizes:
            sizes = args.sizes
        impls = ["pexen"]
        for p in wl.peers:
            if args.peers is not None and p not in args.peers:
                continue
            if p == "legacy" and legacy_python is None:
                continue
            if p == "dask" and dask_version is None:
                continue
            impls.append(p)
        measured: dict[tuple[str, int], float] = {}  # (impl, n) -> s per task
        dropped: dict[str, str] = {}  # impl -> reason for all larger sizes
        wl_cells: list[Cell] = []
        for n in sizes:
            payload = payload_size(wl, n, mode)
            if args.reps is not None:
                reps = args.reps
            elif args.tiny:
                reps = 1
            elif args.quick:
                reps = 3
            else:
                # short runs are the noisy ones (a 10k run here is ~0.1 s,
                # its spread +-20%): more of them for their medians
                reps = 3 if n >= 100000 else 7
            plans: dict[str, RunPlan] = {}
            for impl in impls:
                if impl in dropped:
                    wl_cells.append(
                        Cell(
                            wid,
                            n,
                            impl,
                            impl_label(impl, wl),
                            "n/a" if impl == "legacy" else "skipped",
                            reason=dropped[impl],
                            unit=UNIT[wl.kind],
                            payload_bytes=payload or None,
                        )
                    )
                    continue
                est = _predict_s(impl, wl, n, measured)
                plan = plan_run(
                    mode,
                    impl,
                    wid,
                    n,
                    est,
                    reps=reps,
                    budget=args.budget,
                    target_budget=args.target_budget,
                    timeout=args.timeout,
                )
                if not plan.run:
                    wl_cells.append(
                        Cell(
                            wid,
                            n,
                            impl,
                            impl_label(impl, wl),
                            "skipped",
                            reason=plan.reason,
                            unit=UNIT[wl.kind],
                            payload_bytes=payload or None,
                        )
                    )
                    log(f"{wid} {_fmt_n(n)} {impl}: {plan.reason}")
                    continue
                if plan.reason:
                    log(f"{wid} {_fmt_n(n)} {impl}: {plan.reason}; timeout {plan.timeout:,.0f} s")
                plans[impl] = plan
            active = list(plans)
            runs: dict[str, list[RunResult]] = {impl: [] for impl in active}
            for rep in range(reps):
                for impl in active:
                    plan = plans[impl]
                    if rep >= plan.reps:
                        continue  # a single run (over the budget): in the first rep only
                    prev = runs[impl]
                    if prev and not prev[-1].ok:
                        continue  # it failed at this size: do not retry
                    python = legacy_python if impl == "legacy" else sys.executable
                    r = run_one(python, wl, impl, n, rep, args, iters, timeout=plan.timeout)
                    prev.append(r)
                    all_runs.append(r)
                    shown = f"{r.wall_s:.3f} s" if r.ok else f"{r.status}: {r.error}"
                    log(f"{wid} {_fmt_n(n):>5} rep {rep + 1}/{plan.reps} {impl:<6} {shown}")
            for impl in active:
                cell = summarize(wl, n, impl, runs[impl], payload)
                if plans[impl].reason:
                    cell.single_run = plans[impl].reason
                    cell.note = "; ".join(x for x in (cell.note, cell.single_run) if x)
                wl_cells.append(cell)
                if cell.status == "ok":
                    measured[(impl, n)] = cell.wall_median_s / n
                elif cell.status == "skipped" or impl == "legacy":
                    # it cannot run this workload ("skipped: this pexen has no
                    # Sched.serve()", "legacy cannot: ..."): nor at larger sizes
                    dropped[impl] = cell.reason
                elif impl != "pexen":
                    dropped[impl] = f"skipped: it failed at {_fmt_n(n)} ({cell.reason})"
        order = {
            impl: i
            for i, impl in enumerate(
                ["pexen", "legacy", "cf", "dask", "distributed", "pipe", "queue"]
            )
        }
        wl_cells.sort(key=lambda c: (c.n, order.get(c.impl, 99)))
        add_ratios(wl_cells, wl)
        cells.extend(wl_cells)

    excluded = {}
    if legacy_reason:
        excluded["legacy"] = legacy_reason
    targets = evaluate_targets(cells, excluded)
    load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.reps is not None:
        reps_desc = f"{args.reps} reps"
    elif args.tiny:
        reps_desc = "1 rep"
    elif args.quick:
        reps_desc = "3 reps"
    else:
        reps_desc = "7 reps (3 from 100k)"
    meta = {
        "mode": mode,
        "reps_desc": reps_desc,
        "spare": args.spare,
        "code": args.code_desc,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "skipped_lines": skipped_lines,
    }
    table = render(cells, targets, meta)
    print(table, flush=True)

    doc = {
        "schema": 1,
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "mode": mode,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": load_after,
        },
        "code": {
            "desc": args.code_desc,
            "snapshot": not args.no_snapshot,
            "git_head": git_head(),
        },
        "peers": {
            "legacy": LEGACY_VERSION if legacy_python else None,
            "legacy_reason": legacy_reason,
            "dask": dask_version,
        },
        "workloads": {
            wid: {
                "shape": WORKLOADS[wid].shape,
                "kind": WORKLOADS[wid].kind,
                "unit": UNIT[WORKLOADS[wid].kind],
            }
            for wid in args.only
        },
        "w6_iters": iters,
        "results": [_clean(c.__dict__) for c in cells],
        "targets": [_clean(t.__dict__) for t in targets],
        "runs": [
            _clean({k: v for k, v in r.__dict__.items() if k != "record"} | {"record": r.record})
            for r in all_runs
        ],
        "table": table,
    }
    if args.json:
        path = Path(args.json)
    else:
        path = RESULTS_DIR / f"{started.strftime('%Y%m%d-%H%M%S')}-{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    log(f"results written to {path}")
    return 0


def _clean(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


if __name__ == "__main__":
    sys.exit(main())
