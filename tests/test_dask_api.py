"""The API tests that run on every pool (``pool``), run on the dask pool too.

The test functions of the modules below that take ``pool`` (and no other
pool fixture) are collected here again, unchanged, with ``pool`` the
module's shared private cluster of two single-thread workers and the other
pools' ``spare=1``. The tests that need a thread or process pool
(``pool_kind``: threading or multiprocessing events in kwargs) stay there.
"""

from __future__ import annotations

import inspect

import pytest
import test_api_basic
import test_api_failures
import test_api_locks_deps
import test_api_shared

pytest.importorskip("distributed")

_OTHER_POOLS = {"pool_kind", "make_pool", "leak_snapshot"}


def _reused(module):
    for name, obj in vars(module).items():
        if name.startswith("test_") and callable(obj):
            params = set(inspect.signature(obj).parameters)
            if "pool" in params and not params & _OTHER_POOLS:
                yield name, obj


for _module in (test_api_basic, test_api_failures, test_api_locks_deps, test_api_shared):
    for _name, _test in _reused(_module):
        globals()[_name] = _test
del _module, _name, _test


@pytest.fixture
def pool(shared_dask_pool):
    """The module's dask pool, with ``spare=1`` as the pools of those tests."""
    shared_dask_pool.spare = 1
    return shared_dask_pool
