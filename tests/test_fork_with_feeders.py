"""Process pools in a process that runs multiprocessing queue feeder threads.

A ``multiprocessing.Queue`` that was put into runs a feeder thread in this
process until the queue is collected. Such a thread is safe to fork past, so
tasks known when the pool starts are still inherited by fork, with their
``multiprocessing`` primitives in ``kwargs``; any other thread means the
zygote is exec'd and tasks travel pickled.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

from helpers import EVENT_TIMEOUT, by_task, new_pool, tagged

from actors.zygote import safe_to_fork
from pexen import sched


def _queue_with_a_running_feeder() -> multiprocessing.Queue:
    q: multiprocessing.Queue = multiprocessing.Queue()
    # a thread-pool run whose task puts into the queue starts its feeder here
    list(sched.Sched([tagged("put_here", lambda: q.put("from a thread"))]).run())
    assert q.get(timeout=EVENT_TIMEOUT) == "from a thread"
    assert any(t.name == "QueueFeederThread" for t in threading.enumerate())
    return q


def _close(*queues: multiprocessing.Queue) -> None:
    for q in queues:
        q.close()
        q.join_thread()


def test_a_feeder_thread_is_safe_to_fork_past_and_a_foreign_thread_is_not():
    q = _queue_with_a_running_feeder()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    try:
        assert safe_to_fork()
        other.start()
        assert not safe_to_fork()
    finally:
        stop.set()
        if other.is_alive():
            other.join()
        _close(q)


def test_primitives_in_kwargs_work_after_a_queue_was_used_in_this_process():
    used = _queue_with_a_running_feeder()
    q = multiprocessing.Queue()
    lock = multiprocessing.Lock()
    ev = multiprocessing.Event()

    def put(*, q):
        q.put(("hello", os.getpid()))
        return "put"

    def try_lock(*, lock):
        got = lock.acquire(block=False)  # the test holds it: must fail
        if got:
            lock.release()
        return got

    def set_event(*, ev):
        ev.set()
        return "set"

    def put_into_the_used_one(*, used):
        used.put("from a worker")  # the parent's feeder state is not the child's
        return "reused"

    tasks = [
        tagged("put", put, kwargs={"q": q}),
        tagged("try_lock", try_lock, kwargs={"lock": lock}),
        tagged("set_event", set_event, kwargs={"ev": ev}),
        tagged("put_into_the_used_one", put_into_the_used_one, kwargs={"used": used}),
    ]
    lock.acquire()
    try:
        res = by_task(sched.Sched(tasks).run(new_pool("process")))
    finally:
        lock.release()
    try:
        assert {r.task.__name__: (r.ret, r.excinfo) for r in res.values()} == {
            "put": ("put", None),
            "try_lock": (False, None),
            "set_event": ("set", None),
            "put_into_the_used_one": ("reused", None),
        }
        msg, pid = q.get(timeout=EVENT_TIMEOUT)
        assert (msg, pid != os.getpid()) == ("hello", True)
        assert ev.is_set()
        assert used.get(timeout=EVENT_TIMEOUT) == "from a worker"
    finally:
        _close(q, used)


def test_a_feeder_busy_at_fork_time_loses_nothing_on_either_side():
    busy = multiprocessing.Queue()
    count = 2000
    for i in range(count):  # 400 kB: the feeder is still writing as the pool forks
        busy.put((i, "x" * 200))
    out = multiprocessing.Queue()

    def echo(*, out):
        out.put(os.getpid())
        return "ok"

    try:
        res = list(
            sched.Sched([tagged("echo", echo, kwargs={"out": out})]).run(new_pool("process"))
        )
        assert [(r.ret, r.excinfo) for r in res] == [("ok", None)]
        assert out.get(timeout=EVENT_TIMEOUT) != os.getpid()
        assert [busy.get(timeout=EVENT_TIMEOUT)[0] for _ in range(count)] == list(range(count))
    finally:
        _close(busy, out)


def test_with_a_foreign_thread_only_the_unpicklable_task_fails():
    # the table travels pickled as a whole; one task that does not pickle
    # must not take the others down with it
    q = multiprocessing.Queue()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    other.start()
    offset = 40  # closures over a local: pickled by value

    def make(i):
        return tagged(f"add{i}", lambda: i + offset)

    tasks = [make(i) for i in range(5)]
    tasks.append(tagged("put", lambda *, q: q.put(1), kwargs={"q": q}))
    try:
        res = by_task(sched.Sched(tasks).run(new_pool("process")))
    finally:
        stop.set()
        other.join()
        _close(q)
    assert {t.__name__: res[t].ret for t in tasks[:5]} == {f"add{i}": 40 + i for i in range(5)}
    failed = res[tasks[5]].excinfo
    assert failed is not None
    assert str(failed.val).startswith("Can't pickle task")


def test_with_a_foreign_thread_running_primitives_cannot_travel():
    q = multiprocessing.Queue()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    other.start()
    try:
        res = list(
            sched.Sched([tagged("put", lambda *, q: q.put(1), kwargs={"q": q})]).run(
                new_pool("process")
            )
        )
    finally:
        stop.set()
        other.join()
        _close(q)
    [r] = res
    assert r.excinfo is not None
    assert str(r.excinfo.val).startswith("Can't pickle task")


def test_with_a_foreign_thread_tasks_keep_their_calling_convention():
    # an exec'd zygote gets each task as what calling it needs: the shared
    # dict (when asked for), kwargs, and the merges along requires
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="foreign")
    other.start()

    def first(shared):
        shared["seen"] = ["first"]

    def second(shared, *, word):
        shared["seen"] = [*shared["seen"], word]
        return os.getpid()

    tasks = [
        tagged("first", first, provides=["a"]),
        tagged("second", second, requires=["a"], kwargs={"word": "second"}),
        tagged("plain", lambda: "no args"),
    ]
    try:
        res = by_task(sched.Sched(tasks).run(new_pool("process")))
    finally:
        stop.set()
        other.join()
    assert res[tasks[1]].shared == {"seen": ["first", "second"]}
    assert res[tasks[1]].ret != os.getpid()
    assert res[tasks[2]].ret == "no args"
    assert all(r.excinfo is None for r in res.values())
