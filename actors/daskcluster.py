"""A private dask.distributed cluster on this machine, for the dask pool.

The scheduler and the workers are started as ``dask scheduler`` and ``dask
worker`` processes (``python -m distributed.cli...``), never with
:mod:`multiprocessing` from the caller's process: a spawned child re-imports
the caller's ``__main__``, which in a script without a main guard starts the
whole script again ("Nanny failed to start"). Everything listens on loopback
(the dashboards too, on a free port): a dask cluster runs any pickle it is
sent, so nobody else on the network may reach it.

Its configuration is what pexen's rules need of dask: no retry of a task
whose worker died (``allowed-failures`` 0, so only the guilty task is
blamed), one thread per worker, and no task queued on a worker beyond the
one it runs (``worker-saturation`` 1.0: a task waiting there would be blamed
too when the worker dies).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref

import psutil

__all__ = ["CLUSTER_CONFIG", "PrivateCluster"]

log = logging.getLogger(__name__)

#: dask's configuration for every process of a private cluster.
CLUSTER_CONFIG = {
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "warning",
    "DASK_LOGGING__DISTRIBUTED": "warning",
}

#: How long the cluster may take to start, and its processes to end, in seconds.
START_TIMEOUT = 60.0
STOP_GRACE = 5.0

_LOOPBACK = "127.0.0.1"

#: How each process of the cluster starts: a thread waits on the read end of
#: a pipe whose write end only this process holds, and kills the process's
#: group (the process and what it started: a worker's nanny and its worker
#: processes) once the pipe ends. So the cluster dies with this process,
#: also when it is killed outright (SIGKILL, the OOM killer), where no atexit
#: runs. (Not PR_SET_PDEATHSIG: it fires when the *thread* that started the
#: process ends, and a pool may be made in any thread.)
_BOOT = (
    "import os, runpy, signal, sys, threading\n"
    "def _watch(fd):\n"
    "    try:\n"
    "        while os.read(fd, 1): pass\n"
    "    finally:\n"
    "        os.killpg(0, signal.SIGKILL)\n"
    "threading.Thread(target=_watch, args=(int(sys.argv.pop(1)),), daemon=True).start()\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
)

_live: weakref.WeakSet[PrivateCluster] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, stop every private cluster still up."""
    for cluster in list(_live):
        with contextlib.suppress(Exception):
            cluster.close()


class PrivateCluster:
    """A dask scheduler and ``workers`` single-thread workers, on loopback.

    Starts at construction and returns once every worker has joined; its
    :attr:`address` is the scheduler's. :meth:`close` (also at interpreter
    exit) ends every process of it, and removes its directory.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._dir = tempfile.mkdtemp(prefix="pexen-dask-")
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._closed = False
        # the cluster's lifeline: its processes hold the read end
        self._lifeline_r, self._lifeline_w = os.pipe()
        env = dict(os.environ, **CLUSTER_CONFIG)
        # the cluster imports pexen, and the modules tasks are pickled by
        # reference from, from where this process does
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        scheduler_file = os.path.join(self._dir, "scheduler.json")
        self._log = open(os.path.join(self._dir, "cluster.log"), "wb")  # noqa: SIM115
        _live.add(self)
        try:
            self._start(
                "distributed.cli.dask_scheduler", env, "--host", _LOOPBACK, "--port", "0",
                "--dashboard-address", f"{_LOOPBACK}:0", "--scheduler-file", scheduler_file,
            )  # fmt: skip
            self.address = self._wait_for_address(scheduler_file)
            self._start(
                "distributed.cli.dask_worker", env, self.address, "--host", _LOOPBACK,
                "--nworkers", str(workers), "--nthreads", "1", "--nanny",
                "--dashboard-address", f"{_LOOPBACK}:0", "--local-directory", self._dir,
                "--memory-limit", "0",
            )  # fmt: skip
        except BaseException:
            self.close()
            raise
        finally:
            os.close(self._lifeline_r)

    def _start(self, module: str, env: dict[str, str], *args: str) -> None:
        self._procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(self._lifeline_r), module, *args],
                pass_fds=(self._lifeline_r,),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # the caller's Ctrl-C is the caller's to handle
            )
        )

    def _wait_for_address(self, path: str) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._procs[0].poll() is not None:
                raise RuntimeError(f"the dask scheduler failed to start:\n{self.output()}")
            with contextlib.suppress(OSError, ValueError, KeyError), open(path) as f:
                return str(json.load(f)["address"])
            time.sleep(0.02)
        raise RuntimeError("the dask scheduler did not start in time")

    def output(self) -> str:
        """What the cluster's processes wrote so far (for error messages)."""
        path = os.path.join(self._dir, "cluster.log")
        with contextlib.suppress(OSError), open(path, errors="replace") as f:
            return f.read()[-4000:]
        return ""

    def root_pids(self) -> list[int]:
        """The processes this cluster started itself (every other is their descendant)."""
        return [proc.pid for proc in self._procs]

    def pids(self) -> list[int]:
        """Every process of the cluster now (scheduler, nannies' host, workers)."""
        out = []
        for proc in self._procs:
            out.append(proc.pid)
            with contextlib.suppress(psutil.Error):
                out += [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        return out

    def close(self) -> None:
        """End every process of the cluster; returns once they are gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        procs = []
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        # Killed, not asked to close: a graceful close of nannies and workers
        # takes seconds, and nothing of a private cluster outlives it anyway
        # (its tasks have ended or were abandoned; its directory goes next).
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=STOP_GRACE)
        for popen in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=STOP_GRACE)
        os.close(self._lifeline_w)
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        _live.discard(self)
