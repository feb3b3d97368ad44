"""A build-and-check service: ``Sched.serve()`` fed from a queue, stopped by SIGTERM.

Build requests (a package and the libraries it links against) arrive on a
queue, fed by another thread as a network listener would. Each request
becomes three tasks: fetch the sources (a read lock on the mirror), build
(requires its sources and the libraries it links, claims its work dir,
provides the library), check (requires the library, a read lock on the test
database). A request may arrive before the library it needs: its build waits
for the later provider. Served tasks are forgotten as their results are
taken, so the service's memory stays flat however long it runs.

The service prints ``status()`` every ``--every`` results. With ``--items N``
(default 24) the feeder ends after N requests and the service stops by
itself; with ``--items 0`` it feeds forever, until SIGTERM: the service then
takes no more requests, lets what it accepted run (drain), and exits 0.

    python examples/service.py [thread|process] [--items N] [--every N]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import queue
import signal
import sys
import threading
from typing import Any

from pexen import sched
from pexen.sched import meta
from pexen.sched.pool import ProcessWorkerPool, ThreadWorkerPool

STOP = object()  # in the request queue: take no more requests
_out = threading.Lock()


def say(line: str) -> None:
    """Print one whole line: the loop and the intake thread both report."""
    with _out:
        print(line, flush=True)


def fetch(pkg: str, shared: dict[str, Any]) -> int:
    src = f"source of {pkg}\n".encode() * 64
    shared[f"digest:{pkg}"] = hashlib.sha256(src).hexdigest()[:12]
    return len(src)


def build(pkg: str, links: tuple[str, ...], shared: dict[str, Any]) -> str:
    parts = [shared[f"digest:{pkg}"], *(shared[f"lib:{lib}"] for lib in links)]
    artifact = hashlib.sha256("+".join(parts).encode()).hexdigest()[:12]
    shared[f"lib:{pkg}"] = artifact
    return artifact


def check(pkg: str, shared: dict[str, Any]) -> str:
    artifact = shared[f"lib:{pkg}"]
    if not artifact:
        raise RuntimeError(f"{pkg}: empty artifact")
    return f"{pkg} ok"


def request_tasks(pkg: str, links: tuple[str, ...]) -> list[Any]:
    """The three tasks of one build request (fresh callables: one task each)."""
    f = functools.partial(fetch, pkg)
    meta.assign_val(f, provides=[f"src:{pkg}"], uses=["mirror"])
    b = functools.partial(build, pkg, links)
    meta.assign_val(
        b,
        requires=[f"src:{pkg}", *(f"lib:{lib}" for lib in links)],
        provides=[f"lib:{pkg}"],
        claims=[f"workdir:{pkg}"],
    )
    c = functools.partial(check, pkg)
    meta.assign_val(c, requires=[f"lib:{pkg}"], uses=["testdb"])
    return [f, b, c]


def requests(items: int) -> Any:
    """Build requests: ``(package, links)``; every fourth app arrives before its lib.

    ``items=0``: forever, over a bounded set of package names.
    """
    n = 0
    while not items or n < items:
        k = (n // 4) % 50
        if n % 4 == 0:
            yield (f"app{k}", (f"lib{k}",))  # its lib is requested right after
        elif n % 4 == 1:
            yield (f"lib{k}", ())
        else:
            yield (f"tool{n}", (f"lib{k}",))
        n += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", nargs="?", default="thread", choices=["thread", "process"])
    parser.add_argument("--items", type=int, default=24, help="requests to feed; 0: forever")
    parser.add_argument("--every", type=int, default=10, help="print status() every N results")
    args = parser.parse_args()
    pool = ThreadWorkerPool(workers=2) if args.pool == "thread" else ProcessWorkerPool(workers=2)

    jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
    stopping = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        # No printing or locking here: the main thread may be anywhere.
        stopping.set()
        jobs.put(STOP)

    signal.signal(signal.SIGTERM, on_sigterm)

    def feed() -> None:  # stands for a listener taking requests from clients
        for req in requests(args.items):
            if stopping.wait(0.002):  # requests arrive over time
                break
            jobs.put(req)
        jobs.put(STOP)

    def intake() -> None:  # moves requests into the running service
        while (req := jobs.get()) is not STOP:
            s.add_tasks(request_tasks(*req))
        say("stopping: no more requests; draining what was accepted")
        s.stop()

    def toolchain_check() -> str:  # the service's first task: it is up once it ran
        return sys.version.split()[0]

    s = sched.Sched([toolchain_check])
    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=intake)]
    served = failed = 0
    for res in s.serve(pool):
        served += 1
        if res.excinfo is not None:
            failed += 1
            say(f"FAILED {res.task!r}: {res.excinfo.val!r}")
        if res.task is toolchain_check:
            # Start taking requests only now that the serve is on: a stop()
            # (SIGTERM) cannot come before the serve it ends.
            for t in threads:
                t.start()
            say(f"service ready ({args.pool} pool, python {res.ret})")
        if served % args.every == 0:
            st = s.status()
            say(
                f"status: {st.finished} finished, {len(st.running)} running, "
                f"{len(st.ready)} ready, {len(st.waiting_deps)} waiting on deps, "
                f"{len(st.waiting_locks)} waiting on locks"
            )
    for t in threads:
        t.join()
    say(f"drained: {served} tasks served, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
