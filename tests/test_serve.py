"""``Sched.serve()`` and ``Sched.stop()``: a run that stays open, as a service's.

Each test drives the serve from its loop body (or a feeder thread started
there), on both pools, through the public API only: no sleeps, no timing.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    EVENT_TIMEOUT,
    end_messages,
    expected_end_messages,
    pexen_messages,
    recorded_warnings,
    returning,
    tagged,
    task_names,
)

from pexen import sched


def first_task() -> Any:
    """A fresh task that starts a serve (its result is the loop's first)."""
    return tagged("first", lambda: "first")


class Probe:
    """Something a task leaves in its shared dict, to be watched by weakref."""


class Job:
    """A task as a callable object (weakref-able), leaving a Probe in its shared dict."""

    __name__ = "job"

    def __call__(self, shared: dict[str, Any]) -> str:
        shared["probe"] = Probe()
        return "job"


def test_requires_a_name_provided_earlier_in_the_serve(pool):
    prov = tagged("prov", lambda shared: shared.update(k="from prov"), provides=["x"])
    req = tagged("req", lambda shared: shared.get("k"), requires=["x"])
    with recorded_warnings():  # x is required by no task yet: as for run(), a warning
        s = sched.Sched([prov])
    got = []
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            got.append(res)
            if res.task is prov:
                s.add_tasks([req])  # prov is served and forgotten: x stays provided
            elif res.task is req:
                s.stop()
    assert task_names(got) == ["prov", "req"]
    assert got[1].ret == "from prov"  # the shared state of what it requires
    assert not end_messages(pexen_messages(rec))


def test_a_requirer_waits_for_a_provider_added_later(pool):
    first = first_task()
    req = returning("req", requires=["y"])
    prov = returning("prov", provides=["y"])
    s = sched.Sched([first])
    got = []
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            got.append(res)
            if res.task is first:
                s.add_tasks([req])  # nobody provides y yet: it waits
                assert req in s.status().waiting_deps
                s.add_tasks([prov])
            elif res.task is req:
                s.stop()
    assert task_names(got) == ["first", "prov", "req"]
    assert all(res.excinfo is None for res in got)
    assert not pexen_messages(rec)


def test_stop_skips_what_waits_forever_and_counts_it(pool):
    first = first_task()
    never = returning("never", requires=["nobody provides this"])

    def hold() -> None:
        raise RuntimeError("fails holding r: r is held for good")

    holder = tagged("holder", hold, claims=["r"])
    user = returning("user", uses=["r"])
    s = sched.Sched([first])
    got = []
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            got.append(res)
            if res.task is first:
                s.add_tasks([never, holder])
            elif res.task is holder:
                s.add_tasks([user])  # waits for a lock held forever
                s.stop()
    assert task_names(got) == ["first", "holder"]
    assert end_messages(pexen_messages(rec)) == expected_end_messages(1, 1)


def test_add_tasks_after_stop_is_refused(pool):
    first = first_task()
    late = returning("late")
    s = sched.Sched([first])
    got = []
    for res in s.serve(pool):
        got.append(res)
        s.stop()
        s.stop()  # twice: no harm
        with pytest.raises(sched.SchedulerError, match=r"serve\(\) was stopped.*no more tasks"):
            s.add_tasks([late])
    assert task_names(got) == ["first"]
    # once the serve has ended, the scheduler takes tasks again
    s.add_tasks([late])
    assert task_names(s.run(pool)) == ["late"]


def test_a_served_task_is_no_longer_referenced_once_its_result_was_taken(pool):
    first, after = first_task(), returning("after")
    s = sched.Sched([first])
    refs: dict[str, weakref.ref[Any]] = {}
    names = []
    for res in s.serve(pool):
        names.append(res.task.__name__)
        if res.task is first:
            job = Job()
            refs["callable"] = weakref.ref(job)
            s.add_tasks([job])
            del job
        elif isinstance(res.task, Job):
            refs["shared"] = weakref.ref(res.shared["probe"])
            s.add_tasks([after])
        else:
            del res  # the job's result was dropped when res moved on
            gc.collect()
            assert refs["callable"]() is None, "the scheduler still refers to a served task"
            assert refs["shared"]() is None, "the scheduler still refers to its shared dict"
            s.stop()
    assert names == ["first", "job", "after"]


def test_a_thousand_tasks_fed_from_another_thread(pool):
    first = first_task()
    s = sched.Sched([first])
    failures: list[BaseException] = []

    def feed() -> None:
        try:
            for i in range(1000):
                s.add_tasks([returning(f"t{i}", i)])
        except BaseException as exc:  # reported by the test
            failures.append(exc)
        finally:
            s.stop()

    feeder = threading.Thread(target=feed)
    rets = []
    with recorded_warnings() as rec:
        for res in s.serve(pool, backlog=16):
            if res.task is first:
                feeder.start()  # the serve is on: stop() cannot come too early
            else:
                assert res.excinfo is None
                rets.append(res.ret)
    feeder.join(EVENT_TIMEOUT)
    assert not failures
    assert sorted(rets) == list(range(1000))
    assert not pexen_messages(rec)
    assert list(s.run(pool)) == []  # every served task was forgotten


def test_status_during_a_serve_covers_the_whole_serve(pool):
    first = first_task()
    later = [returning(f"l{i}") for i in range(3)]
    s = sched.Sched([first])
    assert not s.status().active
    seen = 0
    for res in s.serve(pool):
        seen += 1
        st = s.status()
        assert st.active
        assert st.finished >= seen
        assert res.task not in st.ready and res.task not in st.waiting_deps
        if res.task is first:
            s.add_tasks(later)
        if seen == 4:
            s.stop()
    assert seen == 4
    assert not s.status().active


def test_cancel_during_a_serve(pool):
    first = first_task()
    s = sched.Sched([first])
    got = []
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            got.append(res)
            s.add_tasks([returning("waits", requires=["never"])])
            s.cancel()
    assert task_names(got) == ["first"]
    assert not end_messages(pexen_messages(rec))  # cancelled: no end-of-run report
    assert not s.status().active


def test_leaving_the_loop_ends_a_serve(pool):
    first = first_task()
    s = sched.Sched([first])
    for res in s.serve(pool):
        assert res.task is first
        break
    assert not s.status().active
    # the scheduler is free again; the served task is gone
    assert list(s.run(pool)) == []


def test_one_run_or_serve_at_a_time(pool):
    s = sched.Sched([first_task()])
    for _ in s.serve(pool):
        with pytest.raises(sched.SchedulerError, match="already running"):
            s.serve(pool)
        with pytest.raises(sched.SchedulerError, match="already running"):
            s.run(pool)
        s.stop()
    for _ in s.run(pool):
        pass
    s.add_tasks([first_task()])
    for _ in s.run(pool):
        with pytest.raises(sched.SchedulerError, match="already running"):
            s.serve(pool)


def test_serve_checks_its_arguments_as_run_does():
    s = sched.Sched()
    with pytest.raises(TypeError, match="pool must be"):
        s.serve("threads")
    with pytest.raises(ValueError, match="backlog must be a positive int"):
        s.serve(backlog=0)


def test_a_task_added_again_after_it_was_served_runs_again(pool):
    again = returning("again")
    s = sched.Sched([again])
    runs = 0
    for res in s.serve(pool):
        assert res.task is again
        runs += 1
        if runs < 3:
            s.add_tasks([again])  # forgotten once served: a new task
            s.add_tasks([again])  # given twice while not finished: one task
        else:
            s.stop()
    assert runs == 3


def test_cycles_are_refused_during_a_serve(pool):
    first = first_task()
    a = returning("a", requires=["x"], provides=["y"])
    b = returning("b", requires=["y"], provides=["x"])
    c = returning("c", requires=["p"], provides=["q"])
    d = returning("d", requires=["q"], provides=["p"])
    # a free provider of x breaks the cycle of e and f: accepted
    free = returning("free", provides=["m"])
    e = returning("e", requires=["m"], provides=["n"])
    f = returning("f", requires=["n"], provides=["m"])
    s = sched.Sched([first])
    got = []
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            got.append(res)
            if res.task is first:
                s.add_tasks([a])  # waits for x, which no task provides yet
                with pytest.raises(sched.DepcheckError, match="cycle") as err:
                    s.add_tasks([b])  # with a: x -> y -> x
                assert set(err.value.remain) == {"x", "y"}
                with pytest.raises(sched.DepcheckError, match="cycle"):
                    s.add_tasks([c, d])  # a cycle within one batch
                s.add_tasks([e, f, free])
                assert a in s.status().waiting_deps
            if len(got) == 4:
                s.stop()
    assert sorted(task_names(got)) == ["e", "f", "first", "free"]
    # a (waiting for x) is skipped: b, c and d were never added
    assert end_messages(pexen_messages(rec)) == expected_end_messages(1, 0)


def test_no_unrequired_provides_warning_during_a_serve(pool):
    first = first_task()
    lonely = returning("lonely", provides=["nobody requires this yet"])
    s = sched.Sched([first])
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            if res.task is first:
                s.add_tasks([lonely])  # a later task may require it
            else:
                s.stop()
    assert not pexen_messages(rec)
    # before a serve, the task set is validated as for run()
    with recorded_warnings() as rec:
        s.add_tasks([returning("lonely2", provides=["z"])])
    assert any("not required by any task" in m for m in pexen_messages(rec))
    with pytest.raises(sched.DepcheckError):
        s.add_tasks([returning("req", requires=["nobody"])])


def test_stop_outside_a_serve_does_nothing(pool):
    s = sched.Sched([returning("a")])
    s.stop()
    got = []
    for res in s.run(pool):
        got.append(res)
        s.stop()  # a run ends by itself
    assert task_names(got) == ["a"]
    s.add_tasks([returning("b")])  # not refused: no serve was stopped


SERVICE = Path(__file__).resolve().parent.parent / "examples" / "service.py"


def _service(pool_kind: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    root = str(SERVICE.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH")] if p)
    return subprocess.Popen(
        [sys.executable, str(SERVICE), pool_kind, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_service_example_stops_by_itself_when_its_feeder_is_done(pool_kind):
    proc = _service(pool_kind, "--items", "12", "--every", "5")
    out, err = proc.communicate(timeout=50)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"service ready ({pool_kind} pool")
    assert any(line.startswith("status: ") for line in lines)
    assert "stopping: no more requests; draining what was accepted" in lines
    # 12 requests of 3 tasks each, and the service's first task: all served
    assert lines[-1] == "drained: 37 tasks served, 0 failed"
    assert err == ""  # nothing skipped: every request's libraries were requested


def test_the_service_example_drains_and_exits_0_on_sigterm(pool_kind):
    proc = _service(pool_kind, "--items", "0", "--every", "5")  # an endless feeder
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"service ready ({pool_kind} pool"), first
        status = proc.stdout.readline()  # requests are being served
        assert status.startswith("status: "), status
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=50)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert "stopping: no more requests; draining what was accepted" in lines
    assert lines[-1].startswith("drained: ") and lines[-1].endswith(" 0 failed")
    # a request accepted before its library's may be left waiting: reported
    for line in err.splitlines():
        assert "PexenWarning" in line or line.strip().startswith("for res in"), err


def test_tasks_left_by_a_serve_run_in_a_later_run(pool):
    first = first_task()
    waits = returning("waits", requires=["later"])
    s = sched.Sched([first])
    with recorded_warnings() as rec:
        for res in s.serve(pool):
            assert res.task is first
            s.add_tasks([waits])  # nobody provides "later" yet
            s.stop()
    assert end_messages(pexen_messages(rec)) == expected_end_messages(1, 0)
    # not served: still there; the next run sees it with the tasks added since
    prov = returning("prov", provides=["later"])
    s.add_tasks([prov])
    with recorded_warnings() as rec:
        got = list(s.run(pool))
    assert task_names(got) == ["prov", "waits"]
    assert not pexen_messages(rec)
