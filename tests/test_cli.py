"""The ``pexen`` command, run as a user runs it: in a subprocess, through a pipe
or a pseudo-terminal, on trees of tests written for each test."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import sys
import textwrap
import tomllib

import pytest
from cli_helpers import ROOT, assert_none_left, pexen, pexen_on_pty, start_pexen, write_tree
from junitparser import Error, Failure, JUnitXml, Skipped

from pexen.sched import pool as pexen_pool

SUITE = ROOT / "examples" / "testsuite"

#: the example suite's tasks, as the command names them
SUITE_TASKS = {
    "testsuite/net/test_addr/test_loopback": "PASSED",
    "testsuite/net/test_addr/test_network_size": "PASSED",
    "testsuite/test_crash/test_native_extension": "CRASHED",
    "testsuite/test_db/create_db": "PASSED",
    "testsuite/test_db/test_insert": "PASSED",
    "testsuite/test_db/test_names": "PASSED",
    "testsuite/test_db/test_restock": "PASSED",
    "testsuite/test_db/test_total": "PASSED",
    "testsuite/test_math/test_fsum": "PASSED",
    "testsuite/test_math/test_prices": "SKIPPED",
    "testsuite/test_math/test_rounding": "FAILED",
    "testsuite/test_math/test_sum": "PASSED",
    "testsuite/test_scripts/check_tools.sh": "PASSED",
    "testsuite/test_scripts/check_words.sh": "PASSED",
    "testsuite/test_slow/test_checksum": "PASSED",
    "testsuite/test_slow/test_mirror_download": "TIMEOUT",
}
SUITE_SUMMARY = "16 tasks: 12 passed, 3 failed, 1 skipped in"
TASK_LINE = re.compile(r"^(?P<status>PASSED|FAILED|TIMEOUT|CRASHED|SKIPPED) +(?P<name>\S+)")

# a small tree: a fixture, tests using it, an unrelated test
TREE = {
    "__init__.py": "",
    "test_store.py": """
        from pexen.sched.meta import func_meta

        @func_meta(provides={"store"})
        def make_store(shared):
            shared["store"] = {"apples": 3}

        @func_meta(requires={"store"}, provides={"schema"}, claims={"store"})
        def migrate(shared):
            shared["store"]["pears"] = 2

        @func_meta(requires={"schema"}, uses={"store"})
        def test_count(shared):
            assert sum(shared["store"].values()) == 5

        def not_a_task():
            raise AssertionError("untagged: never collected")
    """,
    "sub/__init__.py": "",
    "sub/test_other.py": """
        from pexen.sched.meta import func_meta

        @func_meta
        def test_unrelated():
            pass
    """,
}


def tree(root, files=TREE, executable=()):
    return write_tree(root, {k: textwrap.dedent(v) for k, v in files.items()}, executable)


def statuses(lines):
    """``{name: status}`` of the task lines (each task once)."""
    found = {}
    for line in lines:
        match = TASK_LINE.match(line)
        if match:
            assert match["name"] not in found, f"{match['name']} reported twice"
            found[match["name"]] = match["status"]
    return found


def listed(done):
    """The callpaths printed by --list."""
    *rows, total = done.lines
    assert total == f"{len(rows)} tasks", done
    return [row.split("  ")[0] for row in rows]


# -- the entry points --------------------------------------------------------------


def test_the_console_script_is_declared_and_loads_main():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"pexen": "pexen.cli:main"}
    [entry] = importlib.metadata.entry_points(group="console_scripts", name="pexen")
    assert entry.value == "pexen.cli:main"
    from pexen.cli import main

    assert entry.load() is main


def test_python_m_pexen_without_a_command_is_a_usage_error():
    done = pexen()
    assert done.returncode == 4, done
    assert "usage: pexen" in done.stderr
    help_ = pexen("run", "--help")
    assert help_.returncode == 0, help_
    for option in ("--workers", "--pool", "--address", "-k", "--timeout", "--exitfirst",
                   "--list", "--junit", "--trace", "--graph", "--quiet", "--verbose"):  # fmt: skip
        assert option in help_.stdout


# -- the example suite, through a pipe and on a terminal ---------------------------------


def test_example_suite_in_a_pipe_prints_one_plain_line_per_task():
    done = pexen("run", "examples/testsuite", "-j", "2")
    assert done.returncode == 1, done
    assert "\x1b" not in done.stdout and "\r" not in done.stdout, done
    assert all(c.isprintable() for line in done.lines for c in line), done
    tasks = done.lines[: len(SUITE_TASKS)]
    assert statuses(tasks) == SUITE_TASKS, done
    assert "AssertionError: round(2.5) gave 2" in done.stdout
    timeout = "TaskTimeoutError: task testsuite/test_slow/test_mirror_download ran past its timeout"
    assert f"{timeout} of 1.0 s; its process was killed" in done.stdout  # named by its callpath
    assert "WorkerLostError: the worker running the task died: its process exited with code 3" in (
        done.stdout
    )
    assert "unmet requires: 'rounding' (its provider testsuite/test_math/test_rounding failed" in (
        done.stdout
    )
    assert done.lines[len(SUITE_TASKS)] == "failures and skips:"
    assert re.fullmatch(rf"== {SUITE_SUMMARY} \d+\.\d\ds ==", done.lines[-1]), done
    assert done.stderr == "", done


def test_example_suite_on_a_terminal_shows_the_live_display():
    done = pexen_on_pty("run", "examples/testsuite", "-j", "2")
    assert done.returncode == 1, done
    out = done.stdout
    assert "\x1b[" in out  # a live display: colours, cursor moves
    assert "\x1b[?25l" in out and "\x1b[?25h" in out  # the cursor hidden, then shown again
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    # a running task with how long it has run (the slow test runs for a second)
    assert re.search(r"worker \d  testsuite/test_slow/test_mirror_download +\d+\.\ds", plain), out
    assert re.search(r"\d+/16 \d+ passed, \d+ failed, \d+ skipped ETA \d+:\d\d:\d\d", plain), out
    assert SUITE_SUMMARY in plain
    # failures are printed above the live display; passes only with -v
    assert re.search(r"FAILED +testsuite/test_math/test_rounding", plain)
    assert not re.search(r"PASSED +testsuite/test_math/test_sum", plain)


@pytest.mark.parametrize(("env", "live"), [({"TTY_COMPATIBLE": "0"}, False), ({}, True)])
def test_on_a_terminal_rich_decides_from_the_environment(tmp_path, env, live):
    tree(tmp_path / "suite")
    done = pexen_on_pty("run", "suite", "-v", cwd=tmp_path, **env)
    assert done.returncode == 0, done
    assert ("\x1b[" in done.stdout) is live, done
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout)
    assert len(re.findall(r"PASSED +suite/", plain)) == 4, done


def test_force_color_makes_a_pipe_a_terminal(tmp_path):
    tree(tmp_path / "suite")
    done = pexen("run", "suite", cwd=tmp_path, FORCE_COLOR="1", TERM="xterm-256color")
    assert done.returncode == 0, done
    assert "\x1b[" in done.stdout


def test_quiet_and_verbose(tmp_path):
    bad = "from pexen.sched.meta import func_meta\n"
    bad += "@func_meta\ndef test_bad():\n    raise ValueError('bad value')\n"
    tree(tmp_path / "suite", {**TREE, "test_bad.py": bad})
    quiet = pexen("run", "-q", "suite", cwd=tmp_path)
    assert quiet.returncode == 1, quiet
    assert statuses(quiet.lines) == {}  # no line per task
    assert "  FAILED  suite/test_bad/test_bad  ValueError: bad value" in quiet.lines
    assert quiet.lines[-1].startswith("== 5 tasks: 4 passed, 1 failed in ")
    verbose = pexen("run", "-v", "suite", cwd=tmp_path)
    assert "Traceback (most recent call last):" in verbose.stdout
    assert "raise ValueError('bad value')" in verbose.stdout
    assert "--- FAILED suite/test_bad/test_bad" in verbose.stdout
    both = pexen("run", "-q", "-v", "suite", cwd=tmp_path)
    assert both.returncode == 4, both


# -- targets -------------------------------------------------------------------------


def test_a_package_directory_target(tmp_path):
    tree(tmp_path / "mysuite")
    done = pexen("run", "--list", str(tmp_path / "mysuite"))
    assert done.returncode == 0, done
    assert done.lines == [
        "mysuite/sub/test_other/test_unrelated",
        "mysuite/test_store/make_store  provides: store",
        "mysuite/test_store/migrate  requires: store  provides: schema  claims: store",
        "mysuite/test_store/test_count  requires: schema  uses: store",
        "4 tasks",
    ]
    run = pexen("run", str(tmp_path / "mysuite"))
    assert run.returncode == 0, run
    assert set(statuses(run.lines).values()) == {"PASSED"}
    assert len(statuses(run.lines)) == 4
    assert run.lines[-1].startswith("== 4 tasks: 4 passed in ")


def test_dotted_module_targets(tmp_path):
    tree(tmp_path / "mysuite")
    done = pexen("run", "--list", "mysuite.test_store", "mysuite.sub", cwd=tmp_path)
    assert done.returncode == 0, done
    assert listed(done) == [
        "mysuite/test_store/make_store",
        "mysuite/test_store/migrate",
        "mysuite/test_store/test_count",
        "mysuite/sub/test_other/test_unrelated",
    ]


def test_a_py_file_target_gives_its_tagged_functions(tmp_path):
    files = {"checks.py": "from helper_mod import VALUE\nfrom pexen.sched.meta import func_meta\n"
             "@func_meta\ndef test_value():\n    assert VALUE == 1\n"
             "def test_untagged():\n    pass\n", "helper_mod.py": "VALUE = 1\n"}  # fmt: skip
    tree(tmp_path, files)
    done = pexen("run", "checks.py", cwd=tmp_path)
    assert done.returncode == 0, done
    assert statuses(done.lines) == {"checks/test_value": "PASSED"}


def test_a_directory_target_gives_its_executables(tmp_path):
    scripts = {
        "scripts/ok.sh": "#!/bin/sh\necho fine\n",
        "scripts/deep/fails.sh": "#!/bin/sh\necho 'disk is full'\nexit 2\n",
        "scripts/.hidden.sh": "#!/bin/sh\nexit 1\n",
        "scripts/notes.txt": "not executable\n",
    }
    tree(tmp_path, scripts, executable=("scripts/ok.sh", "scripts/deep/fails.sh",
                                        "scripts/.hidden.sh"))  # fmt: skip
    done = pexen("run", "-v", "./scripts/", cwd=tmp_path)
    assert done.returncode == 1, done
    assert statuses(done.lines[:2]) == {
        "scripts/ok.sh": "PASSED",
        "scripts/deep/fails.sh": "FAILED",
    }
    assert "CalledProcessError: Command '['fails.sh']' returned non-zero exit status 2." in (
        done.stdout
    )
    assert "output:\ndisk is full" in done.stdout  # the script's output, with -v
    absolute = pexen("run", "--list", str(tmp_path / "scripts"))
    assert listed(absolute) == ["scripts/ok.sh", "scripts/deep/fails.sh"]


def test_a_module_failing_to_import_is_a_clear_error(tmp_path):
    files = {**TREE, "sub/test_broken.py": "import os\n\ndef load_config():\n"
             "    raise ValueError('no config file')\n\nload_config()\n"}  # fmt: skip
    tree(tmp_path / "suite", files)
    done = pexen("run", "suite", cwd=tmp_path)
    assert done.returncode == 4, done
    broken = str(tmp_path / "suite" / "sub" / "test_broken.py")
    assert done.stderr.splitlines()[-1] == (
        f"pexen: error: cannot collect {broken}: "
        "cannot import suite.sub.test_broken: ValueError: no config file"
    ), done
    # the user's traceback, none of pexen's or the import machinery's
    assert f'File "{broken}", line 6, in <module>' in done.stderr
    assert "in load_config" in done.stderr
    assert "pexen/" not in done.stderr.replace(broken, "")
    assert "importlib" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "no/such/dir"), "no such file, directory or module: no/such/dir"),
        (("run", "no_such_module_xyz"), "no such file, directory or module"),
        (("run", "missing.py"), "no such file: missing.py"),
        (("run", "-j", "0", "suite"), "must be at least 1"),
        (("run", "--timeout", "-1", "suite"), "must be a positive number of seconds"),
        (("run", "--pool", "gpu", "suite"), "invalid choice: 'gpu'"),
        (("run", "--address", "tcp://127.0.0.1:1", "suite"), "--address is for --pool dask"),
        (("run", "--bogus", "suite"), "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_4(tmp_path, args, message):
    tree(tmp_path / "suite")
    done = pexen(*args, cwd=tmp_path)
    assert done.returncode == 4, done
    assert message in done.stderr, done
    assert "Traceback" not in done.stderr


def test_tasks_that_cannot_run_together_are_a_usage_error(tmp_path):
    files = {"__init__.py": "", "test_x.py": "from pexen.sched.meta import func_meta\n"
             "@func_meta(requires={'nobody_provides'})\ndef test_x():\n    pass\n"}  # fmt: skip
    tree(tmp_path / "suite", files)
    done = pexen("run", "suite", cwd=tmp_path)
    assert done.returncode == 4, done
    assert "pexen: error: the tasks collected cannot run together:" in done.stderr
    assert "nobody_provides" in done.stderr


@pytest.mark.parametrize(
    "files",
    [
        {"__init__.py": "", "test_none.py": "def test_untagged():\n    pass\n"},
        {"readme.txt": "no executable here\n"},
    ],
    ids=["package-without-tasks", "directory-without-executables"],
)
def test_nothing_collected_exits_5(tmp_path, files):
    tree(tmp_path / "empty", files)
    done = pexen("run", "empty", cwd=tmp_path)
    assert done.returncode == 5, done
    assert "pexen: nothing collected from empty" in done.stderr


def test_an_internal_error_exits_3_with_its_traceback(tmp_path):
    tree(tmp_path / "suite")
    code = (
        "import sys\n"
        "from pexen.sched import Sched\n"
        "def broken(self, *args, **kwargs):\n"
        "    raise RuntimeError('engine exploded')\n"
        "Sched.run = broken\n"
        "from pexen.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = pexen("run", "suite", cwd=tmp_path, prefix=("-c", code))
    assert done.returncode == 3, done
    assert "RuntimeError: engine exploded" in done.stderr
    assert "Traceback (most recent call last):" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("pexen: internal error")


# -- options -------------------------------------------------------------------------


def test_k_selects_by_callpath_and_pulls_in_providers(tmp_path):
    tree(tmp_path / "suite")
    done = pexen("run", "--list", "-k", "test_count", "suite", cwd=tmp_path)
    assert listed(done) == [
        "suite/test_store/make_store",  # provides what migrate requires
        "suite/test_store/migrate",  # provides what test_count requires
        "suite/test_store/test_count",
    ]
    pattern = pexen("run", "--list", "-k", "sub/*unrel", "suite", cwd=tmp_path)
    assert listed(pattern) == ["suite/sub/test_other/test_unrelated"]
    junit = tmp_path / "selected.xml"
    run = pexen("run", "-k", "test_count", "--junit", str(junit), "suite", cwd=tmp_path)
    assert run.returncode == 0, run
    # the others are not part of the run, nor of its report
    [suite] = list(JUnitXml.fromfile(str(junit)))
    assert sorted(case.name for case in suite) == ["make_store", "migrate", "test_count"]
    assert sorted(statuses(run.lines)) == [
        "suite/test_store/make_store", "suite/test_store/migrate", "suite/test_store/test_count",
    ]  # fmt: skip
    assert run.lines[-1].startswith("== 3 tasks: 3 passed in ")
    none = pexen("run", "-k", "nothing_like_this", "suite", cwd=tmp_path)
    assert none.returncode == 5, none
    assert "no task matches -k 'nothing_like_this'" in none.stderr


def test_list_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    body = "from pexen.sched.meta import func_meta\n"
    body += f"@func_meta(timeout=7)\ndef test_m():\n    open({str(marker)!r}, 'w').close()\n"
    tree(tmp_path / "suite", {"__init__.py": "", "test_m.py": body})
    done = pexen("run", "--list", "suite", cwd=tmp_path)
    assert done.returncode == 0, done
    assert done.lines == ["suite/test_m/test_m  timeout: 7s", "1 tasks"]
    assert not marker.exists()


def test_exitfirst_cancels_at_the_first_failure(tmp_path):
    body = "import time\nfrom pexen.sched.meta import func_meta\n"
    body += "@func_meta(priority=-1)\ndef test_first():\n    raise RuntimeError('first')\n"
    for i in range(4):  # each long enough for the cancel to come while it runs
        body += f"@func_meta\ndef test_later_{i}():\n    time.sleep(1)\n"
    tree(tmp_path / "suite", {"__init__.py": "", "test_x.py": body})
    done = pexen("run", "-x", "-j", "1", "--pool", "thread", "suite", cwd=tmp_path)
    assert done.returncode == 1, done
    assert statuses(done.lines[:1]) == {"suite/test_x/test_first": "FAILED"}
    assert "stopped at the first failure (-x)" in done.stdout
    summary = re.fullmatch(
        r"== cancelled: 5 tasks: (\d) passed, 1 failed, (\d) not run in [0-9.]+s ==", done.lines[-1]
    )
    assert summary, done
    assert int(summary[1]) + int(summary[2]) == 4
    assert int(summary[2]) >= 2  # at most the task running and the one handed out ahead ran


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_timeout_applies_to_tasks_that_set_none(tmp_path, kind):
    body = (
        "import time\nfrom pexen.sched.meta import func_meta\n"
        "@func_meta\ndef test_hangs():\n    time.sleep(30)\n"
        "@func_meta(timeout=30)\ndef test_own_timeout():\n    time.sleep(1)\n"
    )
    tree(tmp_path / "suite", {"__init__.py": "", "test_t.py": body})
    listing = pexen("run", "--list", "--timeout", "0.5", "suite", cwd=tmp_path)
    assert listing.lines == [
        "suite/test_t/test_hangs  timeout: 0.5s",
        "suite/test_t/test_own_timeout  timeout: 30s",
        "2 tasks",
    ]
    done = pexen("run", "--pool", kind, "--timeout", "0.5", "suite", cwd=tmp_path)
    assert done.returncode == 1, done
    assert statuses(done.lines[:2]) == {
        "suite/test_t/test_hangs": "TIMEOUT",
        "suite/test_t/test_own_timeout": "PASSED",
    }
    assert "ran past its timeout of 0.5 s" in done.stdout


def test_junit_report_of_the_example_suite(tmp_path):
    junit = tmp_path / "results.xml"
    done = pexen("run", "examples/testsuite", "-q", "--junit", str(junit))
    assert done.returncode == 1, done
    xml = JUnitXml.fromfile(str(junit))
    [suite] = list(xml)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (16, 1, 2, 1)
    cases = {f"{case.classname}.{case.name}": case for case in suite}
    assert sorted(cases) == sorted(name.replace("/", ".") for name in SUITE_TASKS)
    kinds = {name: type(case.result[0]) for name, case in cases.items() if case.result}
    assert kinds == {
        "testsuite.test_math.test_rounding": Failure,
        "testsuite.test_crash.test_native_extension": Error,
        "testsuite.test_slow.test_mirror_download": Error,
        "testsuite.test_math.test_prices": Skipped,
    }
    assert cases["testsuite.test_math.test_rounding"].result[0].message == "round(2.5) gave 2"


def test_trace_of_a_run(tmp_path):
    tree(tmp_path / "suite")
    trace = tmp_path / "trace.json"
    done = pexen("run", "-j", "2", "--trace", str(trace), "suite", cwd=tmp_path)
    assert done.returncode == 0, done
    events = json.loads(trace.read_text())["traceEvents"]
    slices = sorted(e["name"] for e in events if e["ph"] == "X")
    assert slices == [
        "suite/sub/test_other/test_unrelated",
        "suite/test_store/make_store",
        "suite/test_store/migrate",
        "suite/test_store/test_count",
    ]
    assert len([e for e in events if e["ph"] == "s"]) == 2  # make_store->migrate->test_count


def test_graph_is_written_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    body = "from pexen.sched.meta import func_meta\n"
    body += f"@func_meta(requires={{'store'}})\ndef test_m():\n    open({str(marker)!r}, 'w')\n"
    files = {**TREE, "test_m.py": body}
    tree(tmp_path / "suite", files)
    done = pexen("run", "--graph", "tasks.dot", "-k", "test_m", "suite", cwd=tmp_path)
    assert done.returncode == 0, done
    assert done.lines == ["2 tasks: graph written to tasks.dot"]
    dot = (tmp_path / "tasks.dot").read_text()
    assert dot.startswith("digraph")
    assert "suite/test_m/test_m" in dot and "suite/test_store/make_store" in dot
    assert "migrate" not in dot  # not selected
    assert not marker.exists()
    mermaid = pexen("run", "--graph", "tasks.mmd", "suite", cwd=tmp_path)
    assert mermaid.returncode == 0, mermaid
    assert (tmp_path / "tasks.mmd").read_text().startswith(("graph", "flowchart"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--graph", "tasks.txt"), "use .dot or .gv (DOT), .mmd or .md (Mermaid)"),
        (("--graph", "g.dot", "--junit", "r.xml"), "--graph writes the graph and runs nothing"),
        (("--junit", "no/such/dir/r.xml"), "--junit no/such/dir/r.xml: no such directory"),
        (("--trace", "."), "--trace .: is a directory"),
    ],
)
def test_report_options_are_checked_before_anything_runs(tmp_path, args, message):
    tree(tmp_path / "suite")
    done = pexen("run", *args, "suite", cwd=tmp_path)
    assert done.returncode == 4, done
    assert message in done.stderr


def test_dask_pool_without_it_built_names_the_extra(tmp_path):
    if hasattr(pexen_pool, "DaskWorkerPool"):
        pytest.skip("the dask pool is there: tested by test_dask_pool_runs_the_suite")
    tree(tmp_path / "suite")
    done = pexen("run", "--pool", "dask", "suite", cwd=tmp_path)
    assert done.returncode == 4, done
    assert "pexen[dask]" in done.stderr


@pytest.mark.timeout(120)
def test_dask_pool_runs_the_suite(tmp_path):
    if not hasattr(pexen_pool, "DaskWorkerPool"):
        pytest.skip("no DaskWorkerPool in this tree")
    pytest.importorskip("distributed")
    tree(tmp_path / "suite")
    done = pexen("run", "--pool", "dask", "-j", "2", "suite", cwd=tmp_path)
    assert done.returncode == 0, done
    assert done.lines[-1].startswith("== 4 tasks: 4 passed in ")


@pytest.mark.timeout(120)
def test_dask_pool_at_an_address_nobody_serves_is_a_usage_error(tmp_path):
    if not hasattr(pexen_pool, "DaskWorkerPool"):
        pytest.skip("no DaskWorkerPool in this tree")
    pytest.importorskip("distributed")
    tree(tmp_path / "suite")
    address = "tcp://127.0.0.1:9"  # the discard port: no dask scheduler there
    # dask's own connect timeout (30 s by default), shortened: the same path
    done = pexen(
        "run", "--pool", "dask", "--address", address, "suite", cwd=tmp_path,
        DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s",
    )  # fmt: skip
    assert done.returncode == 4, done
    assert f"--pool dask: no dask cluster at {address}" in done.stderr


# -- interruption --------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_run_with_exit_2(tmp_path, signum):
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    body = (
        "import time\nfrom pexen.sched.meta import func_meta\n"
        "@func_meta(provides={'quick'})\ndef test_quick():\n    pass\n"
        "@func_meta(requires={'never'})\ndef test_waits():\n    pass\n"
        "@func_meta(requires={'quick'}, provides={'never'})\ndef test_hangs():\n"
        f"    with open({str(fifo)!r}, 'w') as f:\n        f.write('started\\n')\n"
        "    time.sleep(60)\n"
    )
    tree(tmp_path / "suite", {"__init__.py": "", "test_i.py": body})
    junit = tmp_path / "partial.xml"
    proc, tag = start_pexen("run", "-j", "2", "--junit", str(junit), "suite", cwd=tmp_path)
    try:
        with open(fifo) as f:  # blocks until test_hangs runs
            assert f.readline() == "started\n"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, (out, err)
    lines = out.splitlines()
    assert statuses(lines) == {"suite/test_i/test_quick": "PASSED"}, out
    assert re.fullmatch(
        r"== interrupted: 3 tasks: 1 passed, 2 not run in [0-9.]+s ==", lines[-1]
    ), out
    assert_none_left(tag)
    # the partial report: what ran, and what did not because of the interruption
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    cases = {case.name: case for case in suite}
    assert sorted(cases) == ["test_hangs", "test_quick", "test_waits"]
    assert cases["test_quick"].is_passed
    for name in ("test_hangs", "test_waits"):
        [skipped] = cases[name].result
        assert isinstance(skipped, Skipped)
        assert "cancelled" in skipped.message


def test_ctrl_c_on_a_terminal_interrupts_the_run(tmp_path):
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    body = (
        "import time\nfrom pexen.sched.meta import func_meta\n"
        "@func_meta\ndef test_hangs():\n"
        f"    with open({str(fifo)!r}, 'w') as f:\n        f.write('started\\n')\n"
        "    time.sleep(60)\n"
    )
    tree(tmp_path / "suite", {"__init__.py": "", "test_c.py": body})

    def press_ctrl_c(terminal: int) -> None:
        with open(fifo) as f:  # blocks until the task runs
            assert f.readline() == "started\n"
        os.write(terminal, b"\x03")  # the terminal sends SIGINT to its foreground group

    done = pexen_on_pty("run", "suite", cwd=tmp_path, before_reading=press_ctrl_c)
    assert done.returncode == 2, done
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout)
    assert "== interrupted: 1 tasks: 0 passed, 1 not run in " in plain, done
    assert "interrupted: cancelling the run (again to stop at once" in plain, done


def test_the_suite_runs_on_the_thread_pool_too():
    done = pexen("run", "examples/testsuite", "--pool", "thread", "-j", "2")
    assert done.returncode == 1, done
    expected = dict(SUITE_TASKS)
    expected["testsuite/test_crash/test_native_extension"] = "FAILED"  # it will not kill us
    assert statuses(done.lines) == expected, done
    assert "RuntimeError: would crash the runner itself: run with --pool process" in done.stdout


def test_main_is_importable_without_running(monkeypatch):
    # python -m pexen runs main only as __main__
    import runpy

    called = []
    monkeypatch.setattr(sys, "argv", ["pexen"])
    import pexen.cli

    monkeypatch.setattr(pexen.cli, "main", lambda: called.append(1) or 0)
    runpy.run_module("pexen.__main__", run_name="not_main")
    assert called == []


def test_sigterm_while_collecting_exits_2(tmp_path):
    fifo = tmp_path / "importing"
    os.mkfifo(fifo)
    body = (
        f"import time\nwith open({str(fifo)!r}, 'w') as f:\n    f.write('in\\n')\ntime.sleep(60)\n"
    )
    tree(tmp_path / "suite", {"__init__.py": "", "test_slow_import.py": body})
    proc, tag = start_pexen("run", "suite", cwd=tmp_path)
    try:
        with open(fifo) as f:  # blocks until the module is being imported
            assert f.readline() == "in\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, (out, err)
    assert err.splitlines()[-1] == "pexen: interrupted"
    assert_none_left(tag)
