"""Crash containment and timeouts.

- A task that kills its worker process (an exit, a signal, a segfault, the
  OOM killer) is reported as ``WorkerLostError``; its worker is replaced and
  the run goes on (process pool only: a thread cannot die alone).
- A task over its ``timeout`` is reported as ``TaskTimeoutError``: a process
  task is killed, a thread task abandoned (its thread goes on; a fresh worker
  takes its place).
- Both are uncontrolled failures: dependants skipped, locks held,
  both counted in the end-of-run ``PexenWarning``.

Every hanging thread task here waits on a ``threading.Event`` that the test
sets at the end, so that no thread outlives the test (conftest checks).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import threading
from collections import Counter

import pytest
from helpers import (
    EVENT_TIMEOUT,
    by_task,
    end_messages,
    expected_end_messages,
    named,
    new_pool,
    pexen_messages,
    pid_task,
    recorded_warnings,
    returning,
    run_all,
    sleeper,
    tagged,
    task_names,
)

import pexen
from pexen import sched
from pexen.sched import meta

#: The timeout given to tasks that are meant to overstay it.
SHORT = 0.3


# ------------------------------------------------------------- task makers


def _exit3():
    os._exit(3)


def _sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


def _quiet_faulthandler():
    # pytest enables faulthandler; a worker forked from it would print a
    # Python traceback on a fatal signal. The signal is the same either way.
    import faulthandler

    faulthandler.disable()


def _segfault():
    _quiet_faulthandler()
    ctypes.string_at(0)


def _oom_killed():
    # What the kernel's OOM killer does to a process that exhausts memory:
    # SIGKILL. Allocating until the machine runs out is not something a test
    # suite may do, so the signal is sent honestly by the task itself.
    os.kill(os.getpid(), signal.SIGKILL)


def _abort():
    _quiet_faulthandler()
    os.abort()


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


#: crash kind -> (the task body, what the WorkerLostError message must say)
CRASHES = {
    "exit3": (_exit3, "code 3"),
    "sigkill": (_sigkill, "SIGKILL"),
    "segfault": (_segfault, "SIGSEGV"),
    "oom_simulated_by_sigkill": (_oom_killed, "SIGKILL"),
    "abort": (_abort, "SIGABRT"),
    "sigterm": (_sigterm, "SIGTERM"),
}

#: the kinds the issue names explicitly
ISSUE_CRASHES = ("exit3", "sigkill", "segfault", "oom_simulated_by_sigkill")


def crasher(kind: str, name: str | None = None, **fields):
    body, _ = CRASHES[kind]

    def task():
        body()
        return "survived"  # never reached

    return tagged(name or f"crash_{kind}", task, **fields)


def process_hanger(name: str = "hangs", timeout: float = SHORT, **fields):
    """A process task that sleeps far past its timeout."""
    return sleeper(name, timeout=timeout, **fields)


def assert_worker_lost(res, says: str) -> None:
    assert res.excinfo is not None, res
    assert res.excinfo.type is sched.WorkerLostError, res.excinfo
    assert isinstance(res.excinfo.val, sched.WorkerLostError)
    assert isinstance(res.excinfo.val, sched.SchedulerError)
    assert isinstance(res.excinfo.val, pexen.PexenError)
    assert says in str(res.excinfo.val), str(res.excinfo.val)
    assert res.ret is None


def assert_timed_out(res) -> None:
    assert res.excinfo is not None, res
    assert res.excinfo.type is sched.TaskTimeoutError, res.excinfo
    assert isinstance(res.excinfo.val, sched.TaskTimeoutError)
    assert isinstance(res.excinfo.val, sched.SchedulerError)
    assert isinstance(res.excinfo.val, TimeoutError)
    assert res.ret is None


class ThreadHang:
    """A thread task that blocks until :meth:`release`, and tells when it returned.

    Use as a context manager: leaving it releases the task and waits for its
    thread to finish, so the leak check finds nothing.
    """

    def __init__(self, name: str = "thread_hangs", timeout: float = SHORT, **fields):
        self.release_ev = threading.Event()
        self.returned = threading.Event()
        self.started = threading.Event()
        release, returned, started = self.release_ev, self.returned, self.started

        def task():
            started.set()
            try:
                release.wait(EVENT_TIMEOUT)
                return "late"
            finally:
                returned.set()

        self.task = tagged(name, task, timeout=timeout, **fields)

    def release(self) -> None:
        self.release_ev.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        if self.started.is_set():
            assert self.returned.wait(EVENT_TIMEOUT), "the abandoned task never returned"


# ------------------------------------------------------------ worker death


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", list(CRASHES))
def test_crash_gives_worker_lost_error(kind):
    bad = crasher(kind)
    others = [returning(f"ok{i}") for i in range(6)]
    results, msgs = run_all(sched.Sched([bad, *others]), new_pool("process", workers=2))
    res = by_task(results)
    assert len(results) == 7
    assert_worker_lost(res[bad], CRASHES[kind][1])
    for t in others:
        assert res[t].excinfo is None
        assert res[t].ret == t.__name__
    assert end_messages(msgs) == []


@pytest.mark.timeout(30)
def test_crash_message_says_exit_code():
    def exit_code_42():
        os._exit(42)

    results, _ = run_all(sched.Sched([exit_code_42]), new_pool("process", workers=1))
    (res,) = results
    assert_worker_lost(res, "42")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ISSUE_CRASHES)
def test_single_worker_is_replaced(kind):
    # one worker: the tasks after the crash (one of them handed out ahead,
    # behind the crasher) can only run on a replacement process
    before = pid_task("before", priority=0)
    bad = crasher(kind, priority=1)
    after = [pid_task(f"after{i}", priority=2) for i in range(4)]
    results, _ = run_all(sched.Sched([before, bad, *after]), new_pool("process", workers=1))
    res = by_task(results)
    assert task_names(results) == ["before", bad.__name__, *(t.__name__ for t in after)]
    assert_worker_lost(res[bad], CRASHES[kind][1])
    after_pids = {res[t].ret for t in after}
    assert len(after_pids) == 1, after_pids  # one replacement, no more
    assert res[before].ret not in after_pids
    assert res[before].ret != os.getpid()


@pytest.mark.timeout(30)
def test_every_worker_crashes_at_once_and_the_run_goes_on():
    bads = [crasher(kind, f"bad_{kind}", priority=0) for kind in ISSUE_CRASHES]
    oks = [returning(f"ok{i}", priority=1) for i in range(8)]
    results, msgs = run_all(sched.Sched([*bads, *oks]), new_pool("process", workers=2))
    res = by_task(results)
    assert len(results) == 12
    for kind, bad in zip(ISSUE_CRASHES, bads, strict=True):
        assert_worker_lost(res[bad], CRASHES[kind][1])
    assert all(res[t].ret == t.__name__ for t in oks)
    assert end_messages(msgs) == []


@pytest.mark.timeout(30)
def test_crash_keeps_preset_shared_in_result():
    bad = crasher("exit3")
    s = sched.Sched([bad])
    s.add_shared(key="value")
    (res,) = list(s.run(new_pool("process", workers=1)))
    assert_worker_lost(res, "code 3")
    assert isinstance(res.shared, dict)
    assert res.shared.get("key") == "value"


# ---------------------------------------- uncontrolled failure bookkeeping


def _failing_parent(how: str, pool_kind: str, stack, **fields):
    """A task failing the given way; ``stack`` cleans up thread hangers."""
    if how == "timeout":
        if pool_kind == "process":
            return process_hanger("parent", **fields)
        hang = stack.enter_context(ThreadHang("parent", **fields))
        return hang.task
    return crasher(how, "parent", **fields)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "how, pool_kind",
    [
        *((k, "process") for k in ISSUE_CRASHES),
        ("timeout", "process"),
        ("timeout", "thread"),
    ],
)
def test_dependants_skipped_and_locks_held(how, pool_kind):
    with contextlib.ExitStack() as stack:
        parent = _failing_parent(
            how, pool_kind, stack, provides=["x"], claims=["A"], uses=["B"], priority=-1
        )
        d1 = returning("d1", requires=["x"], provides=["y"])
        d2 = returning("d2", requires=["y"])
        d3 = returning("d3", requires=["x"])
        blocked = returning("blocked", claims=["A"])  # waits for A forever: not "skipped"
        reader = returning("reader", uses=["B"])  # B is kept as a read lock: may go
        free = returning("free")
        s = sched.Sched([parent, d1, d2, d3, blocked, reader, free])
        results, msgs = run_all(s, new_pool(pool_kind, workers=2))
    res = by_task(results)
    assert sorted(task_names(results)) == ["free", "parent", "reader"]
    if how == "timeout":
        assert_timed_out(res[parent])
    else:
        assert_worker_lost(res[parent], CRASHES[how][1])
    assert res[free].ret == "free"
    assert res[reader].ret == "reader"
    assert end_messages(msgs) == expected_end_messages(skipped=3, locks=2)


@pytest.mark.timeout(30)
def test_crash_does_not_provide_but_another_provider_does():
    bad = crasher("sigkill", "bad", provides=["x"], priority=-1)
    good = returning("good", provides=["x"], priority=1)
    dep = returning("dep", requires=["x"], priority=0)
    results, msgs = run_all(sched.Sched([bad, good, dep]), new_pool("process", workers=1))
    assert task_names(results) == ["bad", "good", "dep"]
    assert end_messages(msgs) == []


# ---------------------------------------------------------- timeout: meta


@pytest.mark.parametrize("value", [None, 0.001, 0.5, 1, 30, 10**6, float("inf")])
def test_timeout_accepts_positive_numbers_and_none(value):
    assert meta.SchedMeta().timeout is None
    assert meta.SchedMeta(timeout=value).timeout == value

    def t():
        pass

    assert meta.get_timeout(t) is None
    meta.assign_val(t, timeout=value)
    assert meta.get_timeout(t) == value
    m = meta.SchedMeta()
    m.timeout = value
    assert m.timeout == value


@pytest.mark.parametrize(
    "value", ["1", b"1", True, False, [1], (1,), {1: 1}, 0, 0.0, -1, -0.5, float("nan"), object()]
)
def test_timeout_refuses_non_numbers_and_non_positive(value):
    with pytest.raises(AttributeError):
        meta.SchedMeta(timeout=value)

    def t():
        pass

    with pytest.raises(AttributeError):
        meta.assign_val(t, timeout=value)
    with pytest.raises(AttributeError):
        meta.func_meta(timeout=value)(t)
    m = meta.SchedMeta(timeout=5)
    with pytest.raises(AttributeError):
        m.timeout = value
    assert m.timeout == 5  # unchanged by the refused assignment


def test_timeout_field_message_names_the_type():
    with pytest.raises(AttributeError, match="timeout"):
        meta.SchedMeta(timeout="10")


def test_timeout_error_classes():
    assert issubclass(sched.TaskTimeoutError, sched.SchedulerError)
    assert issubclass(sched.TaskTimeoutError, TimeoutError)
    assert issubclass(sched.WorkerLostError, sched.SchedulerError)
    assert issubclass(sched.SchedulerError, pexen.PexenError)
    assert not issubclass(sched.WorkerLostError, sched.TaskTimeoutError)


# ------------------------------------------------------- timeout: running


def test_task_within_its_timeout_runs_normally(pool):
    quick = returning("quick", timeout=EVENT_TIMEOUT)
    other = returning("other")
    results, msgs = run_all(sched.Sched([quick, other]), pool)
    res = by_task(results)
    assert res[quick].ret == "quick" and res[quick].excinfo is None
    assert res[other].ret == "other"
    assert msgs == []


@pytest.mark.timeout(30)
def test_process_task_over_its_timeout_is_killed_and_replaced():
    before = pid_task("before", priority=0)
    hangs = process_hanger("hangs", priority=1)
    after = [pid_task(f"after{i}", priority=2) for i in range(3)]
    results, msgs = run_all(sched.Sched([before, hangs, *after]), new_pool("process", workers=1))
    res = by_task(results)
    assert task_names(results) == ["before", "hangs", "after0", "after1", "after2"]
    assert_timed_out(res[hangs])
    assert "timeout" in str(res[hangs].excinfo.val)
    pids = {res[t].ret for t in after}
    assert len(pids) == 1 and res[before].ret not in pids  # a replacement process
    assert msgs == []


@pytest.mark.timeout(30)
def test_thread_task_over_its_timeout_is_abandoned_and_replaced():
    # one worker: the tasks after the hang can only run on a fresh worker,
    # while the abandoned thread still waits
    with ThreadHang("hangs", priority=1) as hang:
        before = returning("before", priority=0)
        after = [returning(f"after{i}", priority=2) for i in range(3)]
        s = sched.Sched([before, hang.task, *after])
        results, msgs = run_all(s, new_pool("thread", workers=1))
        assert not hang.returned.is_set()  # still hanging: it was not waited for
    res = by_task(results)
    assert task_names(results) == ["before", "hangs", "after0", "after1", "after2"]
    assert_timed_out(res[hang.task])
    assert msgs == []


@pytest.mark.timeout(30)
def test_abandoned_thread_task_result_is_dropped():
    # the loop body releases the abandoned task; the run goes on until it has
    # returned (``waiter`` waits for that), and its late return is not reported
    with ThreadHang("hangs", priority=0) as hang:

        @meta.func_meta(priority=1)
        def waiter():
            return hang.returned.wait(EVENT_TIMEOUT)

        results = []
        with recorded_warnings() as rec:
            for res in sched.Sched([hang.task, waiter]).run(new_pool("thread", workers=1)):
                results.append(res)
                if res.task is hang.task:
                    hang.release()
    assert pexen_messages(rec) == []
    res = by_task(results)  # one result per task: the late return is dropped
    assert task_names(results) == ["hangs", "waiter"]
    assert_timed_out(res[hang.task])
    assert res[waiter].ret is True


@pytest.mark.timeout(30)
def test_several_thread_timeouts_in_one_run():
    with ThreadHang("h1") as h1, ThreadHang("h2") as h2, ThreadHang("h3") as h3:
        oks = [returning(f"ok{i}", priority=1) for i in range(5)]
        s = sched.Sched([h1.task, h2.task, h3.task, *oks])
        results, msgs = run_all(s, new_pool("thread", workers=2))
    res = by_task(results)
    assert len(results) == 8
    for h in (h1, h2, h3):
        assert_timed_out(res[h.task])
    assert all(res[t].ret == t.__name__ for t in oks)
    assert msgs == []


# ------------------------------------------------------------ the big one


@pytest.mark.timeout(60)
def test_fifty_tasks_ten_crash_five_time_out():
    kinds = [*ISSUE_CRASHES, *ISSUE_CRASHES, "abort", "sigterm"]  # 10 crashes
    crashers = [crasher(kind, f"crash{i}_{kind}") for i, kind in enumerate(kinds)]
    hangers = [process_hanger(f"timeout{i}") for i in range(5)]

    def make_ok(i):
        def task(shared):
            shared["i"] = i
            return sum(range(i * 100))

        return named(f"ok{i}", task)

    oks = [make_ok(i) for i in range(35)]
    tasks = [*crashers, *hangers, *oks]
    random.Random(1234).shuffle(tasks)
    assert len(tasks) == 50

    results, msgs = run_all(sched.Sched(tasks), new_pool("process", workers=2))

    res = by_task(results)
    outcome = Counter("ok" if r.excinfo is None else r.excinfo.type.__name__ for r in results)
    print(
        f"\n50-task crash run: {len(results)} results: "
        f"{outcome['ok']} returned, {outcome['WorkerLostError']} WorkerLostError, "
        f"{outcome['TaskTimeoutError']} TaskTimeoutError, other {dict(outcome)}"
    )
    assert len(results) == 50
    assert set(res) == set(tasks)
    for kind, t in zip(kinds, crashers, strict=True):
        assert_worker_lost(res[t], CRASHES[kind][1])
    for t in hangers:
        assert_timed_out(res[t])
    for i, t in enumerate(oks):
        assert res[t].excinfo is None, res[t].excinfo
        assert res[t].ret == sum(range(i * 100))
        assert res[t].shared == {"i": i}
    assert outcome == Counter(ok=35, WorkerLostError=10, TaskTimeoutError=5)
    assert end_messages(msgs) == []
