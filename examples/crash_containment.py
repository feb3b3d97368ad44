"""Crash containment: a small fault-injection campaign.

Three probes crash on purpose, the way native code and misbehaving libraries
do: inject_exit calls ``os._exit(3)``, inject_sigkill sends itself SIGKILL and
inject_segfault reads address 0 (``ctypes.string_at(0)``, a segmentation
fault). On the process pool each crash takes down only the worker process
running it: the task is reported with ``sched.WorkerLostError``, whose message
says how the process died (its exit code or its signal), the worker is
replaced, and the run goes on. A crash is an uncontrolled failure, so
verify_segfault_recovery, which requires what inject_segfault would have
provided, is skipped; the ``pexen.PexenWarning`` saying so is caught with
``warnings.catch_warnings`` and printed. The workload tasks all succeed.

Crash containment needs the process pool: on the thread pool a crashing task
would take the whole program down with it. There, the script says so and runs
the same campaign with probes that raise ``RuntimeError`` instead.

Expected on the process pool (in any order):

    inject_exit      CRASHED  WorkerLostError: the worker running the task died:
                              its process exited with code 3
    inject_sigkill   CRASHED  WorkerLostError: ... killed by signal 9 (SIGKILL)
    inject_segfault  CRASHED  WorkerLostError: ... killed by signal 11 (SIGSEGV)
    workload_0 ... workload_4  ok  sha256:...
    warning: PexenWarning: 1 tasks skipped due to unmet deps caused by parent exception
    summary: 9 tasks, 5 ok, 3 failed, 1 skipped (verify_segfault_recovery), ...
    campaign behaved as designed

Exits with 0 when the campaign behaved as designed.

Usage: python examples/crash_containment.py [thread|process]
"""

import ctypes
import faulthandler
import hashlib
import os
import signal
import sys
import time
import warnings

import pexen
from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool

if kind == "process":
    print("crash containment on the process pool: a crash kills only its worker process")
else:
    print(
        "crash containment needs the process pool: on the thread pool a crashing task "
        "would kill the whole program; running the campaign with tasks that raise instead"
    )


def crash(how):
    """Crash the way ``how`` says; on the thread pool, raise instead."""
    if kind == "thread":
        raise RuntimeError(f"simulated crash: {how}")
    if how == "os._exit(3)":
        os._exit(3)
    elif how == "SIGKILL":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segfault":
        faulthandler.disable()  # die silently, even under PYTHONFAULTHANDLER
        ctypes.string_at(0)
    time.sleep(5)  # not reached: the process is gone


@sched.meta.func_meta(priority=-1)
def inject_exit():
    crash("os._exit(3)")


@sched.meta.func_meta(priority=-1)
def inject_sigkill():
    crash("SIGKILL")


@sched.meta.func_meta(priority=-1, provides=["segfault_survived"])
def inject_segfault():
    crash("segfault")


@sched.meta.func_meta(requires=["segfault_survived"])
def verify_segfault_recovery():
    return "not reached: inject_segfault never provides 'segfault_survived'"


def make_workload(i):
    @sched.meta.func_meta(kwargs={"seed": i})
    def workload(seed):
        data = b"".join(hashlib.sha256(f"{seed}:{n}".encode()).digest() for n in range(2000))
        return f"sha256:{hashlib.sha256(data).hexdigest()[:16]}"

    workload.__name__ = workload.__qualname__ = f"workload_{i}"
    return workload


CRASHERS = ["inject_exit", "inject_sigkill", "inject_segfault"]
EXPECTED_ERRORS = {
    # task: (exception class, end of its message)
    "inject_exit": (sched.WorkerLostError, "its process exited with code 3"),
    "inject_sigkill": (sched.WorkerLostError, "its process was killed by signal 9 (SIGKILL)"),
    "inject_segfault": (sched.WorkerLostError, "its process was killed by signal 11 (SIGSEGV)"),
}
if kind == "thread":
    EXPECTED_ERRORS = {
        "inject_exit": (RuntimeError, "simulated crash: os._exit(3)"),
        "inject_sigkill": (RuntimeError, "simulated crash: SIGKILL"),
        "inject_segfault": (RuntimeError, "simulated crash: segfault"),
    }

tasks = [
    inject_exit,
    inject_sigkill,
    inject_segfault,
    verify_segfault_recovery,
    *(make_workload(i) for i in range(5)),
]

outcome = {}
started = time.monotonic()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", pexen.PexenWarning)
    for result in sched.Sched(tasks).run(Pool(workers=2)):
        name = result.task.__name__
        outcome[name] = result
        if result.excinfo is None:
            print(f"{name:<25} ok       {result.ret}", flush=True)
        else:
            exc = result.excinfo.val
            status = "CRASHED" if isinstance(exc, sched.WorkerLostError) else "FAILED"
            print(f"{name:<25} {status:<8} {type(exc).__name__}: {exc}", flush=True)
elapsed = time.monotonic() - started

problems = []
for warning in caught:
    print(f"warning: {warning.category.__name__}: {warning.message}")
warned = [str(w.message) for w in caught if issubclass(w.category, pexen.PexenWarning)]
if warned != ["1 tasks skipped due to unmet deps caused by parent exception"]:
    problems.append(f"expected one warning of one skipped task, got {warned}")

names = [task.__name__ for task in tasks]
ok = [n for n in names if n in outcome and outcome[n].excinfo is None]
failed = [n for n in names if n in outcome and outcome[n].excinfo is not None]
skipped = [n for n in names if n not in outcome]
if failed != CRASHERS:
    problems.append(f"failed: {failed}, expected {CRASHERS}")
if skipped != ["verify_segfault_recovery"]:
    problems.append(f"skipped: {skipped}, expected ['verify_segfault_recovery']")
for name, (cls, ending) in EXPECTED_ERRORS.items():
    res = outcome.get(name)
    exc = res.excinfo.val if res is not None and res.excinfo is not None else None
    if not (isinstance(exc, cls) and str(exc).endswith(ending)):
        problems.append(f"{name} reported {exc!r}, expected {cls.__name__}: ...{ending}")

print(
    f"summary: {len(tasks)} tasks, {len(ok)} ok, {len(failed)} failed, "
    f"{len(skipped)} skipped ({', '.join(skipped) or 'none'}), {elapsed:.2f}s on {kind} pool"
)
for problem in problems:
    print(f"PROBLEM: {problem}")
print("campaign behaved as designed" if not problems else "campaign MISBEHAVED")
sys.exit(1 if problems else 0)
