"""Property test: random task sets against a sequential reference model.

Hypothesis draws a random DAG of tasks (requires only on names that earlier
tasks provide, so there is no cycle; some names have two providers), random
priorities (few values, so that ties are common), read/write locks over a
few resources, and some failing tasks (uncontrolled, or TaskFailError with
random deps_ok/locks_ok). Each task records when it started and ended
(``time.monotonic_ns()``, system-wide, so comparable across processes) and
the shared dict it was given, then writes a value of its own under its own
key and under a key common to every task (:data:`COMMON_KEY`): whichever
provider's dict was merged last shows in the dependant's dict.

The checker replays the observed start order through a simple model of the
rules of dependencies, locks and failures. It only uses facts a correct
scheduler cannot avoid:

* a task is started (handed to a worker) after the providers it waited for
  have *ended*, and a task's recorded start comes after it was handed out, so
  ``provider.end <= dependant.start``;
* a lock is held from hand-out (before the recorded start) to release (after
  the recorded end), so the recorded intervals of two tasks with conflicting
  locks cannot overlap, and a task cannot start after a failed task that
  kept a conflicting lock has started;
* the planner merges a provider's dict into its dependants as it processes
  the provider's end, which is also when it yields the provider's result; so
  the dicts merged into a task are those of a *prefix* of its providers in
  result order (those processed before the task was handed out), merged in
  that order over the preset. Where that prefix ends is only known up to
  timing (a provider that ended just before the task started may have been
  processed after the hand-out), so the checker accepts any prefix the
  timing allows that meets every requirement, and demands the task's dict
  be exactly the preset updated by each provider's dict of that prefix.

A second property runs the same task sets on one worker with no spare
(``workers=1, spare=0``): there the run is sequential, and a reference model
replays it to predict the exact start order (each task started is the lowest
``(priority, insertion order)`` among those ready at that moment) and the
exact merges (every provider that ended before).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import pytest
from helpers import LOCKS_MSG, SKIP_MSG, end_messages, new_pool, run_all
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pexen import sched
from pexen.sched import meta

RESOURCES = ("r0", "r1", "r2", "r3")
PRESET_KEY = "preset"
#: every task writes its own name under this key: the last merge wins
COMMON_KEY = "last"
PRESET = {PRESET_KEY: 0, COMMON_KEY: "preset"}


@dataclasses.dataclass
class Spec:
    idx: int
    name: str
    requires: frozenset
    provides: frozenset
    uses: frozenset
    claims: frozenset
    priority: int
    outcome: str  # "ok" | "raise" | "fail"
    deps_ok: bool
    locks_ok: bool
    duration: float

    @property
    def gives_deps(self) -> bool:
        """Its provides are provided (and its dict merged) when it ends."""
        return self.outcome == "ok" or (self.outcome == "fail" and self.deps_ok)

    @property
    def keeps_locks(self) -> bool:
        """Its locks stay held for ever once it has run."""
        return self.outcome == "raise" or (self.outcome == "fail" and not self.locks_ok)

    def conflicts(self, other: Spec) -> bool:
        return bool(self.claims & (other.claims | other.uses) or other.claims & self.uses)


@st.composite
def task_specs(draw, max_tasks=60, durations=(0.0, 0.0, 0.0, 0.0005, 0.002)):
    n = draw(st.integers(1, max_tasks))
    specs = []
    provided: list[str] = []  # names provided by earlier tasks
    nproviders: dict[str, int] = {}
    for i in range(n):
        provides = set()
        if draw(st.booleans()):
            provides.add(f"n{i}")
        # sometimes a second provider of an earlier name
        seconds = [x for x in provided if nproviders[x] < 2]
        if seconds and draw(st.integers(0, 3)) == 0:
            provides.add(draw(st.sampled_from(seconds)))
        requires = set()
        if provided:
            requires = set(draw(st.lists(st.sampled_from(provided), max_size=3, unique=True)))
        requires -= provides
        uses, claims = set(), set()
        for res in RESOURCES:
            how = draw(st.sampled_from(["none", "none", "none", "none", "uses", "claims"]))
            if how == "uses":
                uses.add(res)
            elif how == "claims":
                claims.add(res)
        roll = draw(st.integers(0, 13))
        outcome = "raise" if roll == 0 else "fail" if roll == 1 else "ok"
        specs.append(
            Spec(
                idx=i,
                name=f"t{i}",
                requires=frozenset(requires),
                provides=frozenset(provides),
                uses=frozenset(uses),
                claims=frozenset(claims),
                priority=draw(st.integers(-2, 2)),
                outcome=outcome,
                deps_ok=draw(st.booleans()),
                locks_ok=draw(st.booleans()),
                duration=draw(st.sampled_from(durations)),
            )
        )
        for name in provides:
            if name not in nproviders:
                provided.append(name)
            nproviders[name] = nproviders.get(name, 0) + 1
    return specs


def make_task(spec: Spec):
    """A task recording its start, end and the dict it got; fails as its spec says."""
    name, idx, outcome = spec.name, spec.idx, spec.outcome
    deps_ok, locks_ok, duration = spec.deps_ok, spec.locks_ok, spec.duration

    def task(shared):
        start = time.monotonic_ns()
        seen = dict(shared)
        shared[name] = idx
        shared[COMMON_KEY] = name
        if duration:
            time.sleep(duration)  # some work, so that tasks overlap
        end = time.monotonic_ns()
        if outcome == "raise":
            raise ValueError(name, start, end, seen)
        if outcome == "fail":
            raise sched.TaskFailError(name, start, end, seen, deps_ok=deps_ok, locks_ok=locks_ok)
        return (name, start, end, seen)

    task.__name__ = task.__qualname__ = name
    meta.assign_val(
        task,
        requires=set(spec.requires),
        provides=set(spec.provides),
        uses=set(spec.uses),
        claims=set(spec.claims),
        priority=spec.priority,
    )
    return task


@dataclasses.dataclass
class Run:
    start: int
    end: int
    pos: int  # place of its result in the result stream (= end order)
    seen: dict  # the shared dict it was handed
    shared: dict  # the shared dict it ended with (what its dependants merge)


def _observed(spec: Spec, res, pos: int) -> Run:
    """Check a result against its spec; return the observed run."""
    if spec.outcome == "ok":
        assert res.excinfo is None, f"{spec.name} failed unexpectedly: {res.excinfo!r}"
        name, start, end, seen = res.ret
    else:
        info = res.excinfo
        assert info is not None, f"{spec.name} should have failed"
        assert res.ret is None
        if spec.outcome == "raise":
            assert info.type is ValueError, info
        else:
            assert info.type is not None and issubclass(info.type, sched.TaskFailError), info
            assert (info.val.deps_ok, info.val.locks_ok) == (spec.deps_ok, spec.locks_ok)
        name, start, end, seen = info.val.args
    assert name == spec.name
    assert start <= end
    assert res.shared == {**seen, spec.name: spec.idx, COMMON_KEY: spec.name}, (
        f"{spec.name}: the shared dict it ended with is not the one it wrote"
    )
    return Run(start, end, pos, seen, res.shared)


def merged(dicts) -> dict:
    """The preset updated by each of ``dicts`` in turn."""
    out = dict(PRESET)
    for d in dicts:
        out.update(d)
    return out


def check_run(
    specs: list[Spec],
    tasks: list,
    results: list,
    messages: list[str],
    sequential: bool = False,
) -> None:
    """Check a run against the rules; ``sequential``: one task at a time.

    On a sequential run every provider that ended before a task started was
    processed before it was handed out, so its merges are known exactly.
    """
    spec_of = {id(t): s for t, s in zip(tasks, specs, strict=True)}
    providers: dict[str, list[Spec]] = {}
    for s in specs:
        for name in s.provides:
            providers.setdefault(name, []).append(s)

    ran: dict[int, Run] = {}
    for pos, res in enumerate(results):
        spec = spec_of.get(id(res.task))
        assert spec is not None, f"result for a task never added: {res.task!r}"
        assert spec.idx not in ran, f"{spec.name} ran twice"
        ran[spec.idx] = _observed(spec, res, pos)

    # --- replay in start order
    order = sorted(ran, key=lambda i: (ran[i].start, ran[i].end))
    started: list[Spec] = []
    for i in order:
        t, run = specs[i], ran[i]
        # requirements: met by a provider that ended with deps intact before
        candidates: dict[str, list[Spec]] = {}
        for req in t.requires:
            cands = [
                p
                for p in providers[req]
                if p.idx in ran and p.gives_deps and ran[p.idx].end <= run.start
            ]
            assert cands, f"{t.name} started before its requirement {req!r} was provided"
            candidates[req] = cands
        # locks: no conflicting task still running, none kept for ever
        for q in started:
            if not t.conflicts(q):
                continue
            qrun = ran[q.idx]
            assert not q.keeps_locks, (
                f"{t.name} started after {q.name} had failed holding a conflicting lock"
            )
            assert qrun.end <= run.start, (
                f"{t.name} and {q.name} hold conflicting locks and overlap in time"
            )
        # shared: the preset updated by a prefix, in result order, of the
        # providers that ended before this task's result
        before = sorted(
            {
                p.idx
                for req in t.requires
                for p in providers[req]
                if p.idx in ran and p.gives_deps and ran[p.idx].pos < run.pos
            },
            key=lambda j: ran[j].pos,
        )
        prefixes = []
        for k in range(len(before) + 1):
            prefix = before[:k]
            if prefix and ran[prefix[-1]].end > run.start:
                break  # ended after this task started: could not be merged
            if sequential and k < len(before) and ran[before[k]].end <= run.start:
                continue  # a sequential run merges every provider ended before
            covered = set().union(*(specs[j].provides for j in prefix))
            if t.requires <= covered:
                prefixes.append(prefix)
        assert prefixes, f"{t.name} started before its requirements were provided"
        expected = [merged(ran[j].shared for j in prefix) for prefix in prefixes]
        assert run.seen in expected, (
            f"{t.name} was handed {run.seen}; merging its providers "
            f"{[specs[j].name for j in before]} in the order they ended gives one of {expected}"
        )
        started.append(t)

    # --- completeness: whatever did not run could not run
    met = {name for name, ps in providers.items() if any(p.idx in ran and p.gives_deps for p in ps)}
    holders = [specs[i] for i in ran if specs[i].keeps_locks]
    skipped = 0
    for t in specs:
        if t.idx in ran:
            continue
        if t.requires - met:
            skipped += 1
            continue
        assert any(t.conflicts(q) for q in holders), (
            f"{t.name} never ran, though its requirements were met and no failed "
            f"task holds a lock it needs"
        )
    held = set()
    for q in holders:
        held |= q.claims | q.uses

    expected = []
    if skipped:
        expected.append(SKIP_MSG.format(skipped))
    if held:
        expected.append(LOCKS_MSG.format(len(held)))
    assert end_messages(messages) == sorted(expected)


def run_case(kind: str, specs: list[Spec], workers: int, spare: int) -> tuple[list, list]:
    """Run the task set; check it against the rules; return tasks and results."""
    tasks = [make_task(s) for s in specs]
    with warnings.catch_warnings():
        # provides nobody requires warn at add_tasks; not what is tested here
        warnings.simplefilter("ignore")
        s = sched.Sched(tasks)
    s.add_shared(**PRESET)
    results, messages = run_all(s, new_pool(kind, workers=workers, spare=spare))
    check_run(specs, tasks, results, messages, sequential=workers + spare == 1)
    return tasks, results


SETTINGS = dict(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["thread", "process"])
@settings(max_examples=40, **SETTINGS)
@given(specs=task_specs(), spare=st.integers(0, 2))
def test_random_task_sets(kind, specs, spare):
    run_case(kind, specs, workers=2, spare=spare)


def model_start_order(specs: list[Spec]) -> list[int]:
    """The start order of a sequential run, replayed by the rules.

    At each step the task started is the lowest ``(priority, insertion
    order)`` among those ready: every requirement provided by a task that
    ended with its deps intact, and no lock conflicting with one a failed
    task kept (such a task never gets its locks). On one worker no task ever
    waits for a lock held by a running one.
    """
    provided: set = set()
    kept_claims: set = set()
    kept_uses: set = set()
    done: set[int] = set()
    order = []
    while True:
        ready = [
            t
            for t in specs
            if t.idx not in done
            and t.requires <= provided
            and not (t.claims & (kept_claims | kept_uses) or t.uses & kept_claims)
        ]
        if not ready:
            return order
        t = min(ready, key=lambda t: (t.priority, t.idx))
        order.append(t.idx)
        done.add(t.idx)
        if t.gives_deps:
            provided |= t.provides
        if t.keeps_locks:
            kept_claims |= t.claims
            kept_uses |= t.uses


def observed_start_order(specs: list[Spec], tasks: list, results: list) -> list[int]:
    idx_of = {id(t): s.idx for t, s in zip(tasks, specs, strict=True)}
    starts = {}
    for res in results:
        args = res.ret if res.excinfo is None else res.excinfo.val.args
        starts[idx_of[id(res.task)]] = args[1]
    return sorted(starts, key=starts.__getitem__)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["thread", "process"])
@settings(max_examples=30, **SETTINGS)
@given(specs=task_specs(max_tasks=30, durations=(0.0,)))
def test_one_worker_starts_the_most_urgent_ready_task(kind, specs):
    tasks, results = run_case(kind, specs, workers=1, spare=0)
    got = observed_start_order(specs, tasks, results)
    want = model_start_order(specs)
    names = [specs[i].name for i in got]
    assert got == want, (
        f"start order {names}, the most urgent ready task each time gives "
        f"{[specs[i].name for i in want]} (priorities "
        f"{ {specs[i].name: specs[i].priority for i in want} })"
    )


# A few fixed cases of the model itself, so that a broken checker shows up
# as a failure here rather than as a pass elsewhere.


def _spec(i, **kw):
    base = dict(
        idx=i,
        name=f"t{i}",
        requires=frozenset(),
        provides=frozenset(),
        uses=frozenset(),
        claims=frozenset(),
        priority=0,
        outcome="ok",
        deps_ok=True,
        locks_ok=True,
        duration=0.0,
    )
    base.update({k: frozenset(v) if isinstance(v, set) else v for k, v in kw.items()})
    return Spec(**base)


class _Res:
    def __init__(self, task, spec, start, end, seen):
        self.task, self.ret, self.excinfo = task, (spec.name, start, end, seen), None
        self.shared = {**seen, spec.name: spec.idx, COMMON_KEY: spec.name}


def _trace(specs, times, seens=None):
    """Results of ``specs`` ending in list order, at ``times`` (start, end)."""
    tasks = [object() for _ in specs]
    results = []
    for i, (spec, (start, end)) in enumerate(zip(specs, times, strict=True)):
        seen = seens[i] if seens and seens[i] is not None else None
        if seen is None:  # what a correct scheduler hands out: every provider before
            seen = merged(
                r.shared for r, p in zip(results, specs, strict=False) if p.provides & spec.requires
            )
        results.append(_Res(tasks[i], spec, start, end, seen))
    return tasks, results


def _two_providers():
    return [
        _spec(0, provides={"x"}, claims={"r"}),
        _spec(1, provides={"x"}),
        _spec(2, requires={"x"}, claims={"r"}),
    ]


def test_checker_accepts_a_legal_trace():
    specs = _two_providers()
    tasks, results = _trace(specs, [(1, 2), (3, 4), (5, 6)])
    check_run(specs, tasks, results, [], sequential=True)
    # with workers in parallel, t1's end may be processed after t2's hand-out
    s0 = {**PRESET, "t0": 0, COMMON_KEY: "t0"}
    tasks, results = _trace(specs, [(1, 2), (3, 6), (5, 7)], [None, None, merged([s0])])
    check_run(specs, tasks, results, [])


@pytest.mark.parametrize(
    "bad",
    [
        "early_start",
        "overlap",
        "missing_merge",
        "extra_key",
        "wrong_order",
        "second_not_merged",
        "warning",
        "incomplete",
    ],
)
def test_checker_rejects_illegal_traces(bad):
    specs = _two_providers()
    times = [(10, 20), (21, 25), (30, 40)]
    msgs = []
    sequential = False
    seen2 = None
    if bad == "early_start":
        times[2] = (15, 40)
    elif bad == "overlap":
        specs[2] = _spec(2, claims={"r"})
        times[2] = (15, 40)
        seen2 = merged([])
    elif bad == "missing_merge":
        seen2 = merged([])
    elif bad == "second_not_merged":
        sequential = True
    elif bad == "warning":
        msgs = [SKIP_MSG.format(1)]
    tasks, results = _trace(specs, times)
    s0, s1 = results[0].shared, results[1].shared
    if bad == "extra_key":
        seen2 = {**merged([s0, s1]), "t9": True}
    elif bad == "wrong_order":
        seen2 = merged([s1, s0])
    elif bad == "second_not_merged":
        seen2 = merged([s0])
    if seen2 is not None:
        tasks, results = _trace(specs, times, [None, None, seen2])
    if bad == "incomplete":
        results = results[:2]
    with pytest.raises(AssertionError):
        check_run(specs, tasks, results, msgs, sequential=sequential)


def test_model_start_order():
    specs = [
        _spec(0, priority=1, provides={"x"}),
        _spec(1, priority=0, claims={"r"}, outcome="raise"),
        _spec(2, priority=-1, requires={"x"}),
        _spec(3, priority=0, uses={"r"}),  # its lock was kept by t1
        _spec(4, priority=0),
        _spec(5, priority=1, requires={"x"}),
    ]
    # t1 and t4 tie at 0: insertion order; t2 only once t0 has ended
    assert model_start_order(specs) == [1, 4, 0, 2, 5]
