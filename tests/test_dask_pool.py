"""DaskWorkerPool: pexen's rules on a real dask.distributed cluster (never a mock).

Most tests share one private cluster of two single-thread workers
(``shared_dask_pool`` in tests/conftest.py, one per module: starting a
cluster costs seconds); the tests of what a pool leaves behind, of loopback
and of other clusters start their own.
While the shared cluster lives, the leak check leaves its processes and its
client's threads to it; once it is closed, the fixture checks nothing of it
is left.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import warnings

import psutil
import pytest
from helpers import (
    HANG,
    by_task,
    end_messages,
    expected_end_messages,
    file_blocker,
    intervals_overlap,
    returning,
    run_all,
    stamp_task,
    still_running,
    tagged,
    task_names,
    wait_for,
)

from pexen import sched

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def dask_pool(shared_dask_pool):
    """The module's cluster of two workers (tests/conftest.py), with the pool's
    own default ``spare``: its short tasks go in batches."""
    shared_dask_pool.spare = 256 * shared_dask_pool.workers
    return shared_dask_pool


# -- the rules of a run ------------------------------------------------------


def test_deps_and_shared_dicts_flow(dask_pool):
    def configure(shared):
        shared["cc"] = "gcc"
        return os.getpid()

    def build(shared):
        shared["built"] = True
        return f"built with {shared['cc']}"

    def test(shared):
        return sorted(shared)

    def unrelated(shared):
        return sorted(shared)

    tagged("configure", configure, provides={"config"})
    tagged("build", build, requires={"config"}, provides={"binary"})
    tagged("test", test, requires={"binary"})
    s = sched.Sched([configure, build, test, unrelated])
    s.add_shared(preset=1)
    results, warned = run_all(s, dask_pool)
    res = by_task(results)
    assert warned == []
    assert res[configure].ret != os.getpid()  # it ran on the cluster
    assert res[build].ret == "built with gcc"
    assert res[test].ret == ["built", "cc", "preset"]
    assert res[unrelated].ret == ["preset"]
    assert task_names(results).index("configure") < task_names(results).index("build")


def test_priorities_order_tasks_competing_for_one_resource(dask_pool):
    tasks = [returning(f"t{p}", priority=p, claims={"r"}) for p in (5, 3, 9, 1, 7)]
    results, _ = run_all(sched.Sched(tasks), dask_pool)
    assert task_names(results) == ["t1", "t3", "t5", "t7", "t9"]


def test_claims_exclude_each_other_and_uses_share(dask_pool):
    claimers = [
        tagged(f"c{i}", stamp_task(f"c{i}", duration=0.05), claims={"db"}) for i in range(3)
    ]
    results, _ = run_all(sched.Sched(claimers), dask_pool)
    spans = [res.ret[1:] for res in results]
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            assert not intervals_overlap(a, b)


def test_a_claim_held_on_one_worker_while_lock_free_tasks_use_the_other(dask_pool, tmp_path):
    release = tmp_path / "release"
    holder = file_blocker("holder", release, claims={"disk"})
    waiter = returning("waiter", claims={"disk"})
    free = [returning(f"free{i}") for i in range(30)]
    s = sched.Sched([holder, waiter, *free])
    seen = []
    for res in s.run(dask_pool):
        seen.append(res.task.__name__)
        if not release.exists() and len([n for n in seen if n.startswith("free")]) == len(free):
            status = s.status()
            assert waiter not in [r.task for r in status.running]
            assert waiter in [*status.ready, *(w.task for w in status.waiting_locks)]
            assert [h.holders for h in status.held_locks] == [(holder,)]
            release.write_text("go")
    assert seen[-2:] == ["holder", "waiter"]


def test_uncontrolled_failure_keeps_locks_and_skips_dependents(dask_pool):
    def bad():
        raise ValueError("boom")

    tagged("bad", bad, provides={"x"}, claims={"r"})
    after = returning("after", requires={"x"})
    blocked = returning("blocked", uses={"r"})
    results, warned = run_all(sched.Sched([bad, after, blocked]), dask_pool)
    res = by_task(results)
    assert list(res) == [bad]
    assert res[bad].excinfo.type is ValueError
    assert end_messages(warned) == expected_end_messages(1, 1)


def test_controlled_failure_flags_cross_back(dask_pool):
    def soft(shared):
        shared["partial"] = 1
        raise sched.TaskFailError("soft", deps_ok=True, locks_ok=True)

    tagged("soft", soft, provides={"x"}, claims={"r"})

    def after(shared):
        return shared["partial"]

    tagged("after", after, requires={"x"}, claims={"r"})
    results, warned = run_all(sched.Sched([soft, after]), dask_pool)
    res = by_task(results)
    assert res[soft].excinfo.type is sched.TaskFailError
    assert res[soft].excinfo.val.deps_ok
    assert res[after].ret == 1
    assert end_messages(warned) == []


def test_calling_convention(dask_pool):
    def kw_only(*, wtype, build=123):
        return (wtype, build)

    def shared_and_kw(shared, wtype, build=123):
        return (sorted(shared), wtype, build)

    def no_kwargs():
        return "plain"

    tagged("kw_only", kw_only, kwargs={"wtype": "a"})
    tagged("shared_and_kw", shared_and_kw, kwargs={"wtype": "b", "build": 7})
    too_many = tagged("too_many", lambda: None, kwargs={"unexpected": 1})
    res = by_task(run_all(sched.Sched([kw_only, shared_and_kw, no_kwargs, too_many]), dask_pool)[0])
    assert res[kw_only].ret == ("a", 123)
    assert res[shared_and_kw].ret == ([], "b", 7)
    assert res[no_kwargs].ret == "plain"
    assert res[too_many].excinfo.type is TypeError
    assert "unexpected keyword argument" in str(res[too_many].excinfo.val)


def test_what_cannot_pickle_fails_its_task_only(dask_pool):
    bad_ret = tagged("bad_ret", lambda: threading.Lock())

    def bad_shared(shared):
        shared["lock"] = threading.Lock()

    lam = tagged("lam", lambda: lambda: 1)  # cloudpickle could, pickle cannot
    unsendable = tagged("unsendable", lambda *, lock: 1, kwargs={"lock": threading.Lock()})
    fine = returning("fine")
    results, _ = run_all(sched.Sched([bad_ret, bad_shared, lam, unsendable, fine]), dask_pool)
    res = by_task(results)
    for task in (bad_ret, bad_shared, lam, unsendable):
        assert res[task].excinfo.type is AttributeError
        assert str(res[task].excinfo.val).startswith("Can't pickle"), res[task].excinfo.val
    assert "ret" in str(res[bad_ret].excinfo.val)
    assert "shared" in str(res[bad_shared].excinfo.val)
    assert "cluster worker" in str(res[unsendable].excinfo.val)
    assert res[fine].ret == "fine"


def test_exceptions_cross_back_with_tracebacks(dask_pool):
    def deep():
        def inner():
            raise KeyError("deep inside")

        inner()

    results, _ = run_all(sched.Sched([deep]), dask_pool)
    (res,) = results
    assert res.excinfo.type is KeyError
    text = "".join(traceback.format_exception(*res.excinfo))
    assert "inner()" in text and "deep inside" in text


def test_large_bytes_and_values_come_back_whole(dask_pool):
    big = tagged("big", lambda: b"x" * (3 << 20))
    nested = tagged("nested", lambda: {"a": [1, 2, (3, 4)], "b": None})
    res = by_task(run_all(sched.Sched([big, nested]), dask_pool)[0])
    assert res[big].ret == b"x" * (3 << 20)
    assert res[nested].ret == {"a": [1, 2, (3, 4)], "b": None}


def test_many_short_tasks_each_have_their_result(dask_pool):
    tasks = [tagged(f"n{i}", lambda *, i: i, kwargs={"i": i}) for i in range(2000)]
    results, _ = run_all(sched.Sched(tasks), dask_pool)
    assert sorted(res.ret for res in results) == list(range(2000))


# -- failures of the cluster --------------------------------------------------


def test_a_task_that_kills_its_worker_is_the_only_one_blamed(dask_pool):
    def crash():
        os._exit(3)

    tagged("crash", crash)
    others = [returning(f"other{i}") for i in range(40)]
    results, _ = run_all(sched.Sched([*others[:20], crash, *others[20:]]), dask_pool)
    res = by_task(results)
    assert len(res) == 41
    err = res[crash].excinfo
    assert err.type is sched.WorkerLostError
    assert "tcp://127.0.0.1:" in str(err.val)
    assert all(res[t].excinfo is None and res[t].ret == t.__name__ for t in others)


def test_a_timed_out_task_really_stops(dask_pool, tmp_path):
    late = tmp_path / "late"

    def slow():
        time.sleep(1.5)
        late.write_text("too late")

    tagged("slow", slow, timeout=0.3)
    quick = [returning(f"q{i}") for i in range(10)]
    started = time.monotonic()
    res = by_task(run_all(sched.Sched([slow, *quick]), dask_pool)[0])
    assert res[slow].excinfo.type is sched.TaskTimeoutError
    assert all(res[t].excinfo is None for t in quick)
    # the task would have written the file 1.5 s after it started
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))
    assert not late.exists()


def test_cancel_stops_the_running_task_and_the_pool_goes_on(dask_pool, tmp_path):
    pidfile = tmp_path / "pid"

    def long_task():
        pidfile.write_text(str(os.getpid()))
        time.sleep(HANG)

    tagged("long_task", long_task)
    quick = returning("quick")
    s = sched.Sched([long_task, quick])
    for res in s.run(dask_pool):
        assert res.task is quick
        wait_for(pidfile.exists, what="the long task to start")
        s.cancel()
    pid = int(pidfile.read_text())
    assert not still_running([pid])  # the worker that ran it is gone
    results, _ = run_all(sched.Sched([returning("again")]), dask_pool)
    assert [r.ret for r in results] == ["again"]


# -- live additions, status, serve ---------------------------------------------


def test_live_additions_join_the_run(dask_pool, tmp_path):
    go = tmp_path / "go"
    waiting = file_blocker("waiting", go)
    starter = returning("starter", provides={"started"})
    s = sched.Sched([waiting, starter, returning("needs", requires={"started"})])
    seen = []
    for res in s.run(dask_pool):
        seen.append(res.task.__name__)
        if res.task is starter:
            s.add_tasks([returning("late", requires={"started"})])
        if res.task.__name__ == "late":
            go.write_text("go")
    assert sorted(seen) == ["late", "needs", "starter", "waiting"]
    assert seen[-1] == "waiting"


def test_status_names_the_lane_and_its_cluster_worker(dask_pool, tmp_path):
    go = tmp_path / "go"
    hold = file_blocker("hold", go)
    s = sched.Sched([hold])
    got = {}

    def watch():
        status = wait_for(
            lambda: (st := s.status()).running and st.running[0].started is not None and st,
            what="the task to run",
        )
        lane = status.running[0].worker
        got["lane"] = lane
        # sent is not yet running there: the scheduler may still hold it
        got["where"] = wait_for(lambda: dask_pool.where(lane), what="its cluster worker")
        s.add_tasks([returning("late")])
        go.write_text("go")

    watcher = threading.Thread(target=watch)
    watcher.start()
    names = task_names(s.run(dask_pool))
    watcher.join()
    assert sorted(names) == ["hold", "late"]
    assert got["lane"] in (0, 1)
    assert got["where"].startswith("tcp://127.0.0.1:")


def test_serve_takes_tasks_over_time(dask_pool):
    s = sched.Sched()
    gen = s.serve(dask_pool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "a" is required by a task added later
        s.add_tasks([returning("one", provides={"a"})])
    names = []
    for res in gen:
        names.append(res.task.__name__)
        if res.task.__name__ == "one":
            s.add_tasks([returning("two", requires={"a"})])
        elif res.task.__name__ == "two":
            s.stop()
    assert names == ["one", "two"]


def test_random_task_sets_on_the_cluster(dask_pool):
    """The property test of tests/test_property.py, fewer and smaller examples."""
    from hypothesis import given, settings
    from test_property import PRESET, SETTINGS, check_run, make_task, task_specs

    @settings(max_examples=12, **SETTINGS)
    @given(specs=task_specs(max_tasks=25))
    def check(specs):
        tasks = [make_task(spec) for spec in specs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # provides nobody requires: not tested here
            s = sched.Sched(tasks)
        s.add_shared(**PRESET)
        results, messages = run_all(s, dask_pool)
        check_run(specs, tasks, results, messages, sequential=False)

    check()


# -- own clusters: loopback, what is left, an existing cluster ----------------


def _listening(pids: list[int]) -> list[tuple[str, int]]:
    out = []
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        out += [c.laddr for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def test_private_cluster_listens_on_loopback_and_leaves_nothing(tmp_path):
    pidfile = tmp_path / "pid"

    def long_task():
        pidfile.write_text(str(os.getpid()))
        time.sleep(HANG)

    tagged("long_task", long_task)
    with sched.pool.DaskWorkerPool(workers=1) as pool:
        pids = pool._cluster.pids()
        listening = _listening(pids)
        assert len(listening) >= 4  # scheduler, its dashboard, nanny, worker
        assert {addr[0] for addr in listening} == {"127.0.0.1"}, listening
        s = sched.Sched([long_task])
        gen = s.run(pool)

        def cancel_once_started():
            wait_for(pidfile.exists, what="the task to start")
            s.cancel()

        canceller = threading.Thread(target=cancel_once_started)
        canceller.start()
        assert list(gen) == []
        canceller.join()
        assert not still_running([int(pidfile.read_text())])
        pids = pool._cluster.pids()
    assert not still_running(pids)


def test_an_existing_cluster_by_address_and_by_client():
    from actors.daskcluster import PrivateCluster

    cluster = PrivateCluster(2)  # a scheduler and workers started here, not by the pool
    try:
        with distributed.Client(cluster.address, set_as_default=False) as client:
            client.wait_for_workers(2)
        with sched.pool.DaskWorkerPool(address=cluster.address) as pool:
            assert pool.workers == 2  # the cluster's threads
            results, _ = run_all(sched.Sched([returning("a"), returning("b")]), pool)
            assert sorted(r.ret for r in results) == ["a", "b"]
        client = distributed.Client(cluster.address, set_as_default=False)
        try:
            with sched.pool.DaskWorkerPool(1, client=client) as pool:
                results, _ = run_all(sched.Sched([returning("c")]), pool)
                assert [r.ret for r in results] == ["c"]
            assert client.status == "running"  # the caller's client stays open
        finally:
            client.close()
    finally:
        cluster.close()


def _tls_cluster(tmp_path, security):
    """A scheduler and a worker speaking TLS only, started here: ``(address, procs)``."""
    import json
    import subprocess
    import sys

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(security.tls_ca_file)
    key.write_text(security.tls_scheduler_key)
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    info = tmp_path / "scheduler.json"
    common = dict(cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls",
             "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
             str(info), *tls],
            **common,
        )
    ]  # fmt: skip
    address = wait_for(
        lambda: info.exists() and info.stat().st_size and json.loads(info.read_text())["address"],
        what="the TLS scheduler",
    )
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
             "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard", "--local-directory",
             str(tmp_path), *tls],
            **common,
        )
    )  # fmt: skip
    return address, procs


def test_a_tls_cluster_with_security(tmp_path):
    from distributed.security import Security

    security = Security.temporary()
    address, procs = _tls_cluster(tmp_path, security)
    try:
        assert address.startswith("tls://127.0.0.1:")
        with distributed.Client(address, security=security, set_as_default=False) as client:
            client.wait_for_workers(1)
        with sched.pool.DaskWorkerPool(address=address, security=security) as pool:
            assert pool.workers == 1
            results, _ = run_all(sched.Sched([returning("secure")]), pool)
            assert [r.ret for r in results] == ["secure"]
    finally:
        for proc in procs:  # one process each (no nanny): nothing is orphaned
            proc.kill()
            proc.wait(timeout=20)


def test_interpreter_exit_ends_the_private_cluster(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "noguard.py"
    script.write_text(
        "import os\n"
        "from pexen import sched\n"
        "pool = sched.pool.DaskWorkerPool(workers=1)\n"
        "print(*pool._cluster.pids())\n"
        "for res in sched.Sched([lambda: os.getpid()]).run(pool):\n"
        "    print('ran', res.ret != os.getpid())\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == "ran True"
    pids = [int(p) for p in lines[0].split()]
    wait_for(lambda: not still_running(pids), timeout=5, what="the cluster to end")


def test_a_killed_caller_takes_its_private_cluster_along(tmp_path):
    # SIGKILL runs no atexit: the cluster's processes see their lifeline end
    import signal
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(
        "import sys, threading\n"
        "from pexen import sched\n"
        "pool = sched.pool.DaskWorkerPool(workers=1)\n"
        "print(*pool._cluster.pids(), flush=True)\n"
        "threading.Event().wait()\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) >= 3, line  # scheduler, the worker's nanny, the worker
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
        proc.stdout.close()
    wait_for(lambda: not still_running(pids), timeout=10, what="the cluster to end")
