"""pexen.reports.live.LiveDisplay as a library user's observer of a run."""

from __future__ import annotations

import io
import re

from helpers import tagged
from rich.console import Console

from pexen import sched
from pexen.factory import set_callpath
from pexen.reports.live import LiveDisplay


def _tasks():
    def ok():
        return 1

    def bad():
        raise ValueError("no luck")

    def after_bad():
        pass

    tasks = [
        tagged("ok", ok),
        tagged("bad", bad, provides={"x"}),
        tagged("after_bad", after_bad, requires={"x"}),
    ]
    for task, path in zip(tasks, (["s", "ok"], ["s", "bad"], ["s", "after"]), strict=True):
        set_callpath(task, path)
    return tasks


def _run(console: Console, **kwargs) -> LiveDisplay:
    s = sched.Sched(_tasks())
    display = LiveDisplay(console, status=s.status, **kwargs)
    results = list(s.run(sched.pool.ThreadWorkerPool(2), observers=[display]))
    assert len(results) == 2
    return display


def test_plain_lines_off_a_terminal(recwarn):
    out = io.StringIO()
    display = _run(Console(file=out, force_terminal=False, width=60))
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert sorted(" ".join(line.split()[:2]) for line in lines[:3]) == [
        "FAILED s/bad", "PASSED s/ok", "SKIPPED s/after",
    ]  # fmt: skip
    [failed] = [line for line in lines[:3] if line.startswith("FAILED")]
    assert re.fullmatch(r"FAILED  s/bad \(\d+\.\d\ds\)  ValueError: no luck", failed), text
    # soft-wrapped: a long line stays one line, whatever the console's width
    assert (
        "SKIPPED s/after  unmet requires: 'x' (its provider s/bad failed: ValueError: no luck)"
        in lines
    )
    assert lines[3] == "failures and skips:"
    assert re.fullmatch(r"== 3 tasks: 1 passed, 1 failed, 1 skipped in \d+\.\d\ds ==", lines[-1])
    assert display.counts == {"PASSED": 1, "FAILED": 1, "SKIPPED": 1}
    assert display.ended is not None and not display.ended.cancelled


def test_verbose_summary_has_tracebacks(recwarn):
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False), verbosity=1)
    assert "--- FAILED s/bad\nTraceback (most recent call last):" in out.getvalue()
    assert 'raise ValueError("no luck")' in out.getvalue()


def test_quiet_prints_only_the_summary(recwarn):
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False), verbosity=-1)
    assert not out.getvalue().startswith(("PASSED", "FAILED", "SKIPPED"))
    assert out.getvalue().splitlines()[0] == "failures and skips:"


def test_live_on_a_terminal(recwarn):
    out = io.StringIO()
    display = _run(Console(file=out, force_terminal=True, force_interactive=True, width=100))
    assert display.live_mode
    text = out.getvalue()
    assert "\x1b[" in text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "PASSED  s/ok" not in plain  # passes are counted in the bar, not printed
    assert "FAILED  s/bad" in plain
    assert "== 3 tasks: 1 passed, 1 failed, 1 skipped in " in plain


def test_the_running_list_is_cut_to_the_screen(recwarn):
    from pexen.vocab.status import RunningTask, RunStatus

    started = [RunningTask(task=f"t{i}", worker=i, started=100.0 + i) for i in range(20)]
    console = Console(file=io.StringIO(), force_terminal=True, width=80, height=40)
    display = LiveDisplay(console, status=lambda: RunStatus(active=True, running=tuple(started)))
    console.print(display)  # the frame the live display draws
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    rows = [line for line in plain.splitlines() if line.startswith("worker")]
    assert [row.split()[:2] for row in rows] == [["worker", str(i)] for i in range(12)]
    assert "... and 8 more running" in plain
