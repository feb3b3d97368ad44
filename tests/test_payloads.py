"""Large return values and shared dicts cross the process boundary whole.

Large ``bytes`` results travel as raw messages (not pickled), everything else
pickled; either way the value arrives equal and of its type. pexen uses no
shared memory: ``/dev/shm`` gains nothing from a run, also when a worker dies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import by_task, new_pool, tagged

from pexen import sched

SHM = Path("/dev/shm")


def _shm() -> set[str]:
    return set(os.listdir(SHM)) if SHM.is_dir() else set()


@pytest.fixture
def shm_unchanged():
    before = _shm()
    yield
    assert _shm() - before == set()


def test_large_results_cross_whole_and_keep_their_type(shm_unchanged):
    sizes = [0, 1 << 10, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 24 << 20]

    def make(i, size):
        def task():
            return bytes([i % 251]) * size

        return tagged(f"bytes{size}", task)

    tasks = [make(i, size) for i, size in enumerate(sizes)]
    tasks.append(tagged("bytearray", lambda: bytearray(b"b" * (3 << 20))))
    tasks.append(tagged("tuple", lambda: (b"t" * (2 << 20), "tail")))
    res = by_task(sched.Sched(tasks).run(new_pool("process")))
    for i, size in enumerate(sizes):
        got = res[tasks[i]].ret
        assert type(got) is bytes and got == bytes([i % 251]) * size, size
    assert res[tasks[-2]].ret == bytearray(b"b" * (3 << 20))
    assert type(res[tasks[-2]].ret) is bytearray
    assert res[tasks[-1]].ret == (b"t" * (2 << 20), "tail")


def test_a_large_shared_dict_flows_to_the_dependant(shm_unchanged):
    def produce(shared):
        shared["blob"] = b"s" * (8 << 20)

    def consume(shared):
        return len(shared["blob"]), shared["blob"][:1]

    first = tagged("produce", produce, provides={"blob"})
    then = tagged("consume", consume, requires={"blob"})
    res = by_task(sched.Sched([first, then]).run(new_pool("process")))
    assert res[first].shared["blob"] == b"s" * (8 << 20)
    assert res[then].ret == (8 << 20, b"s")


def test_a_worker_dying_in_the_middle_of_a_large_result_leaves_nothing(shm_unchanged):
    def dies():
        os._exit(9)

    big = tagged("big", lambda: b"z" * (16 << 20))
    res = by_task(sched.Sched([tagged("dies", dies), big]).run(new_pool("process")))
    assert res[big].ret == b"z" * (16 << 20)
    assert [r.excinfo.type for r in res.values() if r.excinfo] == [sched.WorkerLostError]
