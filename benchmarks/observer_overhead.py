"""``python -m benchmarks.observer_overhead``: what observing a run costs.

W1 (independent no-op tasks, 10k by default) on ``ThreadWorkerPool(workers=2)``,
three ways: with no observer, with a no-op observer (the engine builds and
delivers every event, nobody reads them) and with a
:class:`~pexen.reports.TraceReport` (which also writes its JSON file at the
end, inside the timed part). The three alternate within each round (the
order rotating from round to round), so that a machine slowing down or
speeding up during the measurement weighs on all three alike. Prints the
median wall time and throughput of each and the ratios to the unobserved
run; compares nothing with a target.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from pexen import sched
from pexen.reports import RunObserver, TraceReport

WORKERS = 2
SPARE = 1


def _make_noop(i: int) -> Callable[[], int]:
    def task() -> int:
        return i

    return task


class _Noop(RunObserver):
    """Takes every event and does nothing with it."""


def _one_run(n: int, observers: Callable[[], list[Any]]) -> float:
    """Seconds for ``Sched(tasks)`` and running it to its end."""
    tasks = [_make_noop(i) for i in range(n)]
    obs = observers()
    gc.collect()
    t0 = time.perf_counter()
    s = sched.Sched(tasks)
    got = 0
    for _ in s.run(sched.pool.ThreadWorkerPool(workers=WORKERS, spare=SPARE), observers=obs):
        got += 1
    took = time.perf_counter() - t0
    if got != n:
        raise RuntimeError(f"got {got} results for {n} tasks")
    return took


def measure(n: int, rounds: int, trace_path: str) -> dict[str, list[float]]:
    """Wall times of each variant, ``rounds`` of each, alternating."""
    variants: dict[str, Callable[[], list[Any]]] = {
        "none": list,
        "no-op observer": lambda: [_Noop()],
        "TraceReport": lambda: [TraceReport(trace_path)],
    }
    names = list(variants)
    took: dict[str, list[float]] = {name: [] for name in names}
    _one_run(min(n, 1000), list)  # warm up: imports, first threads
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            took[name].append(_one_run(n, variants[name]))
    return took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.observer_overhead", description=__doc__
    )
    parser.add_argument("--n", type=int, default=10_000, help="tasks per run (default 10000)")
    parser.add_argument("--rounds", type=int, default=9, help="runs of each variant (default 9)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        took = measure(args.n, args.rounds, path)
        size = os.path.getsize(path)
    base = statistics.median(took["none"])
    print(
        f"W1 at {args.n} tasks, ThreadWorkerPool(workers={WORKERS}, spare={SPARE}), "
        f"{args.rounds} rounds alternating; median wall time:"
    )
    for name, times in took.items():
        med = statistics.median(times)
        print(
            f"  {name:<15} {med * 1000:8.1f} ms  {args.n / med:9.0f} tasks/s  "
            f"x{med / base:.3f} of unobserved  (min {min(times) * 1000:.1f}, "
            f"max {max(times) * 1000:.1f} ms)"
        )
    print(f"  (the trace file of the last TraceReport run: {size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
