"""compile_task shares equal lock-name sets between tasks (a GC economy)."""

from __future__ import annotations

from pexen.sched import meta
from pexen.state.taskspec import compile_task


def _task(**fields):
    def task():
        return None

    meta.assign_val(task, **fields)
    return task


def test_tasks_naming_the_same_locks_share_one_set_each():
    a = compile_task(_task(claims=["r"], uses=["u", "v"]), 0)
    b = compile_task(_task(claims=["r"], uses=["v", "u"]), 1)
    assert a.claims is b.claims and a.uses is b.uses
    assert a.claims == {"r"} and a.uses == {"u", "v"}


def test_names_that_are_not_strings_keep_their_own_set_as_given():
    a = compile_task(_task(claims=[1]), 0)
    b = compile_task(_task(claims=[1.0]), 1)
    assert a.claims is not b.claims
    assert type(next(iter(b.claims))) is float  # reported exactly as given
