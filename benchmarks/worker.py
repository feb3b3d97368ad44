"""One benchmark measurement, in a fresh interpreter, printed as one JSON line.

Run by the harness (``python -m benchmarks``) once per repetition, so that runs
stay independent and the peak RSS of each run can be read from its own
process. It can also be run by hand::

    python -m benchmarks.worker --workload W1 --impl pexen --n 10000
    benchmarks/.venv-legacy/bin/python -P benchmarks/worker.py \\
        --workload W3 --impl pexen --n 1000

The file is self-contained on purpose: it imports nothing from the
``benchmarks`` package, and from pexen only the public API that both pexen and
the legacy ``pexen`` 0.0.3 have (``pexen.sched.Sched``, ``pexen.sched.meta``,
``pexen.sched.pool``, called as ``Sched(tasks).run(pool)``). The harness runs
the legacy with this same file in its own virtual environment, by path and
with ``-P``, so that ``import pexen`` finds the legacy there and this tree's
pexen everywhere else.

Implementations (``--impl``):

- ``pexen``: whichever ``pexen`` the interpreter imports (this tree, or the
  legacy in its venv);
- ``cf``: ``concurrent.futures`` ThreadPoolExecutor / ProcessPoolExecutor,
  ``submit`` per task and ``as_completed``;
- ``dask``: ``dask.threaded.get`` / ``dask.multiprocessing.get`` on the
  equivalent graph;
- ``pipe``, ``queue`` (W4 only): the physical floors, a round trip of a small
  pickled tuple over a ``multiprocessing`` Pipe to a child process, and a
  ``queue.Queue`` put/get round trip between two threads;
- ``pipe`` (W9): the floor of payloads, the same bytes written by a child
  process with ``send_bytes`` and read with ``recv_bytes``, one message each.

W7 runs ``Sched.serve()``; a pexen without it (the legacy, or this tree before
it has one) reports ``"skipped"`` instead of failing. W8 is W2 in a process
that already runs one idle thread of its own. W9's tasks return ``--payload``
bytes each, built inside the task; results are dropped as they come.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import sys
import threading
import time
import traceback
import warnings

WORKERS = 2
SPARE = 1  # pexen pools' spare (--spare)
LOCK_CLASSES = 10  # W3: r0..r9 / u0..u9
W5_WINDOW = 1000  # W5: requires are drawn from the previous W5_WINDOW tasks
W5_RESOURCES = 20  # W5: lock names x0..x19
SERVE_IN_FLIGHT = 4  # W7: tasks kept in flight, one added per result
THREADED = {
    "W1": True,
    "W2": False,
    "W3": True,
    "W4": False,
    "W5": False,
    "W6": False,
    "W7": True,
    "W8": False,
    "W9": False,
    "W10": False,
    "W10-W5": False,
}
#: W10: the graph each of its workloads has (W1's, W5's)
SHAPE = {"W10": "W1", "W10-W5": "W5"}
NO_SERVE = "this pexen has no Sched.serve()"


# --------------------------------------------------------------------------
# Task bodies
# --------------------------------------------------------------------------
def noop(i):
    return i


def noop_dep(i, *_deps):
    return i


def burn(iters):
    """Pure Python CPU work; returns the CPU time of this thread it took."""
    t0 = time.thread_time()
    x = 0
    for k in range(iters):
        x = (x + k * k) % 1000003
    return time.thread_time() - t0


_W3_LOCKS = [threading.Lock() for _ in range(LOCK_CLASSES)]


def noop_locked(i):
    # W3 peer: "claims r{i%10}" as a plain mutex; nothing claims u*, so the
    # shared "uses" locks never exclude anything and need no stand-in.
    with _W3_LOCKS[i % LOCK_CLASSES]:
        return i


def make_noop(i):
    def task():
        return i

    return task


def make_burn(iters):
    def task():
        return burn(iters)

    return task


def payload(size):
    """W9: the payload is built inside the task, the same way everywhere."""
    return b"x" * size


def make_payload(size):
    def task():
        return payload(size)

    return task


@contextlib.contextmanager
def idle_thread(on):
    """W8: one idle thread of the process's own, alive over the timed part.

    Started before the pool, as a service's threads are; it only waits.
    """
    if not on:
        yield
        return
    stop = threading.Event()
    th = threading.Thread(target=stop.wait, name="bench-idle", daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join(10)


class Seen:
    """Which task indices came back, one bit each (W7 keeps nothing else)."""

    def __init__(self, n):
        self.n = n
        self.count = 0
        self.bits = bytearray(n // 8 + 1)

    def mark(self, i):
        if type(i) is not int or not 0 <= i < self.n:
            raise RuntimeError(f"unexpected result {i!r}")
        byte, bit = divmod(i, 8)
        if self.bits[byte] >> bit & 1:
            raise RuntimeError(f"result {i} came back twice")
        self.bits[byte] |= 1 << bit
        self.count += 1

    def check(self):
        if self.count != self.n:
            raise RuntimeError(f"got {self.count} results for {self.n} tasks")


# --------------------------------------------------------------------------
# Workload graphs, as plain data shared by every implementation
# --------------------------------------------------------------------------
def build_graph(workload, n, seed):
    """Return ``(requires, claims, uses)``: one list per task index.

    ``requires[i]`` holds the indices of the tasks that task ``i`` waits for.
    """
    workload = SHAPE.get(workload, workload)
    requires = [()] * n
    claims = [()] * n
    uses = [()] * n
    if workload == "W3":
        claims = [(f"r{i % LOCK_CLASSES}",) for i in range(n)]
        uses = [(f"u{(i + 1) % LOCK_CLASSES}",) for i in range(n)]
    elif workload == "W4":
        requires = [(i - 1,) if i else () for i in range(n)]
    elif workload == "W5":
        rng = random.Random(seed)
        requires = []
        claims = []
        uses = []
        for i in range(n):
            lo = max(0, i - W5_WINDOW)
            k = min(i - lo, rng.randint(0, 6))  # 3 on average
            requires.append(tuple(rng.sample(range(lo, i), k)))
            r = rng.random()
            res = f"x{rng.randrange(W5_RESOURCES)}"
            if r < 0.2:
                claims.append((res,))
                uses.append(())
            elif r < 0.6:
                claims.append(())
                uses.append((res,))
            else:
                claims.append(())
                uses.append(())
    return requires, claims, uses


def _provided(requires):
    """Indices required by some task: only these provide (no idle provides)."""
    out = set()
    for reqs in requires:
        out.update(reqs)
    return out


# --------------------------------------------------------------------------
# pexen (this tree or the legacy: same public API)
# --------------------------------------------------------------------------
def run_pexen(workload, n, seed, iters, size=0):
    from pexen.sched import Sched, meta
    from pexen.sched import pool as ppool

    if workload == "W7":
        return serve_pexen(n)
    if workload in SHAPE:
        return run_pexen_dask(workload, n, seed)
    requires, claims, uses = build_graph(workload, n, seed)
    provided = _provided(requires)
    tasks = []
    for i in range(n):
        if workload == "W6":
            task = make_burn(iters)
        elif workload == "W9":
            task = make_payload(size)
        else:
            task = make_noop(i)
        fields = {}
        if requires[i]:
            fields["requires"] = [f"p{k}" for k in requires[i]]
        if i in provided:
            fields["provides"] = [f"p{i}"]
        if claims[i]:
            fields["claims"] = list(claims[i])
        if uses[i]:
            fields["uses"] = list(uses[i])
        if fields:
            meta.assign_val(task, **fields)
        tasks.append(task)
    index = {id(t): i for i, t in enumerate(tasks)}

    pool_cls = ppool.ThreadWorkerPool if THREADED[workload] else ppool.ProcessWorkerPool
    order = []
    rets = []
    failures = []
    stamps = []
    with idle_thread(workload == "W8"):
        out = {"threads": threading.active_count()}
        t0 = time.perf_counter()
        s = Sched(tasks)
        t_added = time.perf_counter()
        for res in s.run(pool_cls(workers=WORKERS, spare=SPARE)):
            stamps.append(time.perf_counter())
            order.append(index.get(id(res.task), -1))
            # W9: keep the length only, so that the payload can be freed
            rets.append(res.ret if workload != "W9" or res.ret is None else len(res.ret))
            if res.excinfo is not None and len(failures) < 3:
                failures.append(f"{res.excinfo.type!r}: {res.excinfo.val!r}")
        t1 = time.perf_counter()
    out.update(wall_s=t1 - t0, add_tasks_s=t_added - t0)
    if failures:
        raise RuntimeError(f"tasks failed: {failures}")
    _check(workload, n, order, rets, requires, out, size)
    if workload == "W4":
        out["hop_us"] = _hop_us(stamps, n, t0)
    return out


def serve_pexen(n):
    """W7: a service fed from its loop body, SERVE_IN_FLIGHT tasks in flight.

    Each result adds the next task; ``stop()`` once the last one was added,
    after which ``serve()`` ends when the tasks still running are done. Tasks
    are made one at a time as they are added (part of the timed loop, as in
    a service) and only one bit per finished task is kept.
    """
    from pexen.sched import Sched
    from pexen.sched import pool as ppool

    if not hasattr(Sched, "serve"):
        return {"skipped": NO_SERVE}
    seen = Seen(n)
    failures = []
    t0 = time.perf_counter()
    nxt = min(SERVE_IN_FLIGHT, n)
    s = Sched([make_noop(i) for i in range(nxt)])
    stopped = False
    for res in s.serve(ppool.ThreadWorkerPool(workers=WORKERS, spare=SPARE)):
        if res.excinfo is not None:
            if len(failures) < 3:
                failures.append(f"{res.excinfo.type!r}: {res.excinfo.val!r}")
        else:
            seen.mark(res.ret)
        if nxt < n:
            s.add_tasks([make_noop(nxt)])
            nxt += 1
        if nxt == n and not stopped:
            s.stop()
            stopped = True
    wall = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"tasks failed: {failures}")
    seen.check()
    return {"wall_s": wall}


def _hop_us(stamps, n, t0):
    """Per hop: first result to last result, so pool start-up is left out."""
    if n > 1:
        return (stamps[-1] - stamps[0]) / (n - 1) * 1e6
    return (stamps[-1] - t0) * 1e6


def _check(workload, n, order, rets, requires, out, size=0):
    if len(order) != n:
        raise RuntimeError(f"got {len(order)} results for {n} tasks")
    if workload == "W6":
        out["task_cpu_s"] = float(sum(rets))
        return
    if workload == "W9":
        if sorted(order) != list(range(n)) or any(r != size for r in rets):
            raise RuntimeError(f"payloads of the wrong length, or missing: {rets[:5]}")
        out["payload_bytes"] = size * n
        return
    if sorted(order) != list(range(n)) or any(r != i for r, i in zip(rets, order, strict=True)):
        raise RuntimeError("results do not match the tasks' indices")
    if any(requires):
        pos = {i: p for p, i in enumerate(order)}
        bad = sum(1 for i in range(n) for k in requires[i] if pos[k] > pos[i])
        # a result yielded before the result of a task it required
        out["order_violations"] = bad


# --------------------------------------------------------------------------
# W10: dask.distributed, a private cluster of WORKERS single-thread workers
# --------------------------------------------------------------------------
def stamped(i):
    """W10-W5: when the task ran, to check afterwards that its locks held."""
    t0 = time.monotonic_ns()
    t1 = time.monotonic_ns()
    return (i, t0, t1)


def make_stamped(i):
    def task():
        return stamped(i)

    return task


def run_pexen_dask(workload, n, seed):
    """W10: DaskWorkerPool on its private cluster; its start is not timed.

    W10-W5 checks every rule afterwards: each result once, no task before
    one it requires, and no two tasks whose locks conflict running at once
    (tasks return when they ran, on this machine's monotonic clock).
    """
    from pexen.sched import Sched, meta
    from pexen.sched import pool as ppool

    requires, claims, uses = build_graph(workload, n, seed)
    provided = _provided(requires)
    tasks = []
    for i in range(n):
        task = make_stamped(i) if workload == "W10-W5" else make_noop(i)
        fields = {}
        if requires[i]:
            fields["requires"] = [f"p{k}" for k in requires[i]]
        if i in provided:
            fields["provides"] = [f"p{i}"]
        if claims[i]:
            fields["claims"] = list(claims[i])
        if uses[i]:
            fields["uses"] = list(uses[i])
        if fields:
            meta.assign_val(task, **fields)
        tasks.append(task)
    index = {id(t): i for i, t in enumerate(tasks)}
    order, rets, failures = [], [], []
    t_start = time.perf_counter()
    with ppool.DaskWorkerPool(WORKERS) as pool:
        out = {"cluster_start_s": time.perf_counter() - t_start, "spare": pool.spare}
        t0 = time.perf_counter()
        for res in Sched(tasks).run(pool):
            order.append(index.get(id(res.task), -1))
            rets.append(res.ret)
            if res.excinfo is not None and len(failures) < 3:
                failures.append(f"{res.excinfo.type!r}: {res.excinfo.val!r}")
        out["wall_s"] = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"tasks failed: {failures}")
    spans = None
    if workload == "W10-W5":
        spans = {i: (t0, t1) for i, t0, t1 in rets}
        rets = [r[0] for r in rets]
    _check(workload, n, order, rets, requires, out)
    if spans is not None:
        out["lock_violations"] = _lock_violations(spans, claims, uses)
        if out["order_violations"] or out["lock_violations"]:
            raise RuntimeError(f"rules broken: {out}")
    return out


def _lock_violations(spans, claims, uses):
    """Pairs of tasks that ran at once though one claims what the other holds."""
    holders = {}
    for i, (t0, t1) in spans.items():
        for name in claims[i]:
            holders.setdefault(name, []).append((t0, t1, True))
        for name in uses[i]:
            holders.setdefault(name, []).append((t0, t1, False))
    bad = 0
    for held in holders.values():
        held.sort()
        # sweep: a claim overlaps anything that starts before it ends, and
        # anything still running when it starts
        for k, (_t0, t1, claim) in enumerate(held):
            for u0, _u1, other in held[k + 1 :]:
                if u0 >= t1:
                    break
                if claim or other:
                    bad += 1
    return bad


def start_cluster(workers):
    """A dask scheduler and ``workers`` single-thread workers, as the pool starts
    its own (``dask`` command-line processes on loopback) but with dask's own
    configuration; returns ``(address, stop)``."""
    import os
    import shutil
    import subprocess
    import tempfile

    tmp = tempfile.mkdtemp(prefix="bench-dask-")
    path = os.path.join(tmp, "scheduler.json")
    log = open(os.path.join(tmp, "log"), "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", path],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=tmp,
        )
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    address = None
    while address is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError), open(path) as f:
            address = json.load(f)["address"]
        time.sleep(0.02)
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
             "--nworkers", str(workers), "--nthreads", "1", "--dashboard-address",
             "127.0.0.1:0", "--local-directory", tmp, "--memory-limit", "0"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=tmp,
        )
    )  # fmt: skip

    def stop():
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    return address, stop


def run_distributed(workload, n, seed, iters, size=0):
    """W10's peer: ``client.submit`` per task and ``as_completed``, on a cluster
    of the same size started the same way; its start is not timed."""
    if workload != "W10":
        raise ValueError(f"the distributed peer runs W10 only, not {workload}")
    import distributed
    from distributed import Client, as_completed

    t_start = time.perf_counter()
    address, stop = start_cluster(WORKERS)
    try:
        with Client(address, set_as_default=False) as client:
            client.wait_for_workers(WORKERS)
            out = {"cluster_start_s": time.perf_counter() - t_start}
            t0 = time.perf_counter()
            futures = [client.submit(noop, i, pure=False) for i in range(n)]
            rets = sorted(f.result() for f in as_completed(futures, loop=client.loop))
            out["wall_s"] = time.perf_counter() - t0
    finally:
        stop()
    if rets != list(range(n)):
        raise RuntimeError("results do not match the tasks' indices")
    out["distributed_version"] = distributed.__version__
    return out


# --------------------------------------------------------------------------
# concurrent.futures
# --------------------------------------------------------------------------
def run_cf(workload, n, seed, iters, size=0):
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

    threaded = THREADED[workload]
    ex_cls = ThreadPoolExecutor if threaded else ProcessPoolExecutor
    fn = noop_locked if workload == "W3" else noop
    if workload == "W7":
        return serve_cf(n)
    if workload == "W9":
        return payload_cf(n, size)
    out = {}
    if workload == "W4":
        with ex_cls(max_workers=WORKERS) as ex:
            ex.submit(noop, -1).result()  # warm: the pool is up
            stamps = []
            t0 = time.perf_counter()
            for i in range(n):
                if ex.submit(noop, i).result() != i:
                    raise RuntimeError("wrong result")
                stamps.append(time.perf_counter())
            out["wall_s"] = time.perf_counter() - t0
        out["hop_us"] = _hop_us(stamps, n, t0)
        return out
    with idle_thread(workload == "W8"):
        out["threads"] = threading.active_count()
        t0 = time.perf_counter()
        with ex_cls(max_workers=WORKERS) as ex:
            if workload == "W6":
                futs = [ex.submit(burn, iters) for _ in range(n)]
            else:
                futs = [ex.submit(fn, i) for i in range(n)]
            rets = [f.result() for f in as_completed(futs)]
        out["wall_s"] = time.perf_counter() - t0
    if len(rets) != n:
        raise RuntimeError(f"got {len(rets)} results for {n} tasks")
    if workload == "W6":
        out["task_cpu_s"] = float(sum(rets))
    elif sorted(rets) != list(range(n)):
        raise RuntimeError("results do not match the tasks' indices")
    return out


def serve_cf(n):
    """W7's peer: ThreadPoolExecutor fed one ``submit`` per result.

    A done-callback hands each finished future to the loop (the cheapest way
    to learn of one result at a time); SERVE_IN_FLIGHT futures in flight.
    """
    import queue
    from concurrent.futures import ThreadPoolExecutor

    seen = Seen(n)
    done = queue.SimpleQueue()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as ex:
        nxt = min(SERVE_IN_FLIGHT, n)
        for i in range(nxt):
            ex.submit(noop, i).add_done_callback(done.put)
        for _ in range(n):
            seen.mark(done.get().result())
            if nxt < n:
                ex.submit(noop, nxt).add_done_callback(done.put)
                nxt += 1
    wall = time.perf_counter() - t0
    seen.check()
    return {"wall_s": wall}


def payload_cf(n, size):
    """W9's peer: ProcessPoolExecutor, submit + as_completed, results dropped.

    ``as_completed`` lets go of each future it yielded; popping it from the
    index here too frees its payload once the loop moves on.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    got = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=WORKERS) as ex:
        futs = {ex.submit(payload, size): i for i in range(n)}
        for fut in as_completed(futs):
            i = futs.pop(fut)
            if len(fut.result()) != size:
                raise RuntimeError(f"payload {i} has the wrong length")
            got.append(i)
        del fut
    wall = time.perf_counter() - t0
    if sorted(got) != list(range(n)):
        raise RuntimeError("results do not match the tasks' indices")
    return {"wall_s": wall, "payload_bytes": size * n}


# --------------------------------------------------------------------------
# dask local schedulers
# --------------------------------------------------------------------------
def run_dask(workload, n, seed, iters, size=0):
    import dask
    import dask.multiprocessing
    import dask.threaded

    requires, _claims, _uses = build_graph(workload, n, seed)
    if workload == "W3":
        # claims r{i%10}: tasks of one class never overlap -> 10 chains
        requires = [(i - LOCK_CLASSES,) if i >= LOCK_CLASSES else () for i in range(n)]
    dsk = {}
    for i in range(n):
        if workload == "W6":
            dsk[f"t{i}"] = (burn, iters)
        else:
            dsk[f"t{i}"] = (noop_dep, i, *[f"t{k}" for k in requires[i]])
    keys = list(dsk)
    out = {}
    if True:
        if THREADED[workload]:
            t0 = time.perf_counter()
            rets = dask.threaded.get(dsk, keys, num_workers=WORKERS)
            out["wall_s"] = time.perf_counter() - t0
        elif workload == "W4":
            # per hop: a warm pool, so that start-up is left out as for others
            from concurrent.futures import ProcessPoolExecutor

            ctx = dask.multiprocessing.get_context()
            with ProcessPoolExecutor(WORKERS, mp_context=ctx) as pool:
                for f in [pool.submit(noop, i) for i in range(WORKERS)]:
                    f.result()
                t0 = time.perf_counter()
                rets = dask.multiprocessing.get(dsk, keys, pool=pool, optimize_graph=False)
                out["wall_s"] = time.perf_counter() - t0
            out["hop_us"] = out["wall_s"] / n * 1e6
        else:
            t0 = time.perf_counter()
            # optimize_graph=False: the same graph, not a fused (smaller) one;
            # fusing the W5 DAG at 100k also took dask past 24 GB here
            rets = dask.multiprocessing.get(dsk, keys, num_workers=WORKERS, optimize_graph=False)
            out["wall_s"] = time.perf_counter() - t0
    if workload == "W6":
        out["task_cpu_s"] = float(sum(rets))
    elif list(rets) != list(range(n)):
        raise RuntimeError("results do not match the tasks' indices")
    out["dask_version"] = dask.__version__
    return out


# --------------------------------------------------------------------------
# Physical floors (W4)
# --------------------------------------------------------------------------
def _echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg)


def _send_payloads(conn, n, size):
    for _ in range(n):
        conn.send_bytes(payload(size))
    conn.close()


def pipe_payloads(n, size):
    """W9's floor: one child writes each payload with send_bytes, we recv_bytes.

    The child's start is inside the timing, as the pools' start-up is.
    """
    import multiprocessing

    t0 = time.perf_counter()
    parent, child = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.Process(target=_send_payloads, args=(child, n, size), daemon=True)
    proc.start()
    child.close()
    try:
        for i in range(n):
            if len(parent.recv_bytes()) != size:
                raise RuntimeError(f"payload {i} has the wrong length")
        wall = time.perf_counter() - t0
    finally:
        parent.close()
        proc.join(10)
    return {"wall_s": wall, "payload_bytes": size * n}


def run_pipe(workload, n, seed, iters, size=0):
    import multiprocessing

    if workload == "W9":
        return pipe_payloads(n, size)
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_echo, args=(child,), daemon=True)
    proc.start()
    try:
        for i in range(50):  # warm
            parent.send((i, None, "ok"))
            parent.recv()
        t0 = time.perf_counter()
        for i in range(n):
            parent.send((i, None, "ok"))
            if parent.recv()[0] != i:
                raise RuntimeError("pipe echo out of order")
        wall = time.perf_counter() - t0
    finally:
        parent.send(None)
        proc.join(10)
    return {"wall_s": wall, "hop_us": wall / n * 1e6}


def run_queue(workload, n, seed, iters, size=0):
    import queue

    q_in, q_out = queue.Queue(), queue.Queue()

    def echo():
        while True:
            msg = q_in.get()
            if msg is None:
                break
            q_out.put(msg)

    th = threading.Thread(target=echo, daemon=True)
    th.start()
    for i in range(50):  # warm
        q_in.put((i, None, "ok"))
        q_out.get()
    t0 = time.perf_counter()
    for i in range(n):
        q_in.put((i, None, "ok"))
        if q_out.get()[0] != i:
            raise RuntimeError("queue echo out of order")
    wall = time.perf_counter() - t0
    q_in.put(None)
    th.join(10)
    return {"wall_s": wall, "hop_us": wall / n * 1e6}


IMPLS = {
    "pexen": run_pexen,
    "cf": run_cf,
    "dask": run_dask,
    "distributed": run_distributed,
    "pipe": run_pipe,
    "queue": run_queue,
}


def _pexen_info():
    try:
        import importlib.metadata

        import pexen
    except Exception as exc:
        return {"pexen_error": f"{type(exc).__name__}: {exc}"}
    try:
        version = importlib.metadata.version("pexen")
    except Exception:
        version = "unknown"
    return {"pexen_file": getattr(pexen, "__file__", None), "pexen_version": version}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True, choices=sorted(THREADED))
    ap.add_argument("--impl", required=True, choices=sorted(IMPLS))
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iters", type=int, default=0, help="W6: burn() iterations")
    ap.add_argument("--spare", type=int, default=1, help="spare of pexen's pools")
    ap.add_argument("--payload", type=int, default=0, help="W9: bytes each task returns")
    args = ap.parse_args(argv)
    global SPARE
    SPARE = args.spare

    rec = {
        "workload": args.workload,
        "impl": args.impl,
        "n": args.n,
        "spare": args.spare,
        "payload": args.payload,
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }
    if args.impl == "pexen":
        rec.update(_pexen_info())
    cpu0 = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            impl = IMPLS[args.impl]
            rec.update(impl(args.workload, args.n, args.seed, args.iters, args.payload))
            rec["ok"] = "skipped" not in rec
        except BaseException as exc:  # report, whatever it is
            rec["ok"] = False
            rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
            rec["traceback"] = traceback.format_exc()[-3000:]
    rec["cpu_parent_s"] = time.process_time() - cpu0
    rec["warnings"] = len(caught)
    if caught:
        rec["first_warning"] = str(caught[0].message)[:300]
    rec["rss_self_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rec["rss_children_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stdout.write("\n" + json.dumps(rec) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
