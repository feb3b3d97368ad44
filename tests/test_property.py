"""Property test: random task sets against a sequential reference model.

Hypothesis draws a random DAG of tasks (requires only on names that earlier
tasks provide, so there is no cycle; some names have two providers), random
priorities, read/write locks over a few resources, and some failing tasks
(uncontrolled, or TaskFailError with random deps_ok/locks_ok). Each task
records when it started and ended (``time.monotonic_ns()``, system-wide, so
comparable across processes) and writes ``shared[its_name] = True``.

The checker replays the observed start order through a simple model of the
rules (SPEC 3, 5, 6). It only uses facts a correct scheduler cannot avoid:

* a task is started (handed to a worker) after the providers it waited for
  have *ended*, and a task's recorded start comes after it was handed out, so
  ``provider.end <= dependant.start``;
* a lock is held from hand-out (before the recorded start) to release (after
  the recorded end), so the recorded intervals of two tasks with conflicting
  locks cannot overlap, and a task cannot start after a failed task that
  kept a conflicting lock has started;
* which providers' dicts were merged into a task is only known up to timing
  (a provider that ended just before the task started may have been processed
  after the task was handed out), so the checker accepts any set of merges
  the timing allows, and demands at least one per requirement.
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
def task_specs(draw, max_tasks=60):
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
                duration=draw(st.sampled_from([0.0, 0.0, 0.0, 0.0005, 0.002])),
            )
        )
        for name in provides:
            if name not in nproviders:
                provided.append(name)
            nproviders[name] = nproviders.get(name, 0) + 1
    return specs


def make_task(spec: Spec):
    """A task recording its start and end; fails as its spec says."""
    name, outcome = spec.name, spec.outcome
    deps_ok, locks_ok, duration = spec.deps_ok, spec.locks_ok, spec.duration

    def task(shared):
        start = time.monotonic_ns()
        shared[name] = True
        if duration:
            time.sleep(duration)  # some work, so that tasks overlap
        end = time.monotonic_ns()
        if outcome == "raise":
            raise ValueError(name, start, end)
        if outcome == "fail":
            raise sched.TaskFailError(name, start, end, deps_ok=deps_ok, locks_ok=locks_ok)
        return (name, start, end)

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
    keys: frozenset


def _observed(spec: Spec, res) -> Run:
    """Check a result against its spec; return the observed run."""
    if spec.outcome == "ok":
        assert res.excinfo is None, f"{spec.name} failed unexpectedly: {res.excinfo!r}"
        name, start, end = res.ret
    else:
        info = res.excinfo
        assert info is not None, f"{spec.name} should have failed"
        assert res.ret is None
        if spec.outcome == "raise":
            assert info.type is ValueError, info
        else:
            assert info.type is not None and issubclass(info.type, sched.TaskFailError), info
            assert (info.val.deps_ok, info.val.locks_ok) == (spec.deps_ok, spec.locks_ok)
        name, start, end = info.val.args
    assert name == spec.name
    assert start <= end
    assert isinstance(res.shared, dict)
    return Run(start, end, frozenset(res.shared))


def check_run(specs: list[Spec], tasks: list, results: list, messages: list[str]) -> None:
    spec_of = {id(t): s for t, s in zip(tasks, specs, strict=True)}
    providers: dict[str, list[Spec]] = {}
    for s in specs:
        for name in s.provides:
            providers.setdefault(name, []).append(s)

    ran: dict[int, Run] = {}
    for res in results:
        spec = spec_of.get(id(res.task))
        assert spec is not None, f"result for a task never added: {res.task!r}"
        assert spec.idx not in ran, f"{spec.name} ran twice"
        ran[spec.idx] = _observed(spec, res)

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
        # shared: own key, preset, and the dicts of some of the candidate
        # providers (at least one per requirement), nothing else
        base = {PRESET_KEY, t.name}
        assert base <= run.keys, f"{t.name}: shared lacks {base - run.keys}"
        all_cands = {p.idx: p for cs in candidates.values() for p in cs}
        merged = {j for j in all_cands if ran[j].keys <= run.keys}
        union = set(base)
        for j in merged:
            union |= ran[j].keys
        assert union == run.keys, (
            f"{t.name}: shared has keys {sorted(run.keys - union)} "
            f"from no provider it could have merged"
        )
        for req, cs in candidates.items():
            assert any(p.idx in merged for p in cs), (
                f"{t.name}: shared misses the dict of every provider of {req!r}"
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


def run_case(kind: str, specs: list[Spec], spare: int) -> None:
    tasks = [make_task(s) for s in specs]
    with warnings.catch_warnings():
        # provides nobody requires warn at add_tasks; not what is tested here
        warnings.simplefilter("ignore")
        s = sched.Sched(tasks)
    s.add_shared(**{PRESET_KEY: 0})
    results, messages = run_all(s, new_pool(kind, workers=2, spare=spare))
    check_run(specs, tasks, results, messages)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["thread", "process"])
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(specs=task_specs(), spare=st.integers(0, 2))
def test_random_task_sets(kind, specs, spare):
    run_case(kind, specs, spare)


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
    def __init__(self, task, shared, ret=None, excinfo=None):
        self.task, self.shared, self.ret, self.excinfo = task, shared, ret, excinfo


def test_checker_accepts_a_legal_trace():
    specs = [_spec(0, provides={"x"}, claims={"r"}), _spec(1, requires={"x"}, claims={"r"})]
    tasks = [object(), object()]
    results = [
        _Res(tasks[0], {"preset": 0, "t0": True}, ("t0", 1, 2)),
        _Res(tasks[1], {"preset": 0, "t0": True, "t1": True}, ("t1", 3, 4)),
    ]
    check_run(specs, tasks, results, [])


@pytest.mark.parametrize(
    "bad",
    ["early_start", "overlap", "missing_merge", "extra_key", "warning", "incomplete"],
)
def test_checker_rejects_illegal_traces(bad):
    specs = [_spec(0, provides={"x"}, claims={"r"}), _spec(1, requires={"x"}, claims={"r"})]
    tasks = [object(), object()]
    r0 = ("t0", 10, 20)
    r1 = ("t1", 30, 40)
    s0 = {"preset": 0, "t0": True}
    s1 = {"preset": 0, "t0": True, "t1": True}
    msgs = []
    if bad == "early_start":
        r1 = ("t1", 15, 40)
    elif bad == "overlap":
        specs[1] = _spec(1, claims={"r"})
        r1 = ("t1", 15, 40)
        s1 = {"preset": 0, "t1": True}
    elif bad == "missing_merge":
        s1 = {"preset": 0, "t1": True}
    elif bad == "extra_key":
        s1 = {**s1, "t9": True}
    elif bad == "warning":
        msgs = [SKIP_MSG.format(1)]
    results = [_Res(tasks[0], s0, r0), _Res(tasks[1], s1, r1)]
    if bad == "incomplete":
        results = results[:1]
    with pytest.raises(AssertionError):
        check_run(specs, tasks, results, msgs)
