"""Adding one task at a time (a service's add): the same rules as a batch's."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import pexen_messages, recorded_warnings, returning, tagged

import pexen
from pexen import sched


def _warned_here(rec: list[Any]) -> list[str]:
    """The files the PexenWarnings recorded point at."""
    return [w.filename for w in rec if issubclass(w.category, pexen.PexenWarning)]


def test_the_unrequired_provides_warning_names_the_caller_of_each_form_of_add():
    with recorded_warnings() as rec:
        s = sched.Sched([returning("p0", provides=["zero"])])
        s.add_tasks([returning("p1", provides=["one"])])
        s.add_tasks([returning("p2", provides=["two"]), returning("p3", provides=["three"])])
        s.add_tasks(t for t in [returning("p4", provides=["four"])])
    assert len(pexen_messages(rec)) == 5
    assert _warned_here(rec) == [__file__] * 5


def test_an_incomparable_priority_added_alone_during_a_serve_is_refused(pool):
    s = sched.Sched([returning("first", priority=1)])
    seen = []
    for res in s.serve(pool):
        seen.append(res.ret)
        if res.ret == "first":
            # first is forgotten (its result was taken): the reference is the next task known
            ref = returning("ref", priority=2)
            s.add_tasks([ref])
            bad = returning("bad", priority="high")
            with pytest.raises(TypeError) as exc:
                s.add_tasks([bad])
            assert str(exc.value) == (
                f"Task {bad!r}: priority 'high' cannot be compared with priority 2 of {ref!r}"
            )
            s.stop()
    assert seen == ["first", "ref"]  # the refused task never ran


def test_one_task_added_during_a_run_joins_it_with_or_without_names(pool):
    provider = returning("provider", provides=["x"])
    s = sched.Sched([provider, returning("needs_x", requires=["x"])])
    ran = []
    added = False
    for res in s.run(pool):
        ran.append(res.ret)
        if not added:
            added = True
            s.add_tasks([returning("plain")])
            s.add_tasks([returning("late_needs_x", requires=["x"])])
    assert sorted(ran) == ["late_needs_x", "needs_x", "plain", "provider"]


def test_a_function_added_alone_gets_the_shared_dict_only_if_it_takes_one(pool):
    def with_shared(shared):
        return sorted(shared)

    def without():
        return "none"

    s = sched.Sched([tagged("first", lambda: "first")])
    s.add_shared(preset=1)
    got = {}
    for res in s.serve(pool):
        got[res.task.__name__] = res.ret
        if res.ret == "first":
            s.add_tasks([with_shared])
            s.add_tasks([without])
        if len(got) == 3:
            s.stop()
    assert got == {"first": "first", "with_shared": ["preset"], "without": "none"}
