"""Run reports from a library run: JUnit XML, a Perfetto trace and the task graph.

A small test campaign: a fixture provider, tests that require it, two tests
sharing a database that one of them claims, a failing test and one that
depends on it (skipped, with the cause in the report). The script writes the
task graph before the run (DOT and Mermaid), runs the tasks with a
JUnitReport, a TraceReport and an observer of its own (counting events as
they come), and then reads the files back to show what they hold.

Open ``trace.json`` in https://ui.perfetto.dev (or chrome://tracing); render
``tasks.dot`` with ``dot -Tsvg tasks.dot > tasks.svg``.

Expected (the same on both pools, every time: test_migrate and test_query
become ready together, with a worker free for each, and test_query waits
for the database test_migrate claims):

    graph: tasks.dot (7 tasks, 6 arrows, 1 lock), tasks.mmd
    warning: 1 tasks skipped due to unmet deps caused by parent exception
    events seen: 6 handed out, 6 ended, 5 unblocked, 1 skipped, 1 lock waits
    results.xml: 7 tests, 1 failures, 0 errors, 1 skipped
      campaign.setup.start_server      passed
      campaign.setup.load_data         passed
      campaign.db.test_migrate         passed
      campaign.db.test_query           passed
      campaign.check.flaky_check       failure
        3 != 4
      campaign.reports.publish         skipped
        unmet requires: 'checked' (its provider campaign/check/flaky_check
        failed: AssertionError: 3 != 4)
      campaign.smoke.test_ping         passed
    trace.json: 6 task slices, 3 worker tracks, 4 dependency arrows, 1 lock waits
    reports written as designed

Usage: python examples/run_reports.py [thread|process] [DIR]
(files go to DIR, else to a temporary directory removed at the end)
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from pexen import sched
from pexen.factory import set_callpath
from pexen.reports import JUnitReport, RunObserver, TraceReport, write_graph
from pexen.sched import meta


def task(path: str, **fields):
    """Decorator: a task with a callpath (as a factory would give it) and metadata."""

    def wrap(func):
        set_callpath(func, path.split("/"))
        meta.assign_val(func, **fields)
        return func

    return wrap


@task("campaign/setup/start_server", provides=["server"])
def start_server(shared):
    shared["url"] = "http://127.0.0.1:8080"


@task("campaign/setup/load_data", requires=["server"], provides=["data"])
def load_data(shared):
    shared["rows"] = 3


@task("campaign/db/test_migrate", requires=["data"], claims=["db"], provides=["migrated"])
def test_migrate(shared):
    return "schema v2"


@task("campaign/db/test_query", requires=["data"], uses=["db"])
def test_query(shared):
    return shared["rows"]


@task("campaign/check/flaky_check", requires=["server"], provides=["checked"])
def flaky_check(shared):
    assert 1 + 2 == 4, "3 != 4"


@task("campaign/reports/publish", requires=["checked", "migrated"])
def publish(shared):
    return "published"


@task("campaign/smoke/test_ping")
def test_ping():
    return "pong"


TASKS = [start_server, load_data, test_migrate, test_query, flaky_check, publish, test_ping]


class Counts(RunObserver):
    """An observer of one's own: counts the events by kind."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def task_event(self, event) -> None:
        self.kinds[type(event).__name__] += 1


def main(pool_kind: str, out: Path) -> None:
    pool = (sched.pool.ThreadWorkerPool if pool_kind == "thread" else sched.pool.ProcessWorkerPool)(
        workers=3
    )
    write_graph(TASKS, out / "tasks.dot")
    write_graph(TASKS, out / "tasks.mmd")
    dot = (out / "tasks.dot").read_text()
    arrows = sum(1 for line in dot.splitlines() if "->" in line and "dir=none" not in line)
    locks = dot.count("shape=cylinder")
    print(f"graph: tasks.dot ({len(TASKS)} tasks, {arrows} arrows, {locks} lock), tasks.mmd")

    counts = Counts()
    reports = [JUnitReport(out / "results.xml", suite="campaign"), TraceReport(out / "trace.json")]
    s = sched.Sched(TASKS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = list(s.run(pool, observers=[*reports, counts]))
    for warning in caught:
        print(f"warning: {warning.message}")
    k = counts.kinds
    print(
        f"events seen: {k['TaskHandedOut']} handed out, {k['TaskEnded']} ended, "
        f"{k['TaskUnblocked']} unblocked, {k['TaskSkipped']} skipped, "
        f"{k['TaskLockWait']} lock waits"
    )

    suite = ET.parse(out / "results.xml").getroot().find("testsuite")
    assert suite is not None
    print(
        f"results.xml: {suite.get('tests')} tests, {suite.get('failures')} failures, "
        f"{suite.get('errors')} errors, {suite.get('skipped')} skipped"
    )
    for case in suite.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                status, message = tag, node.get("message", "")
        print(f"  {name:<32} {status}")
        if message:
            print(textwrap.indent(textwrap.fill(message, 70), "    "))

    trace = json.loads((out / "trace.json").read_text())["traceEvents"]
    slices = [e for e in trace if e["ph"] == "X"]
    names = [e["args"]["name"] for e in trace if e["ph"] == "M" and e["name"] == "thread_name"]
    workers = [name for name in names if name.startswith("worker")]
    flows = sum(1 for e in trace if e["ph"] == "s")
    waits = sum(1 for e in trace if e["ph"] == "b")
    print(
        f"trace.json: {len(slices)} task slices, {len(workers)} worker tracks, "
        f"{flows} dependency arrows, {waits} lock waits"
    )

    assert len(results) == 6 and int(suite.get("tests", 0)) == 7
    assert arrows == 6 and locks == 1
    # publish was unblocked by test_migrate but never ran: no arrow to it
    assert len(slices) == 6 and k["TaskUnblocked"] == 5 and flows == 4
    assert k["TaskSkipped"] == 1 and suite.get("skipped") == "1"
    assert k["TaskLockWait"] == waits == 1
    print("reports written as designed")


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
    if len(sys.argv) > 2:
        main(kind, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(kind, Path(tmp))
