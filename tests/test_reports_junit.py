"""JUnitReport through real runs, read back with junitparser."""

from __future__ import annotations

import os
import time

import junitparser
import pytest
from helpers import new_pool, recorded_warnings, returning, tagged

from pexen import sched
from pexen.factory import set_callpath
from pexen.reports import JUnitReport


def _fails() -> None:
    raise ValueError("expected 1, got 2")


# tasks made by helpers.returning() are functions of the module helpers


def _cases(path) -> dict[str, junitparser.TestCase]:
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    return {f"{case.classname}::{case.name}": case for case in suites[0]}


def _suite(path) -> junitparser.TestSuite:
    return next(iter(junitparser.JUnitXml.fromfile(str(path))))


def test_a_run_with_every_kind_of_case(pool, tmp_path):
    ok = returning("ok")
    set_callpath(ok, ["suite", "sub", "test_ok"])
    bad = tagged("bad", _fails, provides=["db"], claims=["fixture"])
    set_callpath(bad, ["suite", "test_bad"])
    needs = returning("needs", requires=["db"])
    locked = returning("locked", uses=["fixture"])
    path = tmp_path / "results.xml"
    with recorded_warnings():
        results = list(
            sched.Sched([ok, bad, needs, locked]).run(pool, observers=[JUnitReport(path)])
        )
    assert len(results) == 2
    cases = _cases(path)
    assert set(cases) == {
        "suite.sub::test_ok",
        "suite::test_bad",
        "helpers::needs",
        "helpers::locked",
    }
    assert cases["suite.sub::test_ok"].is_passed
    [failure] = cases["suite::test_bad"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "expected 1, got 2"
    assert failure.type == "ValueError"
    assert "Traceback" in failure.text and "_fails" in failure.text
    [skip] = cases["helpers::needs"].result
    assert isinstance(skip, junitparser.Skipped)
    assert "'db'" in skip.message and "suite/test_bad failed" in skip.message
    [skip] = cases["helpers::locked"].result
    assert isinstance(skip, junitparser.Skipped)
    assert "lock 'fixture' was never released" in skip.message
    assert "suite/test_bad" in skip.message
    suite = _suite(path)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 0, 2)
    assert suite.time >= 0 and all(case.time >= 0 for case in cases.values())
    assert not [p for p in os.listdir(tmp_path) if p != "results.xml"]  # no temp file left


def test_a_lost_worker_and_a_timeout_are_errors(tmp_path):
    def crash() -> None:
        os._exit(3)

    def hang() -> None:
        time.sleep(120)

    crasher = tagged("crasher", crash)
    hanger = tagged("hanger", hang, timeout=0.3)
    fine = returning("fine")
    path = tmp_path / "results.xml"
    s = sched.Sched([crasher, hanger, fine])
    list(s.run(new_pool("process", workers=2), observers=[JUnitReport(path, suite="faults")]))
    cases = _cases(path)
    [lost] = cases[f"{__name__}::crasher"].result
    assert isinstance(lost, junitparser.Error)
    assert lost.type.endswith("WorkerLostError") and "code 3" in lost.message
    [timeout] = cases[f"{__name__}::hanger"].result
    assert isinstance(timeout, junitparser.Error)
    assert timeout.type.endswith("TaskTimeoutError")
    assert cases["helpers::fine"].is_passed
    suite = _suite(path)
    assert suite.name == "faults"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (3, 0, 2, 0)


def test_leaving_the_loop_still_writes_a_partial_report(pool, tmp_path):
    tasks = [returning(f"t{i}", priority=i) for i in range(10)]
    path = tmp_path / "partial.xml"
    s = sched.Sched(tasks)
    for _ in s.run(new_pool(pool_name(pool), workers=1, spare=0), observers=[JUnitReport(path)]):
        break  # as Ctrl-C in the caller's loop does
    cases = _cases(path)
    assert len(cases) == 10
    passed = [name for name, case in cases.items() if case.is_passed]
    assert passed == ["helpers::t0"]
    for name, case in cases.items():
        if name not in passed:
            [skip] = case.result
            assert "interrupted" in skip.message or "cancelled" in skip.message
    assert _suite(path).skipped == 9


def pool_name(pool) -> str:
    return "thread" if type(pool).__name__.startswith("Thread") else "process"


def test_a_report_that_cannot_be_written_fails_the_run(pool, tmp_path):
    path = tmp_path / "missing-dir" / "results.xml"
    s = sched.Sched([returning("a")])
    with pytest.raises(FileNotFoundError):
        list(s.run(pool, observers=[JUnitReport(path)]))
    assert not path.parent.exists()


def test_the_file_is_replaced_whole(pool, tmp_path):
    path = tmp_path / "results.xml"
    path.write_text("old")
    report = JUnitReport(path)
    list(sched.Sched([returning("a"), returning("b")]).run(pool, observers=[report]))
    assert _suite(path).tests == 2
    list(sched.Sched([returning("c")]).run(pool, observers=[report]))  # a second run anew
    assert set(_cases(path)) == {"helpers::c"}
    assert sorted(os.listdir(tmp_path)) == ["results.xml"]
