"""Fixtures of the black-box suite: leak checking and pools.

Every test is checked for leftovers: a thread, a child process or a pykka actor
that was not there before the test and is still there shortly after it fails
the test: a run's workers (threads, processes) are gone before control
returns to its caller, and nothing is left behind.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from helpers import POOL_KINDS, SHARED_PROCESS_ROOTS, new_pool, still_running

#: How long teardown waits for extra threads/processes to go, in seconds.
LEAK_GRACE = 3.0
LEAK_STEP = 0.02

#: Process-wide services of the standard library that live on purpose for the
#: rest of the interpreter's life. Only a *direct* child whose command line
#: contains one of these is tolerated; its own children (e.g. workers forked by
#: a forkserver, which inherit the same command line) are not.
ALLOWED_PERSISTENT_CHILDREN = (
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)

#: Name prefixes of threads allowed to outlive a test (none so far).
ALLOWED_PERSISTENT_THREADS: tuple[str, ...] = ()


def _proc_key(proc: psutil.Process) -> tuple[int, float]:
    try:
        return (proc.pid, proc.create_time())
    except psutil.Error:
        return (proc.pid, 0.0)


def _describe(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        cmd = "?"
    try:
        status = proc.status()
    except psutil.Error:
        status = "gone"
    return f"pid {proc.pid} [{status}]: {cmd[:200]}"


def _allowed_child(proc: psutil.Process, me: int) -> bool:
    try:
        if proc.ppid() != me:
            return False
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return any(marker in cmd for marker in ALLOWED_PERSISTENT_CHILDREN)


def _in_shared_cluster(proc: psutil.Process) -> bool:
    """Whether ``proc`` is of a cluster a module fixture shares while it lives."""
    if not SHARED_PROCESS_ROOTS:
        return False
    if proc.pid in SHARED_PROCESS_ROOTS:
        return True
    try:
        return any(p.pid in SHARED_PROCESS_ROOTS for p in proc.parents())
    except psutil.Error:
        return False


def child_processes(include_zombies: bool = True) -> dict[tuple[int, float], psutil.Process]:
    """Descendants of this process, minus the tolerated stdlib services and
    the processes of a cluster shared by a module's tests while it lives."""
    me = psutil.Process()
    try:
        procs = me.children(recursive=True)
    except psutil.Error:
        return {}
    out = {}
    for proc in procs:
        if _allowed_child(proc, me.pid) or _in_shared_cluster(proc):
            continue
        if not include_zombies:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
            except psutil.NoSuchProcess:
                continue
            except psutil.Error:
                pass
        out[_proc_key(proc)] = proc
    return out


#: Threads of a pool a module fixture shares (its dask client's), while it lives.
_SHARED_THREADS: set[threading.Thread] = set()


def _live_threads() -> set[threading.Thread]:
    return {
        t
        for t in threading.enumerate()
        if t.is_alive()
        and t not in _SHARED_THREADS
        and not (ALLOWED_PERSISTENT_THREADS and t.name.startswith(ALLOWED_PERSISTENT_THREADS))
    }


def _actors() -> list[object]:
    try:
        import pykka
    except ImportError:  # the legacy implementation has no actors
        return []
    return list(pykka.ActorRegistry.get_all())


class Snapshot:
    """Threads and child processes alive at one moment."""

    def __init__(self) -> None:
        self.threads = _live_threads()
        self.children = child_processes()
        self.actors = {id(a) for a in _actors()}

    def extra_threads(self) -> list[threading.Thread]:
        return sorted(_live_threads() - self.threads, key=lambda t: t.name)

    def extra_children(self, include_zombies: bool = True) -> list[psutil.Process]:
        now = child_processes(include_zombies)
        return [p for k, p in sorted(now.items()) if k not in self.children]

    def leftovers(self, include_zombies: bool = True) -> list[str]:
        out = [f"thread {t.name!r} (daemon={t.daemon})" for t in self.extra_threads()]
        out += [f"process {_describe(p)}" for p in self.extra_children(include_zombies)]
        out += [f"pykka actor {a!r}" for a in _actors() if id(a) not in self.actors]
        return out

    def wait_clean(self, grace: float = LEAK_GRACE) -> list[str]:
        """Poll until nothing is left over or ``grace`` seconds passed."""
        deadline = time.monotonic() + grace
        while True:
            left = self.leftovers()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(LEAK_STEP)

    def cleanup(self) -> None:
        """Best effort: stop leftover actors and kill leftover processes."""
        try:
            import pykka

            pykka.ActorRegistry.stop_all(block=True, timeout=5)
        except Exception:
            pass
        for proc in self.extra_children():
            try:
                proc.kill()
                proc.wait(timeout=5)
            except psutil.Error:
                pass


@pytest.fixture
def leak_snapshot() -> Snapshot:
    """The snapshot taken before the test (for tests checking it earlier)."""
    return Snapshot()


@pytest.fixture(autouse=True)
def no_leftovers(leak_snapshot: Snapshot):
    yield
    left = leak_snapshot.wait_clean()
    if left:
        leak_snapshot.cleanup()
        pytest.fail(
            f"test left behind (after waiting {LEAK_GRACE:.0f} s):\n  " + "\n  ".join(left),
            pytrace=False,
        )


@pytest.fixture(scope="module")
def shared_dask_pool():
    """A DaskWorkerPool of two workers on one private cluster for a module.

    Its processes are left to it by the leak check while it lives (their
    roots are in ``SHARED_PROCESS_ROOTS``), as are its client's threads; once
    it is closed, at the end of the module, none of them may be left. Never
    for longer: a process pool forks only from a process without other
    threads, and the client's thread is one.
    """
    pytest.importorskip("distributed")
    from pexen.sched.pool import DaskWorkerPool

    before = set(threading.enumerate())
    pool = DaskWorkerPool(workers=2)
    threads = set(threading.enumerate()) - before
    _SHARED_THREADS.update(threads)
    roots = pool._cluster.root_pids()
    SHARED_PROCESS_ROOTS.update(roots)
    spare = pool.spare
    try:
        yield pool
        pool.spare = spare
        pids = pool._cluster.pids()
        pool.close()
        deadline = time.monotonic() + LEAK_GRACE
        while still_running(pids) and time.monotonic() < deadline:
            time.sleep(LEAK_STEP)
        assert not still_running(pids), "the shared cluster left processes behind"
        assert not any(t.is_alive() for t in threads), "its client's threads are left"
    finally:
        SHARED_PROCESS_ROOTS.difference_update(roots)
        _SHARED_THREADS.difference_update(threads)


@pytest.fixture(params=POOL_KINDS)
def pool_kind(request: pytest.FixtureRequest) -> str:
    """'thread' or 'process'; every test using it runs on both pools."""
    return request.param


@pytest.fixture
def pool(pool_kind: str):
    """A fresh pool of the parametrized kind, ``workers=2``."""
    return new_pool(pool_kind, workers=2)


@pytest.fixture
def make_pool(pool_kind: str):
    """Factory of fresh pools of the parametrized kind (override with ``kind=``)."""

    def factory(workers: int = 2, spare: int = 1, kind: str | None = None):
        return new_pool(kind or pool_kind, workers=workers, spare=spare)

    return factory
