"""The plain lock state: LockTable, directly and against a reference model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pexen.state.locktable import LockTable


def test_shared_users_run_together_claims_alone():
    t = LockTable()
    assert t.request(1, ["r"], [])
    assert t.request(2, ["r"], [])
    assert not t.request(3, [], ["r"])
    assert t.held() == {"r": ("uses", (1, 2))}
    assert t.release(1) == []
    assert t.release(2) == [3]
    assert t.held() == {"r": ("claims", (3,))}
    assert t.release(3) == []
    assert t.held() == {}


def test_a_waiting_claimant_is_not_overtaken_by_later_users():
    t = LockTable()
    assert t.request(1, ["r"], [])
    assert not t.request(2, [], ["r"])  # waits for user 1
    assert not t.request(3, ["r"], [])  # would be compatible with 1, but 2 came first
    assert t.waiting() == [2, 3]
    assert t.release(1) == [2]
    assert t.release(2) == [3]


def test_all_locks_at_once_or_none():
    t = LockTable()
    assert t.request(1, [], ["a"])
    assert not t.request(2, [], ["a", "b"])
    assert t.request(3, [], ["c"])  # unrelated
    # 2 holds nothing while waiting: "b" is free for an earlier-come... no one
    assert not t.holds(2) and t.is_waiting(2)
    assert t.release(1) == [2]
    assert t.holds(2)


def test_waiters_behind_a_blocked_claimant_wait_on_that_resource_only():
    t = LockTable()
    assert t.request(1, [], ["a"])
    assert not t.request(2, [], ["a", "b"])  # waits on a, queued on b too
    assert not t.request(3, ["b"], [])  # behind 2 on b
    assert t.request(4, ["c"], [])  # c is untouched
    assert t.release(1) == [2]
    assert t.release(2) == [3]


def test_withdraw_lets_later_waiters_through():
    t = LockTable()
    assert t.request(1, ["r"], [])
    assert not t.request(2, [], ["r"])
    assert not t.request(3, ["r"], [])
    assert t.withdraw(2) == [3]
    assert t.waiting() == []


def test_a_waiter_blocked_on_two_resources_waits_for_both():
    t = LockTable()
    assert t.request(1, [], ["a"])
    assert t.request(2, [], ["b"])
    assert not t.request(3, [], ["a", "b"])
    assert t.release(2) == []  # b is free, a is not
    assert t.is_waiting(3)
    assert t.release(1) == [3]


def test_a_shared_waiter_blocked_elsewhere_moves_when_its_blocker_frees():
    t = LockTable()
    assert t.request(1, [], ["r"])
    assert not t.request(2, ["u"], ["r"])  # uses u (free), claims r (held)
    for user in range(10, 13):  # u comes and goes: 2 still waits for r
        assert t.request(user, ["u"], [])
        assert t.release(user) == []
    assert t.release(1) == [2]
    assert t.held() == {"u": ("uses", (2,)), "r": ("claims", (2,))}


def test_the_table_forgets_everything_once_all_is_released():
    t = LockTable()
    assert t.request(1, ["u"], ["r"])
    assert not t.request(2, ["u"], ["r"])
    assert not t.request(3, [], ["u"])
    assert not t.request(4, ["r"], [])
    assert t.withdraw(4) == []
    assert t.release(1) == [2]
    assert t.release(2) == [3]
    assert t.release(3) == []
    assert t.held() == {} and t.waiting() == []
    assert t.idle()


def test_a_resource_freed_and_locked_again_starts_afresh():
    # a freed resource's record is reused for the next one locked: it must
    # carry nothing over, stale queue entries of withdrawn waiters included
    t = LockTable()
    assert t.request(1, [], ["a"])
    assert not t.request(2, ["a"], [])
    assert not t.request(3, [], ["a"])
    assert t.withdraw(3) == []
    assert t.release(1) == [2]
    assert t.release(2) == []
    assert t.idle()
    assert t.request(4, [], ["b"])
    assert t.held() == {"b": ("claims", (4,))}
    assert not t.request(5, ["b"], [])
    assert t.request(6, ["a"], [])  # "a" is free again, whatever record "b" got
    assert not t.request(7, [], ["a"])
    assert t.waiting() == [5, 7]
    assert t.release(4) == [5]
    assert t.release(6) == [7]
    assert t.release(5) == [] and t.release(7) == []
    assert t.idle()


def test_many_names_leave_few_records_behind():
    t = LockTable()
    for tid in range(1000):
        assert t.request(tid, [f"u{tid}"], [f"c{tid}"])
    for tid in range(1000):
        assert t.release(tid) == []
    assert t.idle()
    assert len(t._spare) <= 64  # the reuse list is bounded, not one per name seen


def test_request_twice_is_an_error():
    t = LockTable()
    t.request(1, ["r"], [])
    with pytest.raises(ValueError):
        t.request(1, ["r"], [])


# -- property: against a reference model -------------------------------------

RESOURCES = ["a", "b", "c"]
needs = st.tuples(
    st.frozensets(st.sampled_from(RESOURCES), max_size=2),
    st.frozensets(st.sampled_from(RESOURCES), max_size=2),
).map(lambda uc: (uc[0] - uc[1], uc[1]))


def _conflict(x, y) -> bool:
    (xu, xc), (yu, yc) = x, y
    return bool(xc & (yu | yc) or yc & (xu | xc))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(needs, st.integers(0, 3)), min_size=1, max_size=25))
def test_locktable_is_safe_fair_and_live(ops):
    """Requests arrive in order; after each, some holders release.

    Reference model: a request is granted in arrival order per resource: no
    conflict with a holder, nor with an earlier request still waiting.
    """
    table = LockTable()
    want: dict[int, tuple] = {}
    holders: list[int] = []
    waiting: list[int] = []  # arrival order

    def model_grants() -> list[int]:
        # grant every waiter (in arrival order) compatible with holders and
        # with every earlier waiter still waiting
        granted = []
        still: list[int] = []
        for tid in waiting:
            ok = all(not _conflict(want[tid], want[h]) for h in holders)
            ok = ok and all(not _conflict(want[tid], want[w]) for w in still)
            (granted if ok else still).append(tid)
            if ok:
                holders.append(tid)
        waiting[:] = still
        return granted

    for tid, (need, releases) in enumerate(ops):
        want[tid] = need
        waiting.append(tid)
        expect_now = model_grants()
        got_now = table.request(tid, *need)
        assert got_now == (tid in expect_now)
        for _ in range(min(releases, len(holders))):
            done = holders.pop(0)
            got = table.release(done)
            expect = model_grants()
            assert sorted(got) == sorted(expect)
        # safety: no two conflicting holders
        for i, x in enumerate(holders):
            for y in holders[i + 1 :]:
                assert not _conflict(want[x], want[y])
        assert sorted(t for t in want if table.holds(t)) == sorted(holders)
    # liveness: releasing everything grants every waiter eventually
    while holders:
        done = holders.pop(0)
        assert sorted(table.release(done)) == sorted(model_grants())
    assert not waiting and table.waiting() == [] and table.held() == {}
    assert table.idle()  # nothing remembered: no state leaks across tasks


def test_forfeited_locks_doom_conflicting_waiters_only():
    t = LockTable()
    assert t.request(1, ["r"], [])  # will fail, keeping its shared lock
    assert not t.request(2, [], ["r"])  # a claimant: waits
    assert not t.request(3, ["r"], [])  # a user behind the claimant: waits (fair)
    assert t.forfeit(1) == [3]  # 2 can never run: it no longer blocks 3
    assert t.doomed() == {2}
    assert not t.request(4, [], ["r"])  # doomed at once
    assert t.request(5, ["r"], [])
    assert t.doomed() == {2, 4}
    assert t.release(3) == [] and t.release(5) == []
    assert t.held() == {"r": ("uses", (1,))}
