"""TraceReport through real runs: the Chrome trace-event structure, checked.

Perfetto's trace processor cannot be installed here (the ``perfetto``
package downloads its ``trace_processor_shell`` at run time), so the
structure it relies on is checked instead: the JSON loads, every task that
ran is one complete event on its worker's track, no two overlap on a track,
every dependency edge is one flow pair bound inside its two slices, lock
waits are balanced async slices.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter, defaultdict
from typing import Any

from helpers import blocker, new_event, new_pool, recorded_warnings, returning, tagged

from pexen import sched
from pexen.reports import TraceReport, task_name


def _ns(us: float) -> int:
    return round(us * 1000)


def check_trace(path: Any, workers: int) -> dict[str, Any]:
    """Load the trace and check its structure; its parts by kind."""
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    by_ph: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        assert e["pid"] == os.getpid()  # the run: this process
        assert e.get("tid", 1) > 0  # Perfetto takes 0 for the idle task
        by_ph[e["ph"]].append(e)
    names = {e["tid"]: e["args"]["name"] for e in by_ph["M"] if e["name"] == "thread_name"}
    tracks = {f"worker {i}" for i in range(workers)}
    assert tracks <= set(names.values())
    slices = {}
    for x in by_ph["X"]:
        assert x["name"] not in slices, f"two slices for {x['name']}"
        assert names[x["tid"]] in tracks
        assert x["dur"] >= 0 and x["ts"] >= 0
        slices[x["name"]] = x
    per_track = defaultdict(list)
    for x in slices.values():
        per_track[x["tid"]].append((_ns(x["ts"]), _ns(x["ts"]) + _ns(x["dur"])))
    for spans in per_track.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, "two slices overlap on one track"
    starts = {e["id"]: e for e in by_ph["s"]}
    ends = {e["id"]: e for e in by_ph["f"]}
    assert len(starts) == len(by_ph["s"]) and set(starts) == set(ends)
    flows = []
    for fid, s in starts.items():
        f = ends[fid]
        src = next(x for x in slices.values() if x["tid"] == s["tid"] and _inside(s, x))
        dst = next(x for x in slices.values() if x["tid"] == f["tid"] and _inside(f, x))
        assert f["bp"] == "e"
        flows.append((src["name"], dst["name"]))
    begins = Counter((e["id"], e["name"], e["cat"]) for e in by_ph["b"])
    finishes = Counter((e["id"], e["name"], e["cat"]) for e in by_ph["e"])
    assert begins == finishes and all(n == 1 for n in begins.values())
    for b in by_ph["b"]:
        e = next(e for e in by_ph["e"] if e["id"] == b["id"])
        assert _ns(b["ts"]) <= _ns(e["ts"])
    return {"slices": slices, "flows": flows, "waits": by_ph["b"], "skips": by_ph["i"]}


def _inside(point: dict[str, Any], x: dict[str, Any]) -> bool:
    return _ns(x["ts"]) <= _ns(point["ts"]) <= _ns(x["ts"]) + _ns(x["dur"])


def test_a_diamond_with_locks_on_every_worker(pool, tmp_path):
    top = returning("top", provides=["src"])
    left = returning("left", requires=["src"], provides=["l"], claims=["db"])
    right = returning("right", requires=["src"], provides=["r"], claims=["db"])
    bottom = returning("bottom", requires=["l", "r"])
    free = [returning(f"free{i}") for i in range(8)]
    tasks = [top, left, right, bottom, *free]
    path = tmp_path / "trace.json"
    list(sched.Sched(tasks).run(pool, observers=[TraceReport(path)]))
    parts = check_trace(path, pool.workers)
    assert set(parts["slices"]) == {task_name(t) for t in tasks}
    assert sorted(parts["flows"]) == [
        ("left", "bottom"), ("right", "bottom"), ("top", "left"), ("top", "right"),
    ]  # fmt: skip
    assert parts["skips"] == []


def test_a_lock_wait_is_a_slice_of_its_own(pool, tmp_path):
    holder = returning("holder", claims=["db"], priority=0)
    waiter = returning("waiter", uses=["db"], priority=1)
    path = tmp_path / "trace.json"
    list(
        sched.Sched([holder, waiter]).run(
            new_pool(kind(pool), workers=2), observers=[TraceReport(path)]
        )
    )
    parts = check_trace(path, 2)
    [wait] = parts["waits"]
    assert wait["name"] == "lock wait"
    assert wait["args"] == {"task": "waiter", "resources": ["db"]}
    assert _ns(wait["ts"]) <= _ns(parts["slices"]["waiter"]["ts"])


def kind(pool: Any) -> str:
    return "thread" if type(pool).__name__.startswith("Thread") else "process"


def test_skipped_tasks_and_an_interrupted_run(pool, tmp_path):
    def fails() -> None:
        raise RuntimeError("no")

    bad_task = tagged("bad", fails, provides=["x"])
    after = returning("after", requires=["x"])
    path = tmp_path / "trace.json"
    with recorded_warnings():
        list(sched.Sched([bad_task, after]).run(pool, observers=[TraceReport(path)]))
    parts = check_trace(path, pool.workers)
    assert parts["slices"][task_name(bad_task)]["args"]["failed"] is True
    assert "RuntimeError: no" in parts["slices"][task_name(bad_task)]["args"]["error"]
    [skip] = parts["skips"]
    assert skip["name"] == "after" and "unmet requires" in skip["args"]["cause"]
    # an interrupted run: the trace has what ran before
    ev = new_event(kind(pool))
    slow = blocker("slow", ev)
    s = sched.Sched([returning("first", priority=-1), slow])
    gen = s.run(new_pool(kind(pool), workers=2), observers=[TraceReport(path)])
    assert next(gen).task.__name__ == "first"
    ev.set()
    gen.close()
    parts = check_trace(path, 2)
    assert "first" in parts["slices"]
