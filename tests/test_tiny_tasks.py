"""Tiny tasks on a thread pool: the planner holds them for a busy worker rather
than wake an idle one; a task so held never waits for a long task.

Through ``Sched.serve()`` and ``Sched.run()`` only: no sleeps, no timing.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from helpers import EVENT_TIMEOUT, returning, tagged

from pexen import sched


@pytest.mark.parametrize("workers", [2, 4])
def test_a_tiny_task_added_while_a_long_one_runs_does_not_wait_for_it(workers: int) -> None:
    """A stream of tiny tasks makes the run's tasks tiny; then one runs long.

    The next tiny task must still run on the idle worker, before the long
    one ends: the long one ends only once the tiny one's result is here.
    """
    started, release = threading.Event(), threading.Event()

    def long_task() -> bool:
        started.set()
        return release.wait(EVENT_TIMEOUT)

    s = sched.Sched([returning(f"tiny{i}") for i in range(4)])
    order: list[str] = []
    added = 4
    for res in s.serve(sched.pool.ThreadWorkerPool(workers=workers)):
        name = res.task.__name__
        order.append(name)
        assert res.excinfo is None
        if added < 400:  # four in flight, one added per result
            s.add_tasks([returning(f"tiny{added}")])
            added += 1
            if added == 400:
                s.add_tasks([tagged("long", long_task)])
                assert started.wait(EVENT_TIMEOUT)
                s.add_tasks([returning("late")])
        elif name == "late":
            release.set()
            s.stop()
        if name == "long":
            assert res.ret is True  # released, not timed out
    assert order.index("late") < order.index("long")
    assert len(order) == 402


def test_tiny_tasks_run_to_the_end_with_every_worker_count() -> None:
    """Tasks given up front and held for busy workers: every one runs once."""
    for workers in (1, 2, 3):
        got: list[Any] = []
        tasks = [returning(f"t{i}", i) for i in range(300)]
        for res in sched.Sched(tasks).run(sched.pool.ThreadWorkerPool(workers=workers)):
            assert res.excinfo is None
            got.append(res.ret)
        assert sorted(got) == list(range(300))
