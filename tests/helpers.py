"""Helpers shared by the black-box tests of pexen.

Everything here goes through the public API only (``pexen.sched`` and its
``meta`` and ``pool`` modules). Engine modules are looked up lazily, at test
time, so that the suite can be collected while the engine is being written.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import pexen
from pexen import sched
from pexen.sched import meta

POOL_KINDS = ("thread", "process")

#: The two end-of-run warnings (README: "Failures").
SKIP_MSG = "{} tasks skipped due to unmet deps caused by parent exception"
LOCKS_MSG = "{} locks still held at exit due to parent exception"

#: How long a task or the test waits for an event that a correct scheduler
#: sets almost at once. Only reached when something is wrong.
EVENT_TIMEOUT = 20


def new_pool(kind: str, workers: int = 2, spare: int = 1) -> Any:
    """A fresh ThreadWorkerPool or ProcessWorkerPool."""
    poolmod = sched.pool
    if kind == "thread":
        return poolmod.ThreadWorkerPool(workers=workers, spare=spare)
    if kind == "process":
        return poolmod.ProcessWorkerPool(workers=workers, spare=spare)
    raise ValueError(kind)


def new_event(kind: str) -> Any:
    """An event a task of the given pool kind can get through its kwargs."""
    if kind == "thread":
        return threading.Event()
    return multiprocessing.Event()


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning (no de-duplication) raised inside the block."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        yield rec


def pexen_messages(rec: Iterable[warnings.WarningMessage]) -> list[str]:
    """The messages of the PexenWarnings among the recorded warnings."""
    return [str(w.message) for w in rec if issubclass(w.category, pexen.PexenWarning)]


def end_messages(messages: Iterable[str]) -> list[str]:
    """Only the two end-of-run warnings (skipped tasks, held locks)."""
    return sorted(
        m
        for m in messages
        if m.endswith("tasks skipped due to unmet deps caused by parent exception")
        or m.endswith("locks still held at exit due to parent exception")
    )


def expected_end_messages(skipped: int, locks: int) -> list[str]:
    out = []
    if skipped:
        out.append(SKIP_MSG.format(skipped))
    if locks:
        out.append(LOCKS_MSG.format(locks))
    return sorted(out)


def run_all(s: Any, pool: Any = None) -> tuple[list[Any], list[str]]:
    """Run the scheduler to the end; return its results and PexenWarning texts.

    ``pool=None`` runs ``s.run()`` without an argument (the default pool).
    """
    with recorded_warnings() as rec:
        results = list(s.run()) if pool is None else list(s.run(pool))
    return results, pexen_messages(rec)


def by_task(results: Iterable[Any]) -> dict[Any, Any]:
    """Map each result's task to its TaskRes, checking one result per task."""
    out: dict[Any, Any] = {}
    for res in results:
        assert isinstance(res, sched.TaskRes), res
        assert res.task not in out, f"two results for {res.task!r}"
        out[res.task] = res
    return out


def task_names(results: Iterable[Any]) -> list[str]:
    """The ``__name__`` of each result's task, in result order."""
    return [res.task.__name__ for res in results]


def named(name: str, func: Any) -> Any:
    """Give a function a readable name (shown in test failures)."""
    func.__name__ = name
    func.__qualname__ = name
    return func


def tagged(name: str, func: Any, **fields: Any) -> Any:
    """``func`` named ``name``, with metadata ``fields`` (when any)."""
    named(name, func)
    if fields:
        meta.assign_val(func, **fields)
    return func


def blocker(name: str, ev: Any, **fields: Any) -> Any:
    """A task that waits for ``ev`` (given through kwargs), then returns ``(name, set)``.

    ``set`` is whether ``ev`` was set before :data:`EVENT_TIMEOUT`.
    """

    def task(*, ev: Any) -> tuple[str, bool]:
        return (name, ev.wait(EVENT_TIMEOUT))

    kwargs = {**fields.pop("kwargs", {}), "ev": ev}
    return tagged(name, task, kwargs=kwargs, **fields)


def returning(name: str, value: Any = None, **fields: Any) -> Any:
    """A task named ``name`` returning ``value`` (default: its name), with metadata."""

    def task() -> Any:
        return name if value is None else value

    return tagged(name, task, **fields)


def stamp_task(name: str, *, duration: float = 0.0) -> Any:
    """A task returning ``(name, start_ns, end_ns)`` with system-wide clocks."""

    def task() -> tuple[str, int, int]:
        start = time.monotonic_ns()
        if duration:
            time.sleep(duration)  # some work, so that overlaps could happen
        return (name, start, time.monotonic_ns())

    return named(name, task)


def intervals_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two closed [start, end] intervals overlap."""
    return a[0] < b[1] and b[0] < a[1]


#: A process task meant to be killed (by a cancel or a timeout) sleeps this
#: long: far longer than any test's hang guard, so a kill that does not
#: happen shows.
HANG = 120

#: How often :func:`wait_for` and :func:`file_blocker` look again, in seconds.
POLL = 0.005


def wait_for(predicate: Any, timeout: float = EVENT_TIMEOUT, what: str = "a state") -> Any:
    """Poll ``predicate()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(POLL)


def sleeper(name: str, **fields: Any) -> Any:
    """A (process) task that sleeps :data:`HANG` seconds: until it is killed."""

    def task() -> str:
        time.sleep(HANG)
        return name

    return tagged(name, task, **fields)


def file_blocker(name: str, path: Any, **fields: Any) -> Any:
    """A task that waits until ``path`` exists (from any process), then returns its name."""

    def task() -> str:
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(POLL)
        return name

    return tagged(name, task, **fields)


def marker(name: str, directory: Any, **fields: Any) -> Any:
    """A task that leaves a file ``directory/name`` when it starts (seen from any process)."""
    path = directory / name

    def task() -> str:
        path.write_text("started")
        return name

    return tagged(name, task, **fields)


def started_markers(directory: Any) -> list[str]:
    """The names of the :func:`marker` tasks that started, sorted."""
    return sorted(p.name for p in directory.iterdir())


def running_started(status: Any) -> set[Any]:
    """The tasks of a ``RunStatus`` that run and have begun (not only handed out)."""
    return {r.task for r in status.running if r.started is not None}


def pid_task(name: str = "pid_task", **fields: Any) -> Any:
    """A task returning the id of the process it runs in."""

    def task() -> int:
        return os.getpid()

    return tagged(name, task, **fields)


def ending_blocker(name: str, ev: Any, ended: list[str], **fields: Any) -> Any:
    """A thread task like :func:`blocker` that appends ``name`` to ``ended`` as it returns.

    Shows when a task that cannot be killed (a thread) really ended: a list
    is shared with a thread task only, not with a worker process.
    """

    def task(*, ev: Any) -> tuple[str, bool]:
        try:
            return (name, ev.wait(EVENT_TIMEOUT))
        finally:
            ended.append(name)

    kwargs = {**fields.pop("kwargs", {}), "ev": ev}
    return tagged(name, task, kwargs=kwargs, **fields)


#: Pids of the processes of a cluster that a module's tests share (a module
#: fixture of tests/test_dask_*.py adds them while the cluster lives, and
#: removes them once it is closed and gone). Their descendants belong to
#: that fixture, not to a test: the leak check of each test leaves them
#: alone, also those started meanwhile (a worker a nanny restarts).
SHARED_PROCESS_ROOTS: set[int] = set()


def still_running(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie counts as gone)."""
    import psutil  # a test dependency; helpers is imported by every test module

    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left
