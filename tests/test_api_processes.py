"""What the process pool must get across process boundaries."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
import threading
import traceback
from io import StringIO

import pytest
from helpers import EVENT_TIMEOUT, by_task, new_pool, run_all

from pexen import sched
from pexen.sched import meta


def proc_pool(workers=2, spare=1):
    return new_pool("process", workers=workers, spare=spare)


class UnpicklableError(Exception):
    """An exception whose value cannot be pickled (it holds a lock)."""

    def __init__(self, msg):
        super().__init__(msg)
        self.lock = threading.Lock()


# ------------------------------------------------------- tasks of any shape


def test_tasks_run_in_other_processes():
    def where():
        return os.getpid()

    res = by_task(sched.Sched([where]).run(proc_pool()))
    pid = res[where].ret
    assert isinstance(pid, int)
    assert pid != os.getpid()


def test_closures_lambdas_and_local_functions():
    captured = {"value": 41}
    counter = [0]

    def local_function(shared):
        shared["local"] = True
        return "local"

    def closure():
        return captured["value"] + 1

    def make_adder(n):
        def add(shared):
            return shared["base"] + n

        return add

    lam = lambda: "lambda"  # noqa: E731
    lam_shared = lambda shared: shared["base"] * 2  # noqa: E731
    adder = make_adder(5)

    class LocalCallable:
        def __init__(self):
            self.counter = counter

        def __call__(self):
            return ("local-class", len(self.counter))

    inst = LocalCallable()
    tasks = [local_function, closure, lam, lam_shared, adder, inst]
    s = sched.Sched(tasks)
    s.add_shared(base=10)
    res = by_task(s.run(proc_pool()))
    for r in res.values():
        assert r.excinfo is None, r
    assert res[local_function].ret == "local"
    assert res[local_function].shared == {"base": 10, "local": True}
    assert res[closure].ret == 42
    assert res[lam].ret == "lambda"
    assert res[lam_shared].ret == 20
    assert res[adder].ret == 15
    assert res[inst].ret == ("local-class", 1)


def test_local_function_with_metadata_and_deps():
    @meta.func_meta(provides=["x"])
    def first(shared):
        shared["first"] = os.getpid()

    @meta.func_meta(requires=["x"], kwargs={"mult": 3})
    def second(shared, mult):
        return ("second", mult, "first" in shared)

    res = by_task(sched.Sched([second, first]).run(proc_pool()))
    assert res[second].ret == ("second", 3, True)


SCRIPT = """
    import os
    from pexen import sched
    from pexen.sched.pool import ProcessWorkerPool

    @sched.meta.func_meta(provides=['worldtype'])
    def greet(shared):
        shared['msg'] = "Hello World!"
        shared['wtype'] = 'Silicate'

    @sched.meta.func_meta(requires=['worldtype'], kwargs={'version': 'Last'})
    def greet_ver(shared, **kwargs):
        shared['msg'] = f"Hello {kwargs['version']} {shared['wtype']} World!"

    @sched.meta.func_meta(kwargs={'version': 'Last'})
    def greet_ver_nodep(shared, **kwargs):
        shared['msg'] = f"Hello {kwargs['version']} {shared['wtype']} World!"

    def make(n):
        return lambda: n * 2

    doubler = make(21)
    pid = lambda: os.getpid()

    s = sched.Sched([greet, greet_ver, greet_ver_nodep, doubler, pid])
    s.add_shared(wtype='Terrestrial')
    out = {}
    for result in s.run(ProcessWorkerPool(workers=2)):
        name = getattr(result.task, '__name__', '?')
        out[name if name != '<lambda>' else ('pid' if result.task is pid else 'doubler')] = (
            result.shared, result.ret, result.excinfo)
    assert out['greet'][0] == {'wtype': 'Silicate', 'msg': 'Hello World!'}, out
    assert out['greet_ver'][0] == {'wtype': 'Silicate', 'msg': 'Hello Last Silicate World!'}, out
    assert out['greet_ver_nodep'][0] == {
        'wtype': 'Terrestrial', 'msg': 'Hello Last Terrestrial World!'}, out
    assert out['doubler'][1] == 42, out
    assert out['pid'][1] != os.getpid(), out
    print("SCRIPT-OK", len(out))
"""


@pytest.mark.timeout(120)
def test_script_without_main_guard(tmp_path):
    script = tmp_path / "no_main_guard.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SCRIPT-OK 5" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.count("SCRIPT-OK") == 1, proc.stdout


@pytest.mark.timeout(120)
def test_script_run_with_dash_c(tmp_path):
    # no __main__ file at all: the code comes from the command line
    code = textwrap.dedent(
        """
        from pexen import sched
        from pexen.sched.pool import ProcessWorkerPool
        tasks = [lambda: 1, lambda: 2]
        print(sorted(r.ret for r in sched.Sched(tasks).run(ProcessWorkerPool(workers=2))))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "[1, 2]", proc.stdout + proc.stderr


# ------------------------------------------------- multiprocessing in kwargs


def test_multiprocessing_primitives_in_kwargs():
    q = multiprocessing.Queue()
    lock = multiprocessing.Lock()
    ev = multiprocessing.Event()

    @meta.func_meta(kwargs={"q": q})
    def put(*, q):
        q.put(("hello", os.getpid()))
        return "put"

    @meta.func_meta(kwargs={"lock": lock})
    def try_lock(*, lock):
        # the caller holds the very same lock, so this must fail
        got = lock.acquire(block=False)
        if got:
            lock.release()
        return got

    @meta.func_meta(kwargs={"ev": ev})
    def set_event(*, ev):
        ev.set()
        return "set"

    lock.acquire()
    try:
        res = by_task(sched.Sched([put, try_lock, set_event]).run(proc_pool()))
    finally:
        lock.release()
    try:
        for r in res.values():
            assert r.excinfo is None, r
        assert res[put].ret == "put"
        msg, pid = q.get(timeout=EVENT_TIMEOUT)
        assert msg == "hello"
        assert pid != os.getpid()
        assert res[try_lock].ret is False
        assert ev.is_set()
    finally:
        q.close()
        q.join_thread()


def test_what_tasks_put_into_a_multiprocessing_queue_arrives_after_the_run():
    # A multiprocessing.Queue sends from a feeder thread; the worker process
    # must let it flush before it ends with the run, as a multiprocessing
    # child does. Many items, put by the very last tasks, so that some are
    # still in the feeder's buffer when the run ends.
    q = multiprocessing.Queue()
    count = 400

    def producer(k):
        @meta.func_meta(kwargs={"q": q})
        def put_many(*, q):
            for i in range(count):
                q.put((k, i, "x" * 40))
            return k

        return put_many

    try:
        results = list(sched.Sched([producer(k) for k in range(2)]).run(proc_pool()))
        assert sorted(r.ret for r in results) == [0, 1]
        got = sorted(q.get(timeout=EVENT_TIMEOUT)[:2] for _ in range(2 * count))
        assert got == sorted((k, i) for k in range(2) for i in range(count))
    finally:
        q.close()
        q.join_thread()


def test_multiprocessing_queue_collects_from_many_tasks():
    q = multiprocessing.Queue()

    def make(i):
        @meta.func_meta(kwargs={"q": q, "i": i})
        def t(*, q, i):
            q.put(i)

        return t

    tasks = [make(i) for i in range(6)]
    try:
        results = list(sched.Sched(tasks).run(proc_pool()))
        assert all(r.excinfo is None for r in results), results
        got = sorted(q.get(timeout=EVENT_TIMEOUT) for _ in range(6))
        assert got == list(range(6))
    finally:
        q.close()
        q.join_thread()


# ----------------------------------------------------------- picklability


def test_unpicklable_return_value():
    def give_lock(shared):
        shared["fine"] = 1
        return threading.Lock()

    def ok():
        return "ok"

    results, _ = run_all(sched.Sched([give_lock, ok]), proc_pool())
    res = by_task(results)
    assert res[ok].ret == "ok"
    bad = res[give_lock]
    assert bad.ret is None
    assert bad.excinfo is not None
    assert bad.excinfo.type is AttributeError
    msg = str(bad.excinfo.val)
    assert msg.startswith("Can't pickle"), msg
    assert re.search(r"\bret\b", msg), f"message does not name the field 'ret': {msg}"


def test_unpicklable_shared():
    def taint(shared):
        shared["lock"] = threading.Lock()
        return "returned"

    results, _ = run_all(sched.Sched([taint]), proc_pool())
    [bad] = results
    assert bad.excinfo is not None
    assert bad.excinfo.type is AttributeError
    msg = str(bad.excinfo.val)
    assert msg.startswith("Can't pickle"), msg
    assert re.search(r"\bshared\b", msg), f"message does not name the field 'shared': {msg}"


def test_return_value_picklable_by_standard_pickle_only():
    # a lambda travels with cloudpickle but is not picklable by `pickle`
    def give_lambda():
        return lambda: 1

    [res] = list(sched.Sched([give_lambda]).run(proc_pool()))
    assert res.excinfo is not None
    assert res.excinfo.type is AttributeError
    assert str(res.excinfo.val).startswith("Can't pickle")


def test_thread_pool_takes_unpicklable_values():
    lock = threading.Lock()

    def taint(shared):
        shared["lock"] = lock
        return lock

    [res] = list(sched.Sched([taint]).run(new_pool("thread")))
    assert res.excinfo is None
    assert res.ret is lock
    assert res.shared["lock"] is lock


# -------------------------------------------------------------- exceptions


def test_exception_crosses_back_with_traceback():
    def failing_in_worker_process():
        raise ValueError("boom from the worker")

    [res] = list(sched.Sched([failing_in_worker_process]).run(proc_pool()))
    info = res.excinfo
    assert isinstance(info, sched.ExceptionInfo)
    assert info.type is ValueError
    assert isinstance(info.val, ValueError)
    assert info.val.args == ("boom from the worker",)
    assert info.tb is not None
    buf = StringIO()
    traceback.print_exception(*info, file=buf)
    out = buf.getvalue()
    assert "failing_in_worker_process" in out
    assert "ValueError: boom from the worker" in out
    assert any(fs.name == "failing_in_worker_process" for fs in traceback.extract_tb(info.tb))


def test_chained_exception_crosses_back():
    def chained():
        try:
            {}["missing"]
        except KeyError as exc:
            raise RuntimeError("outer") from exc

    [res] = list(sched.Sched([chained]).run(proc_pool()))
    assert res.excinfo.type is RuntimeError
    buf = StringIO()
    traceback.print_exception(*res.excinfo, file=buf)
    assert "RuntimeError: outer" in buf.getvalue()


def test_unpicklable_exception_value_gives_none():
    def raise_unpicklable():
        raise UnpicklableError("cannot travel")

    [res] = list(sched.Sched([raise_unpicklable]).run(proc_pool()))
    info = res.excinfo
    assert info is not None
    assert isinstance(info, sched.ExceptionInfo)
    assert info.type is UnpicklableError
    assert info.val is None


def test_unpicklable_exception_class_gives_none_fields():
    def raise_local_class():
        class LocalError(Exception):
            def __init__(self):
                super().__init__("local")
                self.lock = threading.Lock()

        raise LocalError()

    [res] = list(sched.Sched([raise_local_class]).run(proc_pool()))
    info = res.excinfo
    assert info is not None, "a failed task must have excinfo, even if empty"
    assert isinstance(info, sched.ExceptionInfo)
    # the class is local to a function that ran in the worker: the standard
    # pickle, which carries outcomes back, cannot name it, so it stays behind
    # with the value
    assert info.type is None
    assert info.val is None
    assert res.ret is None


def test_failure_with_unpicklable_value_still_counts_as_failure():
    @meta.func_meta(provides=["x"])
    def fails():
        raise UnpicklableError("nope")

    @meta.func_meta(requires=["x"])
    def dependant():
        return "never"

    results, msgs = run_all(sched.Sched([fails, dependant]), proc_pool())
    assert [r.task for r in results] == [fails]
    assert msgs == ["1 tasks skipped due to unmet deps caused by parent exception"]


def test_taskfailerror_flags_cross_back():
    @meta.func_meta(provides=["x"], claims=["r"])
    def fails():
        raise sched.TaskFailError("ctl", deps_ok=False, locks_ok=True)

    @meta.func_meta(requires=["x"])
    def needs():
        return "never"

    @meta.func_meta(claims=["r"])
    def locks():
        return "locks"

    results, msgs = run_all(sched.Sched([fails, needs, locks]), proc_pool())
    res = by_task(results)
    assert set(res) == {fails, locks}
    val = res[fails].excinfo.val
    assert isinstance(val, sched.TaskFailError)
    assert (val.deps_ok, val.locks_ok) == (False, True)
    assert msgs == ["1 tasks skipped due to unmet deps caused by parent exception"]


def test_process_pool_many_small_tasks():
    tasks = []
    for i in range(100):
        tasks.append(meta.func_meta(kwargs={"i": i})(lambda *, i: i * i))
    results = list(sched.Sched(tasks).run(proc_pool()))
    assert sorted(r.ret for r in results) == [i * i for i in range(100)]


def test_a_worker_held_back_by_an_unread_queue_is_killed_after_the_grace(monkeypatch, tmp_path):
    # 1 MB put into a queue nobody reads: the feeder thread can never flush
    # it, so the worker process would never end on its own (as with
    # multiprocessing). The zygote kills it once the grace is over, and says
    # so in its log (a file handler, which the forked zygote inherits); the
    # run then ends, and nothing is left behind.
    import actors.zygote

    monkeypatch.setattr(actors.zygote, "EXIT_GRACE", 0.2)  # the zygote forks with it
    q = multiprocessing.Queue()

    @meta.func_meta(kwargs={"q": q})
    def flood(*, q):
        q.put(b"x" * 1_000_000)
        return ("put", os.getpid())

    log_file = tmp_path / "zygote.log"
    handler = logging.FileHandler(log_file)
    logger = logging.getLogger(actors.zygote.__name__)
    logger.addHandler(handler)
    try:
        [res] = sched.Sched([flood]).run(proc_pool(workers=1))
    finally:
        logger.removeHandler(handler)
        handler.close()
        q.cancel_join_thread()
        q.close()
    assert res.excinfo is None, res.excinfo
    put, worker = res.ret
    assert put == "put"
    assert f"killing worker processes [{worker}]: still running 0.2 s after the run" in (
        log_file.read_text()
    )
