"""An error inside the engine ends the run loudly instead of hanging it."""

from __future__ import annotations

import functools

import pytest

from pexen.sched import Sched, SchedulerError, meta, pool


@functools.total_ordering
class Picky:
    """Compares with ints, but two Picky instances refuse to compare."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and self.value == other

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Picky):
            raise TypeError("Picky instances do not compare")
        return self.value < other  # type: ignore[operator]

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("make_pool", [pool.ThreadWorkerPool, pool.ProcessWorkerPool])
def test_a_planner_failure_is_raised_from_the_run(make_pool):
    # Validation compares every priority with the first task's (an int), which
    # works; the ready queue then compares two Picky priorities, which fails
    # inside the planner actor.
    tasks = [lambda: 0]
    for i in range(1, 4):
        task = functools.partial(int, i)
        meta.assign_val(task, priority=Picky(i))
        tasks.append(task)
    s = Sched(tasks)
    with pytest.raises(SchedulerError, match="the run failed") as info:
        list(s.run(make_pool(workers=1)))
    assert isinstance(info.value.__cause__, TypeError)
