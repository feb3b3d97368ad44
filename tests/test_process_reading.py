"""Who reads the process pool's outcomes: the caller's thread while it waits
for a result, the pool's reader thread while the caller is away.

Whichever it is, a run goes on as before: scheduling goes on while the caller
handles a result, and a Ctrl-C landing while the caller's thread plans ends
the run cleanly.
"""

from __future__ import annotations

import threading

import pytest
from helpers import (
    EVENT_TIMEOUT,
    new_event,
    new_pool,
    returning,
    sleeper,
    tagged,
    task_names,
    wait_for,
)

from actors.planner import Planner
from pexen import sched


def setter(name: str, ev: object, **fields: object) -> object:
    """A task that sets ``ev`` (through kwargs) and returns its name."""

    def task(*, ev: threading.Event) -> str:
        ev.set()
        return name

    return tagged(name, task, kwargs={"ev": ev}, **fields)


def test_scheduling_goes_on_while_the_caller_handles_a_result() -> None:
    # a -> b -> c: c can be handed out only once b's outcome was read, which
    # happens while the caller is still busy with a's result
    ev = new_event("process")
    a = returning("a", provides=["a"])
    b = returning("b", requires=["a"], provides=["b"])
    c = setter("c", ev, requires=["b"])
    seen = []
    for res in sched.Sched([a, b, c]).run(new_pool("process", workers=1)):
        if res.task is a:
            seen.append(ev.wait(EVENT_TIMEOUT))  # c ran meanwhile
    assert seen == [True]


def test_many_results_in_order_of_a_chain() -> None:
    tasks = [returning("t0", provides=["p0"])]
    tasks += [returning(f"t{i}", requires=[f"p{i - 1}"], provides=[f"p{i}"]) for i in range(1, 199)]
    tasks.append(returning("t199", requires=["p198"]))
    res = list(sched.Sched(tasks).run(new_pool("process", workers=2)))
    assert task_names(res) == [f"t{i}" for i in range(200)]
    assert all(r.excinfo is None for r in res)


def test_ctrl_c_while_the_callers_thread_plans_ends_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main = threading.main_thread()
    landed = []
    task_done = Planner._task_done

    def interrupted(self: Planner, message: object) -> None:
        if not landed and threading.current_thread() is main:
            landed.append(message)
            raise KeyboardInterrupt
        task_done(self, message)  # type: ignore[arg-type]

    monkeypatch.setattr(Planner, "_task_done", interrupted)
    tasks = [returning(f"t{i}") for i in range(100)]
    s = sched.Sched(tasks)
    results = []
    with pytest.raises(KeyboardInterrupt):
        for res in s.run(new_pool("process", workers=2)):
            results.append(res)
    assert len(landed) == 1  # the caller's thread read outcomes and planned
    assert len(results) < 100
    assert not s.status().active
    monkeypatch.undo()
    assert len(list(s.run(new_pool("process", workers=2)))) == 100  # all well again


def test_status_and_cancel_from_another_thread_while_the_caller_waits() -> None:
    stuck = sleeper("stuck")  # until killed: only the cancel ends the run
    s = sched.Sched([stuck, returning("quick")])
    seen = []

    def watch() -> None:
        st = wait_for(lambda: (st := s.status()).finished == 1 and st, what="quick done")
        seen.append({r.task for r in st.running})
        waiter = s._engine.mailbox._waiter  # type: ignore[union-attr]
        wait_for(lambda: waiter.polling, what="the caller's take() on the worker sockets")
        s.cancel()  # ends the run: the caller, waiting, must be woken

    watcher = threading.Thread(target=watch, name="test-watcher")
    results = []
    try:
        for res in s.run(new_pool("process", workers=2)):
            results.append(res)
            if watcher.ident is None:
                watcher.start()
    finally:
        if watcher.ident is not None:
            watcher.join()
    assert seen == [{stuck}]
    assert task_names(results) == ["quick"]
    assert not s.status().active
