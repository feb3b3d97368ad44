"""Run every script in examples/ on both pools and check what it prints.

Each ``examples/*.py`` is found by glob and run as a subprocess, once with
``thread`` and once with ``process``; it must exit with 0, write nothing to
stderr unless it is meant to, and leave no process behind. The ``check_*``
functions below also check the output of the examples they know; a new example
is run (and must pass the generic checks) without any change here.
"""

import ast
import os
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


def run_example(path, pool):
    """Run an example; fail if any process it started outlives it."""
    tag = uuid.uuid4().hex
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    env["PEXEN_EXAMPLE_RUN"] = tag  # inherited by every process it starts
    proc = subprocess.run(
        [sys.executable, str(path), pool],
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


@pytest.mark.timeout(90)
def test_example_rejects_unknown_pool():
    proc = run_example(ROOT / "examples" / "return_values.py", "gpu")
    assert proc.returncode != 0
    assert "usage:" in proc.stderr
