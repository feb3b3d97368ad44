"""A slow consumer throttles the run through ``run(..., backlog=N)``."""

from __future__ import annotations

import pytest
from helpers import (
    new_pool,
    returning,
    task_names,
    wait_for,
)

from pexen import sched


@pytest.mark.timeout(30)
def test_slow_consumer_bounds_the_backlog(pool_kind):
    backlog, workers, spare = 2, 2, 1
    tasks = [returning(f"t{i:02}", i) for i in range(30)]
    s = sched.Sched(tasks)
    held = []
    results = []
    for res in s.run(new_pool(pool_kind, workers=workers, spare=spare), backlog=backlog):
        results.append(res)
        if len(results) == 1:
            # hold the first result until dispatch has paused: nothing runs,
            # tasks are ready, and the count of finished tasks stays put
            st = wait_for(
                lambda: (st := s.status()).running == () and st.ready and st,
                what="dispatch to pause",
            )
            again = [s.status() for _ in range(20)]
            held.append(st)
            assert all(a.finished == st.finished and a.running == () for a in again)
    (st,) = held
    print(f"\nbacklog={backlog}: {st.finished} tasks finished while the consumer held")
    assert 1 <= st.finished <= backlog + workers + spare
    assert len(st.ready) == 30 - st.finished
    assert sorted(task_names(results)) == sorted(t.__name__ for t in tasks)
    assert [r.ret for r in sorted(results, key=lambda r: r.ret)] == list(range(30))


def test_backlog_must_be_a_positive_int(pool):
    s = sched.Sched([returning("a")])
    for bad in (0, -1, 1.5, "2", None):
        with pytest.raises((ValueError, TypeError)):
            s.run(pool, backlog=bad)
    assert task_names(s.run(pool, backlog=1)) == ["a"]


def test_backlog_one_runs_everything(pool):
    tasks = [returning(f"t{i:02}") for i in range(20)]
    results = list(sched.Sched(tasks).run(pool, backlog=1))
    assert sorted(task_names(results)) == sorted(t.__name__ for t in tasks)
