"""``python -m benchmarks.cancel_latency``: how long leaving a run takes.

Measures ``gen.close()`` on a run of a process pool while both workers are
inside a task that would sleep for minutes: the time for the caller to get
control back, every worker process killed and reaped. Each repetition starts
a new run of the same scheduler on the same pool; the figures are printed,
never compared with a target (a thread pool is not measured: it cannot
interrupt a running task, so it waits for the task to end).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, cast

from pexen import sched
from pexen.sched import meta

#: how long the stuck tasks would sleep if nobody killed them, in seconds
HANG = 120.0
#: how long to wait for both stuck tasks to be running, in seconds
READY_TIMEOUT = 30.0


def _first() -> str:
    return "first"


def _stuck() -> None:
    time.sleep(HANG)


def _task(name: str, func: Callable[[], object], **fields: object) -> object:
    def task() -> object:
        return func()

    task.__name__ = task.__qualname__ = name
    meta.assign_val(task, **fields)
    return task


def _wait_running(s: sched.Sched, tasks: set[object]) -> None:
    """Poll the run's status until every task of ``tasks`` has started."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        started = {r.task for r in s.status().running if r.started is not None}
        if started == tasks:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stuck tasks did not start within {READY_TIMEOUT} s")
        time.sleep(0.001)


def measure(runs: int) -> list[float]:
    """Seconds each ``gen.close()`` took, with two process tasks running."""
    pool = sched.pool.ProcessWorkerPool(workers=2, spare=1)
    first = _task("first", _first, priority=-1)
    stuck = {_task("stuck1", _stuck), _task("stuck2", _stuck)}
    s = sched.Sched([first, *stuck])
    took = []
    for _ in range(runs):
        # run() is typed as an Iterator; it is a generator, which close() ends
        gen = cast(Generator[Any, None, None], s.run(pool))
        res = next(gen)
        if res.task is not first:
            raise RuntimeError(f"expected the result of 'first', got {res!r}")
        _wait_running(s, stuck)
        t0 = time.perf_counter()
        gen.close()
        took.append(time.perf_counter() - t0)
    return took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cancel_latency", description=__doc__
    )
    parser.add_argument("--runs", type=int, default=20, help="repetitions (default 20)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    took = measure(args.runs)
    ms = [t * 1000 for t in took]
    print(
        f"cancel (gen.close() with 2 process tasks running), {args.runs} runs: "
        f"median {statistics.median(ms):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
