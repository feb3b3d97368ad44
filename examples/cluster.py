"""The build pipeline of build_pipeline.py, on a dask.distributed cluster.

    fetch_sources -> configure -> compile_<unit> (x4) -> link -> test_* (x3) -> package
                  \\-> build_docs -------------------------------------------/

The planner and the lock manager stay in this process: configure *claims*
the 'toolchain' while every compile step only *uses* it, link and build_docs
*claim* the output ('outdir'), the database suites share or claim the
'database', and the cluster only ever runs a task whose locks are granted.
Artifacts travel in the shared dicts (the cluster's workers need not share a
disk with this process): sources, flags, object files, the binary.
test_api is flaky: it fails with a TaskFailError subclass (deps_ok=True), so
packaging still runs and gets its report.

Without an argument, pexen starts a private cluster of two single-thread
workers on loopback and stops it at the end (a script without a main guard,
as this one, works). With an address (``tcp://host:port``, or ``tls://``
with your security settings) it runs on that cluster instead; its workers
need pexen installed.

Usage: python examples/cluster.py [tcp://scheduler:8786]
"""

import hashlib
import sys
import time

from pexen import sched
from pexen.sched import meta

# the example runner of the test suite passes a pool name: a private cluster
address = sys.argv[1] if len(sys.argv) > 1 and "://" in sys.argv[1] else None

UNITS = ["main", "lexer", "parser", "codegen"]


class SuiteFailed(sched.TaskFailError):
    """A test suite with failing checks; ``report`` says which."""

    def __init__(self, report, **kwargs):
        super().__init__(report, **kwargs)
        self.report = report


@meta.func_meta(provides=["sources"])
def fetch_sources(shared):
    shared["sources"] = {
        unit: "".join(f"int {unit}_{i}(void) {{ return {i}; }}\n" for i in range(300))
        for unit in UNITS
    }
    return f"{len(UNITS)} units"


@meta.func_meta(requires=["sources"], provides=["config"], claims=["toolchain"])
def configure(shared):
    shared["cflags"] = ["-O2", "-Wall", f"-DUNITS={len(shared['sources'])}"]
    return " ".join(shared["cflags"])


def make_compile(unit):
    """One compile task per unit: a closure, shipped to the cluster by value."""

    @meta.func_meta(requires=["config"], uses=["toolchain"], provides=[f"{unit}.o"])
    def compile_unit(shared):
        source = shared["sources"][unit].encode()
        digest = hashlib.sha256(" ".join(shared["cflags"]).encode() + source).digest()
        shared[f"object:{unit}"] = digest * 64
        return f"{unit}.o on {worker_name()}"

    compile_unit.__name__ = compile_unit.__qualname__ = f"compile_{unit}"
    return compile_unit


def worker_name():
    """Which cluster worker runs the calling task (dask's worker address)."""
    from distributed import get_worker

    return get_worker().address


@meta.func_meta(requires=[f"{u}.o" for u in UNITS], provides=["binary"], claims=["outdir"])
def link(shared):
    shared["binary"] = b"\x7fAPP" + b"".join(shared[f"object:{u}"] for u in UNITS)
    return f"app, {len(shared['binary'])} bytes"


@meta.func_meta(requires=["sources"], provides=["docs"], claims=["outdir"])
def build_docs(shared):
    shared["docs"] = "\n".join(f"<li>{unit}</li>" for unit in sorted(shared["sources"]))
    return f"{len(shared['sources'])} pages"


def run_suite(shared, name, checks):
    failed = [check for check, ok in checks.items() if not ok]
    shared[f"suite:{name}"] = {"suite": name, "total": len(checks), "failed": failed}
    if failed:
        raise SuiteFailed(shared[f"suite:{name}"])
    return f"{len(checks)} checks passed"


@meta.func_meta(requires=["binary"], provides=["tested:unit"], uses=["database"])
def test_unit(shared):
    image = shared["binary"]
    return run_suite(shared, "test_unit", {u: shared[f"object:{u}"] in image for u in UNITS})


@meta.func_meta(requires=["binary"], provides=["tested:api"], uses=["database"], priority=1)
def test_api(shared):
    return run_suite(shared, "test_api", {"get_user": True, "retry_after_reset": False})


@meta.func_meta(requires=["binary"], provides=["tested:migrations"], claims=["database"])
def test_db_migrations(shared):
    time.sleep(0.05)  # alone in the database: no reader runs meanwhile
    return run_suite(shared, "test_db_migrations", {"add_email_column": True})


@meta.func_meta(
    requires=["tested:unit", "tested:api", "tested:migrations", "docs"], claims=["outdir"]
)
def package(shared):
    reports = [shared[f"suite:{s}"] for s in ("test_unit", "test_api", "test_db_migrations")]
    failing = [r["suite"] for r in reports if r["failed"]]
    return f"app-{hashlib.sha256(shared['binary']).hexdigest()[:8]}.zip, failing: {failing}"


tasks = [
    fetch_sources,
    configure,
    *(make_compile(unit) for unit in UNITS),
    link,
    build_docs,
    test_unit,
    test_api,
    test_db_migrations,
    package,
]

s = sched.Sched(tasks)
failed = []
with sched.pool.DaskWorkerPool(2, address=address) as pool:
    print(f"cluster: {'private, ' if address is None else ''}{pool.workers} workers", flush=True)
    for res in s.run(pool):
        name = res.task.__name__
        if res.excinfo is None:
            print(f"{name:<20} ok      {res.ret}", flush=True)
        else:
            failed.append(name)
            print(f"{name:<20} FAILED  {res.excinfo.type.__name__}: {res.excinfo.val}", flush=True)
ok = failed == ["test_api"]
print(f"summary: {len(tasks)} tasks, failed: {failed}")
print("pipeline behaved as designed" if ok else "pipeline MISBEHAVED")
sys.exit(0 if ok else 1)
