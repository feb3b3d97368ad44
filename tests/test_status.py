"""``Sched.status()``: an immutable snapshot of the run.

Tasks that must stay running block on an event the test controls, so that
the states observed are deterministic.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from helpers import (
    EVENT_TIMEOUT,
    blocker,
    by_task,
    end_messages,
    expected_end_messages,
    new_event,
    new_pool,
    pexen_messages,
    recorded_warnings,
    returning,
    running_started,
    tagged,
    task_names,
    wait_for,
)

from pexen import sched
from pexen.sched.status import HeldLock, RunningTask, RunStatus, WaitingTask


def test_status_without_a_run(pool):
    s = sched.Sched([returning("a")])
    before = s.status()
    assert isinstance(before, RunStatus)
    assert before == RunStatus(active=False)
    assert before.active is False
    assert before.running == before.ready == before.waiting_deps == ()
    assert before.waiting_locks == before.held_locks == ()
    assert before.finished == 0
    list(s.run(pool))
    assert s.status() == RunStatus(active=False)
    assert sched.Sched().status().active is False


def _status_scenario(pool_kind):
    ev = new_event(pool_kind)
    early = returning("early", priority=-1)
    r1 = blocker("r1", ev, claims=["A"], provides=["p"])
    r2 = blocker("r2", ev, uses=["B"])
    wl = returning("wl", claims=["A"], priority=1)
    rdy1 = returning("rdy1", priority=2)
    rdy2 = returning("rdy2", priority=2)
    dep = returning("dep", requires=["p"])
    return ev, early, r1, r2, wl, rdy1, rdy2, dep


@pytest.mark.timeout(30)
def test_status_during_a_run(pool_kind):
    # workers=2, spare=1: when things settle, r1 and r2 run (blocked on ev,
    # holding A and B), rdy1 waits at a worker behind one of them, rdy2 is
    # ready, wl waits for A, dep waits for p, early has finished
    ev, early, r1, r2, wl, rdy1, rdy2, dep = _status_scenario(pool_kind)
    s = sched.Sched([early, r1, r2, wl, rdy1, rdy2, dep])

    def settled():
        st = s.status()
        ok = (
            st.finished == 1
            and running_started(st) == {r1, r2}
            and len(st.running) == 3
            and st.ready == (rdy2,)
            and len(st.waiting_locks) == 1
        )
        return st if ok else None

    seen = {}
    results = []
    other = None
    try:
        for res in s.run(new_pool(pool_kind, workers=2, spare=1)):
            results.append(res)
            if res.task is not early:
                continue
            # from the loop body, while the caller holds the first result
            st = wait_for(settled, what="the run to settle")
            seen["loop"] = st
            before = time.monotonic()

            def from_thread():
                seen["thread"] = s.status()

            other = threading.Thread(target=from_thread, name="test-status")
            other.start()
            other.join(EVENT_TIMEOUT)
            seen["again"] = s.status()
            ev.set()
    finally:
        ev.set()
        if other is not None:
            other.join()

    st = seen["loop"]
    assert st.active is True
    by_task_running = {r.task: r for r in st.running}
    assert set(by_task_running) == {r1, r2, rdy1}
    assert all(isinstance(r, RunningTask) for r in st.running)
    assert {by_task_running[r1].worker, by_task_running[r2].worker} == {0, 1}
    assert by_task_running[rdy1].worker in (0, 1)
    assert by_task_running[rdy1].started is None  # handed out, not begun
    for t in (r1, r2):
        assert isinstance(by_task_running[t].started, float)
        assert by_task_running[t].started <= before
    assert st.ready == (rdy2,)
    assert st.waiting_deps == (dep,)
    assert st.waiting_locks == (WaitingTask(wl, frozenset(), frozenset({"A"})),)
    assert sorted(st.held_locks, key=lambda h: h.resource) == [
        HeldLock("A", "claims", (r1,)),
        HeldLock("B", "uses", (r2,)),
    ]
    assert st.finished == 1
    # the same from another thread, and a moment later: nothing moved
    assert seen["thread"] == st
    assert seen["again"] == st
    # the run went on to the end
    assert sorted(task_names(results)) == ["dep", "early", "r1", "r2", "rdy1", "rdy2", "wl"]
    assert s.status() == RunStatus(active=False)
    # a snapshot is kept as it was
    assert st.finished == 1 and st.ready == (rdy2,)


def test_status_is_immutable(pool_kind):
    ev = new_event(pool_kind)
    first = returning("first", priority=-1)
    held = blocker("held", ev, claims=["A"])
    waits = returning("waits", claims=["A"])
    s = sched.Sched([first, held, waits])
    snapshots = []
    try:
        for res in s.run(new_pool(pool_kind, workers=2)):
            if res.task is first:
                snapshots.append(
                    wait_for(
                        lambda: (
                            running_started(st := s.status()) == {held}
                            and st.held_locks
                            and st.waiting_locks
                            and st
                        ),
                        what="a running lock holder and a waiting task",
                    )
                )
                ev.set()
    finally:
        ev.set()
    (st,) = snapshots
    assert dataclasses.is_dataclass(st)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.finished = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.active = False
    assert isinstance(st.running, tuple) and isinstance(st.held_locks, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.running[0].worker = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.held_locks[0].holders = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.waiting_locks[0].claims = frozenset()
    assert isinstance(st.held_locks[0].holders, tuple)
    assert isinstance(st.waiting_locks[0].claims, frozenset)
    assert st.held_locks == (HeldLock("A", "claims", (held,)),)
    assert st.waiting_locks == (WaitingTask(waits, frozenset(), frozenset({"A"})),)


@pytest.mark.timeout(30)
def test_status_counts_a_crash_and_its_held_lock(pool_kind):
    # a process task kills its worker; a thread cannot die alone, so there the
    # task raises instead: both are uncontrolled failures, seen alike
    ev = new_event(pool_kind)
    if pool_kind == "process":
        body, lost_as = (lambda: __import__("os")._exit(3)), sched.WorkerLostError
    else:
        body, lost_as = (lambda: 1 / 0), ZeroDivisionError
    crash = tagged("crash", body, claims=["A"], provides=["x"], priority=-1)
    keep = blocker("keep", ev)
    dep = returning("dep", requires=["x"])
    waits = returning("waits", claims=["A"])
    s = sched.Sched([crash, keep, dep, waits])
    seen = []
    results = []
    with recorded_warnings() as rec:
        try:
            for res in s.run(new_pool(pool_kind, workers=2)):
                results.append(res)
                if res.task is crash:
                    seen.append(
                        wait_for(
                            lambda: (st := s.status()).waiting_locks and st,
                            what="waits to queue for A",
                        )
                    )
                    ev.set()
        finally:
            ev.set()
    (st,) = seen
    assert st.finished == 1
    assert HeldLock("A", "claims", (crash,)) in st.held_locks
    assert dep in st.waiting_deps
    assert st.waiting_locks == (WaitingTask(waits, frozenset(), frozenset({"A"})),)
    assert end_messages(pexen_messages(rec)) == expected_end_messages(skipped=1, locks=1)
    res = by_task(results)
    assert sorted(task_names(results)) == ["crash", "keep"]  # dep skipped, waits never ran
    assert res[crash].excinfo.type is lost_as
    assert res[keep].ret == ("keep", True)
