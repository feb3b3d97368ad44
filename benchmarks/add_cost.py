"""``python -m benchmarks.add_cost``: what one ``add_tasks`` call costs.

A service adds tasks one at a time for as long as it runs; each call must
cost the same whether the scheduler already knows 2 thousand tasks or 128
thousand. For each size N this builds a ``Sched`` of N - 1 000 tasks (each
requires what an earlier one provides, so that the dependency check has
edges to keep), then adds 1 000 more, one ``add_tasks([task])`` call each,
each requiring what one of the first tasks provides, before any run. It prints
the median cost per call over those 1 000 and its ratio to the smallest
size's; there is no target (the test suite checks that adding works, never
how fast).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from collections.abc import Sequence

from pexen import sched
from pexen.sched import meta

#: calls timed at each size
CALLS = 1000


def _task(i: int, requires: list[str], provides: list[str]) -> object:
    def task() -> int:
        return i

    task.__name__ = task.__qualname__ = f"t{i}"
    meta.assign_val(task, requires=requires, provides=provides)
    return task


def _chained(i: int) -> object:
    """Task i of the first ones: requires what i - 1 provides."""
    return _task(i, [f"p{i - 1}"] if i else [], [f"p{i}"])


def measure(size: int) -> list[float]:
    """Seconds each of the last CALLS one-task additions took, at ``size`` tasks."""
    base = size - CALLS
    with warnings.catch_warnings():  # the last one provides what nobody requires
        warnings.simplefilter("ignore")
        s = sched.Sched([_chained(i) for i in range(base)])
    took = []
    for i in range(base, size):
        task = _task(i, [f"p{i * 7919 % base}"], [])
        t0 = time.perf_counter()
        s.add_tasks([task])
        took.append(time.perf_counter() - t0)
    return took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.add_cost", description=__doc__)
    parser.add_argument(
        "--sizes",
        default="2000,16000,128000",
        help="task counts, comma-separated (default 2000,16000,128000)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if not sizes or min(sizes) <= CALLS:
        parser.error(f"every size must be over {CALLS}")
    print(f"add_tasks([task]) before a run, median of {CALLS} calls at each size:")
    first = None
    for size in sizes:
        gc.collect()
        us = statistics.median(measure(size)) * 1e6
        first = first or us
        print(f"  {size:>7} tasks: {us:6.1f} us per call  x{us / first:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
