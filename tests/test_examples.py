"""Run every script in examples/ on both pools and check what it prints.

Each ``examples/*.py`` is found by glob and run as a subprocess, once with
``thread`` and once with ``process``; it must exit with 0, write nothing to
stderr unless it is meant to, and leave no process behind. The ``check_*``
functions below also check the output of the examples they know; a new example
is run (and must pass the generic checks) without any change here.
"""

import ast
import os
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
POOLS = ["thread", "process"]

# TaskRes(task=<function NAME at 0x...>, shared={...}, ret=..., excinfo=...)
# as printed by print(result), or as the only item of a printed list.
TASKRES = re.compile(
    r"^\[?TaskRes\(task=<function (?P<name>[\w.<>]+) at 0x[0-9a-f]+>, "
    r"shared=(?P<shared>\{.*?\}), ret=(?P<ret>.*), "
    r"excinfo=(?P<excinfo>None|ExceptionInfo\(.*\))\)\]?$"
)
NAMEERROR = (
    "ExceptionInfo(type=<class 'NameError'>, "
    "val=NameError(\"name 'nonexistent' is not defined\"), tb=<traceback object at "
)
SKIPPED = "PexenWarning: 1 tasks skipped due to unmet deps caused by parent exception"
HELD = "PexenWarning: 1 locks still held at exit due to parent exception"


def run_example(path, pool, wrapper=None, **env_vars):
    """Run an example; fail if any process it started outlives it.

    ``wrapper``: Python code run with ``-c`` instead, given the example's path
    and the pool as its arguments; ``env_vars`` go to its environment.
    """
    tag = uuid.uuid4().hex
    env = dict(os.environ, **env_vars)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    env["PEXEN_EXAMPLE_RUN"] = tag  # inherited by every process it starts
    proc = subprocess.run(
        [sys.executable, *(("-c", wrapper) if wrapper else ()), str(path), pool],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    deadline = time.monotonic() + 3
    while (left := leftovers(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind by {path.name} {pool}: {left}"
    return proc


def leftovers(tag):
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("PEXEN_EXAMPLE_RUN") == tag:
                found.append((proc.info["pid"], " ".join(proc.info["cmdline"] or [])))
        except (psutil.Error, OSError):
            continue
    return found


def parse(lines):
    """The printed TaskRes lines, as dicts: name, shared, ret, excinfo."""
    results = []
    for line in lines:
        match = TASKRES.match(line)
        assert match, f"not a printed TaskRes: {line!r}"
        res = match.groupdict()
        res["shared"] = ast.literal_eval(res["shared"])
        results.append(res)
    return results


def by_name(results):
    names = [r["name"] for r in results]
    assert len(names) == len(set(names)), f"a task reported twice: {names}"
    return {r["name"]: r for r in results}


def literal(text):
    return ast.literal_eval(text)


# --- per-example checks: (stdout lines, stderr, pool) ----------------------


def check_priorities(out, err, pool):
    results = by_name(parse(out))
    assert {name: literal(r["ret"]) for name, r in results.items()} == {
        "greet1": "Hello First World!",
        "greet2": "Hello Second World!",
        "greet3": "Hello Third World!",
    }
    for r in results.values():
        assert r["shared"] == {}
        assert r["excinfo"] == "None"


def check_decorator_kwargs(out, err, pool):
    assert out[:2] == ["priority: 10", "kwargs: {'version': 'Last'}"]
    [res] = parse(out[2:])
    assert res["name"] == "greet_ver"
    assert literal(res["ret"]) == "Hello Last World!"
    assert res["shared"] == {}
    assert res["excinfo"] == "None"


def check_return_values(out, err, pool):
    assert out[0].startswith("[") and out[0].endswith("]")
    [res] = parse(out)
    assert res["name"] == "greet"
    assert literal(res["ret"]) == {"set": {1, 2, 3}, "list": [1, 2, 3]}
    assert res["excinfo"] == "None"


def check_shared_state(out, err, pool):
    results = by_name(parse(out))
    assert {name: r["shared"] for name, r in results.items()} == {
        "greet_ver_nodep": {
            "wtype": "Terrestrial",
            "msg": "Hello Last Terrestrial World!",
        },
        "greet": {"wtype": "Silicate", "msg": "Hello World!"},
        "greet_ver": {"wtype": "Silicate", "msg": "Hello Last Silicate World!"},
    }
    for r in results.values():
        assert r["ret"] == "None"
        assert r["excinfo"] == "None"


def check_calling_convention(out, err, pool):
    results = by_name(parse(out))
    assert {name: literal(r["ret"]) for name, r in results.items()} == {
        "no_args": "no_args: called without arguments",
        "shared_only": "shared_only: shared={'planet': 'Earth'}",
        "args_only": "args_only: kwargs={'wtype': 'Gaseous'}",
        "both": "both: shared={'planet': 'Earth'} kwargs={'wtype': 'Oceanic'}",
        "args_only_named": "args_only_named: wtype=Icy build=123",
        "both_named": "both_named: shared={'planet': 'Earth'} wtype=Desert build=7",
    }
    for r in results.values():
        assert r["shared"] == {"planet": "Earth"}
        assert r["excinfo"] == "None"


def check_callable_kinds(out, err, pool):
    where = "this process" if pool == "thread" else "a worker process"
    assert sorted(out) == sorted(
        [
            "instance: Howdy Callable World!",
            "bound method: Hey Terrestrial World!",
            "closure: Hello Enclosed World!",
            "partial: Hi Terrestrial World!",
            "lambda: Hello Anonymous World!",
            f"builtin: os.getpid ran in {where}",
        ]
    )


def check_exceptions(out, err, pool):
    [res] = parse(out)
    assert res["name"] == "greet_exc"
    assert res["ret"] == "None"
    assert res["excinfo"].startswith(NAMEERROR)
    # the traceback (also from a worker process) points at the failing line
    assert "Traceback (most recent call last):" in err
    assert 'examples/exceptions.py", line' in err
    assert ", in greet_exc\n" in err
    assert "test = nonexistent" in err
    assert err.rstrip().endswith("NameError: name 'nonexistent' is not defined")


def check_failure_locks_deps(out, err, pool):
    # greet_exc runs (priority -1) and fails; the two others never run
    [res] = parse(out)
    assert res["name"] == "greet_exc"
    assert res["excinfo"].startswith(NAMEERROR)
    assert SKIPPED in err
    assert HELD in err
    assert err.count("PexenWarning") == 2


def sections(out):
    """Map each '== title' header of task_fail_error.py to the lines after it."""
    parts, current = {}, None
    for line in out:
        if line.startswith("== "):
            current = parts.setdefault(line[3:], [])
        else:
            assert current is not None, f"output before the first header: {line!r}"
            current.append(line)
    return parts


def split_part(lines):
    """TaskRes lines, other lines."""
    results = [line for line in lines if line.startswith("TaskRes(")]
    return by_name(parse(results)), [line for line in lines if line not in results]


def check_task_fail_error(out, err, pool):
    parts = sections(out)
    assert list(parts) == [
        "TaskFailError",
        "deps_ok=False",
        "subclass with data",
        "task_fail_wrap",
        "task_fail_wrap(deps_ok=False)",
        "task_fail_wrap(reraise=MyException)",
    ]
    harsh = "ExceptionInfo(type=<class 'pexen.sched.common.TaskFailError'>, "
    harsh += "val=TaskFailError('Hello Harsh World!'), tb=<traceback object at "
    wrapped = "ExceptionInfo(type=<class 'pexen.sched.common.TaskFailError'>, "
    wrapped += "val=TaskFailError(NameError(\"name 'nonexistent' is not defined\")), "
    signature = "'Yours, Mr. Builder'"
    minions = "'Hello Minions!'"

    # locks released and 'greeting' provided: everything runs, no warnings
    results, rest = split_part(parts["TaskFailError"])
    assert results["greet_exc"]["excinfo"].startswith(harsh)
    assert results["greet_signature"]["ret"] == signature
    assert results["greet_underlings"]["ret"] == minions
    assert rest == []

    # locks released, deps not: greet_signature is skipped, with a warning
    results, rest = split_part(parts["deps_ok=False"])
    assert set(results) == {"greet_exc_nodeps", "greet_underlings"}
    assert results["greet_exc_nodeps"]["excinfo"].startswith(harsh)
    assert results["greet_underlings"]["ret"] == minions
    assert rest == [SKIPPED]

    # the subclass and its report reach the caller
    results, rest = split_part(parts["subclass with data"])
    assert results["greet_exc_report"]["excinfo"].startswith(
        "ExceptionInfo(type=<class '__main__.GreetingFailed'>, "
        "val=GreetingFailed('No world wanted a greeting', "
        "{'tried': ['Harsh', 'Cruel', 'Cold']}), tb=<traceback object at "
    )
    assert results["greet_signature"]["ret"] == signature
    assert rest == ["report: {'tried': ['Harsh', 'Cruel', 'Cold']}"]

    results, rest = split_part(parts["task_fail_wrap"])
    assert results["greet_wrapped"]["excinfo"].startswith(wrapped)
    assert results["greet_signature"]["ret"] == signature
    assert results["greet_underlings"]["ret"] == minions
    assert rest == []

    results, rest = split_part(parts["task_fail_wrap(deps_ok=False)"])
    assert set(results) == {"greet_wrapped_nodeps"}
    assert results["greet_wrapped_nodeps"]["excinfo"].startswith(wrapped)
    assert rest == [SKIPPED]

    results, rest = split_part(parts["task_fail_wrap(reraise=MyException)"])
    assert results["greet_wrapped_reraise"]["excinfo"].startswith(
        "ExceptionInfo(type=<class '__main__.MyException'>, "
        "val=MyException(NameError(\"name 'nonexistent' is not defined\")), "
    )
    assert results["greet_signature"]["ret"] == signature
    assert rest == []

    assert "PexenWarning" not in err


def check_build_pipeline(out, err, pool):
    assert out[-1] == "pipeline behaved as designed"
    summary = re.fullmatch(
        r"summary: 15 tasks, 14 ok, 1 failed \(test_api\), 0 skipped, "
        r"(?P<secs>[0-9.]+)s on (?P<pool>\w+) pool",
        out[-2],
    )
    assert summary, out[-2]
    assert summary["pool"] == pool
    rows = {}
    for line in out[:-2]:
        name, status, detail = line.split(maxsplit=2)
        rows[name] = (status, detail)
    assert len(rows) == 15
    assert rows["test_api"] == ("FAILED", "1 of 11 checks failed: retry_after_reset")
    assert {status for name, (status, _) in rows.items() if name != "test_api"} == {"ok"}
    assert rows["package"][1].endswith("tests: 6 suites, failing: ['test_api']")
    # dependencies: every task is reported after the ones it needs
    order = list(rows)
    for before, after in [
        ("fetch_sources", "configure"),
        ("configure", "compile_main"),
        ("compile_codegen", "link"),
        ("fetch_sources", "build_docs"),
        ("link", "test_unit"),
        ("link", "test_api"),
        ("test_api", "package"),
        ("build_docs", "package"),
    ]:
        assert order.index(before) < order.index(after), order


def check_crash_containment(out, err, pool):
    assert out[-1] == "campaign behaved as designed"
    summary = re.fullmatch(
        r"summary: 9 tasks, 5 ok, 3 failed, 1 skipped \(verify_segfault_recovery\), "
        r"(?P<secs>[0-9.]+)s on (?P<pool>\w+) pool",
        out[-2],
    )
    assert summary, out[-2]
    assert summary["pool"] == pool
    assert out[-3] == "warning: " + SKIPPED
    if pool == "process":
        assert out[0].startswith("crash containment on the process pool")
        lost = "CRASHED WorkerLostError: the worker running the task died: its process "
        crashes = {
            "inject_exit": lost + "exited with code 3",
            "inject_sigkill": lost + "was killed by signal 9 (SIGKILL)",
            "inject_segfault": lost + "was killed by signal 11 (SIGSEGV)",
        }
    else:
        assert out[0].startswith("crash containment needs the process pool")
        crashes = {
            "inject_exit": "FAILED RuntimeError: simulated crash: os._exit(3)",
            "inject_sigkill": "FAILED RuntimeError: simulated crash: SIGKILL",
            "inject_segfault": "FAILED RuntimeError: simulated crash: segfault",
        }
    rows = {}
    for line in out[1:-3]:
        name, rest = line.split(maxsplit=1)
        assert name not in rows, f"a task reported twice: {name}"
        rows[name] = " ".join(rest.split())
    assert {name: rows[name] for name in crashes} == crashes
    workloads = {name: row for name, row in rows.items() if name not in crashes}
    assert sorted(workloads) == [f"workload_{i}" for i in range(5)]
    for row in workloads.values():
        assert re.fullmatch(r"ok sha256:[0-9a-f]{16}", row), row


def check_timeouts(out, err, pool):
    assert out[-1] == "timeouts behaved as designed"
    fate = "its process was killed" if pool == "process" else "its thread was abandoned"
    rows = {}
    for line in out[:5]:
        name, status, rest = line.split(maxsplit=2)
        rows[name] = (status, rest)
    assert sorted(rows) == ["checksum_0", "checksum_1", "checksum_2", "checksum_3", "fetch_mirror"]
    status, rest = rows.pop("fetch_mirror")
    assert status == "TIMEOUT"
    assert re.fullmatch(
        r"TaskTimeoutError: task <function fetch_mirror at 0x[0-9a-f]+> ran past its timeout "
        rf"of 0\.5 s; {fate}  \(at \d+\.\ds\)",
        rest,
    ), rest
    for name, (status, rest) in rows.items():
        assert status == "ok"
        assert rest.startswith(f"part {name[-1]}: ok")
    # how long is not for a test to judge (the example itself reports a run
    # that waited for the hanging task); the format is
    ended = re.fullmatch(r"run ended after \d+\.\ds, without waiting for fetch_mirror", out[5])
    assert ended, out[5]
    if pool == "process":
        assert out[6] == "process pool: fetch_mirror was killed: it never reached its end: True"
    else:
        assert re.fullmatch(
            r"thread pool: fetch_mirror was abandoned: it went on in its thread and returned "
            r"by itself \d+\.\ds after the start: True",
            out[6],
        ), out[6]
    assert len(out) == 8


def check_cancellation(out, err, pool):
    assert out[-1] == "cancellation behaved as designed"
    assert out[0] == "== break after 3 results"
    assert re.fullmatch(r"during the run: \d+ threads, \d+ processes below this one", out[1])
    assert re.fullmatch(
        r"break: control returned after [0-9.]+s; now 1 threads, 0 processes below this one",
        out[2],
    ), out[2]
    assert out[3] == "ran 3 of 30 tasks"
    assert out[4] == "== Sched.cancel() from a timer thread"
    done = [line for line in out[5:] if line.endswith(" done")]
    assert 1 <= len(done) < 10
    rest = out[5 + len(done) :]
    assert re.fullmatch(
        r"cancel\(\) returned after [0-9.]+s; the loop ended [0-9.]+s after the cancel", rest[0]
    ), rest[0]
    assert rest[1] == "after the loop: 1 threads, 0 processes below this one"
    assert rest[2] == f"ran {len(done)} of 10 tasks, the rest never started"
    assert rest[3].startswith(f"{pool} pool: each cancel ")
    assert len(rest) == 5


def check_live_additions(out, err, pool):
    hosts = ["web1", "web2", "db1", "cache1"]
    assert out[:3] == [
        "discover         ok  found 4 hosts: web1, web2, db1, cache1",
        "supervisor: added check_web1, check_web2, check_db1, check_cache1",
        "operator thread: added audit_log",
    ]
    assert sorted(out[3:-2]) == sorted(
        [f"check_{host:<10} ok  {host}: healthy" for host in hosts]
        + ["audit_log        ok  audit log rotated"]
    )
    assert out[-2:] == [
        "summary: 6 tasks ran in one run: discover, 4 checks, audit_log",
        "live additions behaved as designed",
    ]


def check_status(out, err, pool):
    assert out[0] == "open_window      ok"
    assert out[1] == "status: active, 1 finished, 0 skipped"
    assert out[2] == "  running:"
    # the age is printed with two decimals; how old is a matter of speed
    assert re.fullmatch(r"    worker 0  migrate_schema   started \d+\.\d\ds ago", out[3]), out[3]
    assert re.fullmatch(r"    worker 1  backup_files     started \d+\.\d\ds ago", out[4]), out[4]
    assert out[5:11] == [
        "    worker 0  rotate_logs      queued behind the task running there",
        "  ready:            vacuum_cache, send_digest",
        "  waiting on deps:  rebuild_index",
        "  waiting on locks: report_usage (uses db)",
        "  held locks:       archive (claims: backup_files), db (claims: migrate_schema)",
        "releasing migrate_schema and backup_files",
    ]
    assert sorted(out[11:-2]) == sorted(
        f"{name:<16} ok"
        for name in [
            "migrate_schema",
            "backup_files",
            "report_usage",
            "rotate_logs",
            "vacuum_cache",
            "send_digest",
            "rebuild_index",
        ]
    )
    assert out[-2].startswith("after the run: RunStatus(active=False, ")
    assert out[-1] == "status behaved as designed"


CHECKS = {
    "priorities": check_priorities,
    "decorator_kwargs": check_decorator_kwargs,
    "return_values": check_return_values,
    "shared_state": check_shared_state,
    "calling_convention": check_calling_convention,
    "callable_kinds": check_callable_kinds,
    "exceptions": check_exceptions,
    "failure_locks_deps": check_failure_locks_deps,
    "task_fail_error": check_task_fail_error,
    "build_pipeline": check_build_pipeline,
    "crash_containment": check_crash_containment,
    "timeouts": check_timeouts,
    "cancellation": check_cancellation,
    "live_additions": check_live_additions,
    "status": check_status,
}
# examples expected to write to stderr (a traceback, warnings)
STDERR_EXPECTED = {"exceptions", "failure_locks_deps"}


def test_known_examples_exist():
    assert set(CHECKS) <= {path.stem for path in EXAMPLES}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example(path, pool):
    proc = run_example(path, pool)
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    if path.stem not in STDERR_EXPECTED:
        assert proc.stderr == "", report
    check = CHECKS.get(path.stem)
    if check is not None:
        try:
            check(proc.stdout.splitlines(), proc.stderr, pool)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{report}") from exc


# Runs the priorities example with the global random generator seeded and the
# pools cut to one worker without spare, so that results come in start order;
# then prints the priority each of its three ways attached.
SEEDED_PRIORITIES = """
import os, random, runpy, sys
from pexen import sched
from pexen.sched import meta

def one_worker(real):
    def pool(workers=1, spare=1):
        return real(workers=1, spare=0)
    return pool

sched.pool.ThreadWorkerPool = one_worker(sched.pool.ThreadWorkerPool)
sched.pool.ProcessWorkerPool = one_worker(sched.pool.ProcessWorkerPool)
sys.argv = sys.argv[1:]
random.seed(int(os.environ["SEED"]))
names = runpy.run_path(sys.argv[0], run_name="__main__")
print("priorities:", [meta.get_priority(names[f"greet{i}"]) for i in (1, 2, 3)])
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("seed", [0, 4, 7])
def test_priorities_example_starts_the_lowest_priority_first(pool, seed):
    rng = random.Random(seed)
    drawn = [rng.choice([0, 10]) for _ in range(3)]  # as the example draws them
    proc = run_example(ROOT / "examples" / "priorities.py", pool, SEEDED_PRIORITIES, SEED=str(seed))
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    *results, last = proc.stdout.splitlines()
    assert last == f"priorities: {drawn}", report
    want = [f"greet{i + 1}" for i in sorted(range(3), key=lambda i: (drawn[i], i))]
    assert want != ["greet1", "greet2", "greet3"]  # so that priority matters here
    assert [r["name"] for r in parse(results)] == want, report


@pytest.mark.timeout(90)
def test_example_rejects_unknown_pool():
    proc = run_example(ROOT / "examples" / "return_values.py", "gpu")
    assert proc.returncode != 0
    assert "usage:" in proc.stderr
