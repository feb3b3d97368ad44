"""Task specs for the unit tests of the engine and its plain state."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from pexen.state.taskspec import TaskSpec


def spec(
    tid: int,
    func: Callable[..., Any] | None = None,
    requires: Iterable[Hashable] = (),
    provides: Iterable[Hashable] = (),
    uses: Iterable[Hashable] = (),
    claims: Iterable[Hashable] = (),
    priority: Any = 0,
    shared: bool = False,
) -> TaskSpec:
    """A compiled task ``tid`` (by default a no-op returning ``tid``)."""
    return TaskSpec(
        tid, func or (lambda: tid), frozenset(requires), frozenset(provides), frozenset(uses),
        frozenset(claims), priority, {}, shared,
    )  # fmt: skip
