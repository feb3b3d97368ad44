"""A small build-and-test pipeline, run by pexen.

    fetch_sources -> configure -> compile_<unit> (x4) -> link -> test_* (x6) -> package
                  \\-> build_docs ---------------------------------------------/

- fetch_sources writes C-like sources and a fixture database (sqlite).
- configure claims the 'toolchain' and puts compiler flags into the shared dict.
- the compile steps run in parallel: they require 'config', all *use* the
  'toolchain' (a read lock), and each provides its object file name.
- link requires every object and claims the output dir ('outdir'), as does
  build_docs, so the two never write there at the same time.
- the test suites require 'binary'. test_db_migrations *claims* the 'database',
  test_db_queries and test_db_reports only *use* it; each checks with marker
  files that the locks really kept writers and readers apart. test_api is
  flaky: it fails with SuiteFailed (a TaskFailError subclass carrying a
  report), deps_ok=True, so packaging goes on and gets the report via the
  shared dict, and locks_ok=True, so its read lock on 'database' is released.
- package requires every suite's 'tested:<suite>' and 'docs', and zips the
  binary, the docs and a JSON test report.

The shared dict carries data down the chain: the work dir (add_shared), the
flags, object paths, the binary path, the suite results.

Prints each result as it arrives and a summary; exits with 0 when the pipeline
behaved as designed (only test_api failed, nothing skipped, no warnings, the
package holds what it should).

Usage: python examples/build_pipeline.py [thread|process]
"""

import hashlib
import json
import sqlite3
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import pexen
from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool

UNITS = ["main", "lexer", "parser", "codegen"]
SUITES = [
    "test_unit",
    "test_api",
    "test_db_migrations",
    "test_db_queries",
    "test_db_reports",
    "test_cli",
]
FIXTURE_USERS = 50


class SuiteFailed(sched.TaskFailError):
    """A test suite with failing checks; ``report`` says which."""

    def __init__(self, report, **kwargs):
        super().__init__(report, **kwargs)
        self.report = report


def run_suite(shared, name, checks):
    """Run ``checks`` (name -> callable returning bool), record the outcome in
    the shared dict (it flows on to package) and fail controllably if any
    check fails."""
    failures = [check for check, func in checks.items() if not func()]
    report = {"suite": name, "total": len(checks), "failed": failures}
    shared[f"suite:{name}"] = report
    if failures:
        raise SuiteFailed(report)  # deps_ok=True, locks_ok=True by default
    return f"{len(checks)} checks passed"


# --- build ---------------------------------------------------------------


@sched.meta.func_meta(provides=["sources"])
def fetch_sources(shared):
    root = Path(shared["workdir"])
    src = root / "src"
    src.mkdir()
    for unit in UNITS:
        body = "".join(f"int {unit}_{i}(void) {{ return {i}; }}\n" for i in range(300))
        (src / f"{unit}.c").write_text(body)
    db = sqlite3.connect(root / "fixtures.db")
    with db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, karma INT)")
        db.executemany(
            "INSERT INTO users (name, karma) VALUES (?, ?)",
            [(f"user{i}", i % 7) for i in range(FIXTURE_USERS)],
        )
    db.close()
    shared["src_dir"] = str(src)
    shared["db_path"] = str(root / "fixtures.db")
    return f"{len(UNITS)} units, fixture db with {FIXTURE_USERS} users"


@sched.meta.func_meta(requires=["sources"], provides=["config"], claims=["toolchain"])
def configure(shared):
    root = Path(shared["workdir"])
    units = sorted(p.stem for p in Path(shared["src_dir"]).glob("*.c"))
    flags = ["-O2", "-Wall", f"-DUNITS={len(units)}"]
    (root / "config.h").write_text("".join(f"#define HAVE_{u.upper()} 1\n" for u in units))
    (root / "obj").mkdir()
    shared["cflags"] = flags
    return " ".join(flags)


def make_compile(unit):
    """One compile task per unit: a closure, so it carries its unit along."""

    @sched.meta.func_meta(requires=["config"], uses=["toolchain"], provides=[f"{unit}.o"])
    def compile_unit(shared):
        source = Path(shared["src_dir"], f"{unit}.c").read_bytes()
        digest = hashlib.sha256(" ".join(shared["cflags"]).encode() + source).digest()
        obj = Path(shared["workdir"], "obj", f"{unit}.o")
        obj.write_bytes(digest * 64)
        # a key per unit: link gets all of them merged into its shared dict
        shared[f"object:{unit}"] = str(obj)
        return f"{obj.name} sha256:{digest.hex()[:12]}"

    compile_unit.__name__ = compile_unit.__qualname__ = f"compile_{unit}"
    return compile_unit


@sched.meta.func_meta(
    requires=[f"{unit}.o" for unit in UNITS], provides=["binary"], claims=["outdir"]
)
def link(shared):
    objects = [Path(shared[f"object:{unit}"]) for unit in UNITS]
    image = b"\x7fAPP" + b"".join(obj.read_bytes() for obj in objects)
    binary = Path(shared["workdir"], "dist", "app")
    binary.parent.mkdir(exist_ok=True)
    binary.write_bytes(image)
    shared["binary"] = str(binary)
    shared["binary_sha256"] = hashlib.sha256(image).hexdigest()
    return f"app, {len(image)} bytes from {len(objects)} objects"


@sched.meta.func_meta(requires=["sources"], provides=["docs"], claims=["outdir"])
def build_docs(shared):
    docs = Path(shared["workdir"], "dist", "docs")
    docs.mkdir(parents=True)
    entries = []
    for source in sorted(Path(shared["src_dir"]).glob("*.c")):
        count = source.read_text().count("(void)")
        entries.append(f"<li>{source.stem}: {count} functions</li>")
    (docs / "index.html").write_text("<ul>\n" + "\n".join(entries) + "\n</ul>\n")
    shared["docs"] = str(docs / "index.html")
    return f"index.html, {len(entries)} units"


# --- tests ---------------------------------------------------------------


def db_session(shared, role, name, work):
    """Run ``work(db)`` with a marker file saying who is in the database.

    Returns work's verdict, or False if a conflicting task was in there too: a
    writer conflicts with everyone, a reader only with writers. The locks
    ('claims' for writers, 'uses' for readers) must make that impossible.
    """
    workdir = Path(shared["workdir"])
    marker = workdir / f"{role}-{name}.marker"
    pattern = "*-*.marker" if role == "writer" else "writer-*.marker"

    def intruders():
        return [m for m in workdir.glob(pattern) if m != marker]

    marker.touch()
    try:
        alone = not intruders()
        db = sqlite3.connect(shared["db_path"])
        try:
            ok = work(db)
        finally:
            db.close()
        time.sleep(0.02)  # long enough to overlap with anyone not kept out
        return ok and alone and not intruders()
    finally:
        marker.unlink()


@sched.meta.func_meta(requires=["binary"], provides=["tested:test_unit"])
def test_unit(shared):
    image = Path(shared["binary"]).read_bytes()
    checks = {
        "binary_checksum": lambda: hashlib.sha256(image).hexdigest() == shared["binary_sha256"],
        "binary_header": lambda: image.startswith(b"\x7fAPP"),
    }
    for unit in UNITS:
        obj = Path(shared[f"object:{unit}"]).read_bytes()
        checks[f"{unit}_linked"] = lambda obj=obj: obj in image
    return run_suite(shared, "test_unit", checks)


@sched.meta.func_meta(
    requires=["binary"], provides=["tested:test_api"], uses=["database"], priority=0
)
def test_api(shared):
    db = sqlite3.connect(shared["db_path"])
    try:
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        db.close()
    checks = {f"get_user_{i}": lambda i=i: i < users for i in range(10)}
    # the known flaky one: the mock upstream resets this connection (for now)
    checks["retry_after_reset"] = lambda: False
    return run_suite(shared, "test_api", checks)


@sched.meta.func_meta(
    requires=["binary"],
    provides=["tested:test_db_migrations"],
    claims=["database"],
    priority=1,
)
def test_db_migrations(shared):
    def migrate(db):
        with db:
            db.execute("ALTER TABLE users ADD COLUMN email TEXT")
            db.execute("UPDATE users SET email = name || '@example.org'")
        emails = db.execute("SELECT count(email) FROM users").fetchone()[0]
        with db:  # and roll the migration back: leave the fixture as found
            db.execute("ALTER TABLE users DROP COLUMN email")
        return emails == FIXTURE_USERS

    checks = {"add_email_column": lambda: db_session(shared, "writer", "migrations", migrate)}
    return run_suite(shared, "test_db_migrations", checks)


def make_db_reader(name, query, expected, priority):
    """A read-only suite: it *uses* the database, next to other readers."""

    @sched.meta.func_meta(
        requires=["binary"],
        provides=[f"tested:{name}"],
        uses=["database"],
        priority=priority,
    )
    def db_reader(shared):
        def read(db):
            columns = [row[1] for row in db.execute("PRAGMA table_info(users)")]
            return columns == ["id", "name", "karma"] and (
                db.execute(query).fetchone()[0] == expected
            )

        checks = {f"{name}_query": lambda: db_session(shared, "reader", name, read)}
        return run_suite(shared, name, checks)

    db_reader.__name__ = db_reader.__qualname__ = name
    return db_reader


@sched.meta.func_meta(requires=["binary"], provides=["tested:test_cli"], priority=3)
def test_cli(shared):
    image = Path(shared["binary"]).read_bytes()
    checks = {f"option_{flag}": lambda flag=flag: len(image) > 0 for flag in "hvqo"}
    return run_suite(shared, "test_cli", checks)


# --- package -------------------------------------------------------------


@sched.meta.func_meta(
    requires=[f"tested:{suite}" for suite in SUITES] + ["docs"], claims=["outdir"]
)
def package(shared):
    reports = [shared[f"suite:{suite}"] for suite in SUITES]
    dist = Path(shared["workdir"], "dist")
    archive = dist / f"app-{shared['binary_sha256'][:8]}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(shared["binary"], "app")
        zf.write(shared["docs"], "docs/index.html")
        zf.writestr("test-report.json", json.dumps(reports, indent=1))
    failing = [r["suite"] for r in reports if r["failed"]]
    return f"{archive.name}, tests: {len(reports)} suites, failing: {failing}"


tasks = [
    fetch_sources,
    configure,
    *(make_compile(unit) for unit in UNITS),
    link,
    build_docs,
    test_unit,
    test_api,
    test_db_migrations,
    make_db_reader("test_db_queries", "SELECT count(*) FROM users", FIXTURE_USERS, priority=2),
    make_db_reader("test_db_reports", "SELECT count(DISTINCT karma) FROM users", 7, priority=2),
    test_cli,
    package,
]
EXPECTED_FAILURES = {"test_api"}


def describe(result):
    """(task name, ok?, short detail) of one TaskRes."""
    name = getattr(result.task, "__name__", repr(result.task))
    if result.excinfo is None:
        return name, True, str(result.ret)
    exc = result.excinfo.val
    if isinstance(exc, SuiteFailed):
        detail = f"{len(exc.report['failed'])} of {exc.report['total']} checks failed: "
        return name, False, detail + ", ".join(exc.report["failed"])
    return name, False, f"{result.excinfo.type.__name__}: {exc}"


problems = []
with tempfile.TemporaryDirectory(prefix="pexen-build-") as workdir:
    s = sched.Sched(tasks)
    s.add_shared(workdir=workdir)
    outcome = {}
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pexen.PexenWarning)
        for result in s.run(Pool(workers=2)):
            name, ok, detail = describe(result)
            outcome[name] = result
            print(f"{name:<20} {'ok' if ok else 'FAILED':<7} {detail}", flush=True)
    elapsed = time.monotonic() - started

    for warning in caught:
        print(f"warning: {warning.category.__name__}: {warning.message}")
        if issubclass(warning.category, pexen.PexenWarning):
            problems.append(f"unexpected warning: {warning.message}")

    names = [getattr(task, "__name__", repr(task)) for task in tasks]
    failed = {n for n, r in outcome.items() if r.excinfo is not None}
    skipped = [n for n in names if n not in outcome]
    if failed != EXPECTED_FAILURES:
        problems.append(f"failed: {sorted(failed)}, expected {sorted(EXPECTED_FAILURES)}")
    if skipped:
        problems.append(f"skipped: {skipped}")
    flaky = outcome.get("test_api")
    if flaky and flaky.excinfo and not isinstance(flaky.excinfo.val, SuiteFailed):
        problems.append(f"test_api did not fail with SuiteFailed: {flaky.excinfo}")

    archives = list(Path(workdir, "dist").glob("app-*.zip"))
    if len(archives) != 1:
        problems.append(f"expected one package, found {archives}")
    else:
        with zipfile.ZipFile(archives[0]) as zf:
            if sorted(zf.namelist()) != ["app", "docs/index.html", "test-report.json"]:
                problems.append(f"package holds {zf.namelist()}")
            report = json.loads(zf.read("test-report.json"))
            failing = [r["suite"] for r in report if r["failed"]]
            if failing != ["test_api"]:
                problems.append(f"package test report lists failing suites {failing}")

print(
    f"summary: {len(tasks)} tasks, {len(outcome) - len(failed)} ok, "
    f"{len(failed)} failed ({', '.join(sorted(failed)) or 'none'}), "
    f"{len(skipped)} skipped, {elapsed:.2f}s on {kind} pool"
)
for problem in problems:
    print(f"PROBLEM: {problem}")
print("pipeline behaved as designed" if not problems else "pipeline MISBEHAVED")
sys.exit(1 if problems else 0)
