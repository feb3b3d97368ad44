"""Task metadata: what a task requires, provides, locks, and how it is run.

Metadata is a :class:`SchedMeta` stored as an attribute on the callable, so a
task must accept attributes (functions, lambdas, ``functools.partial``,
instances of classes with ``__call__``). A task without metadata behaves as one
with every field at its default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "FIELDS",
    "SchedMeta",
    "assign_meta",
    "assign_val",
    "func_meta",
    "get_claims",
    "get_kwargs",
    "get_priority",
    "get_provides",
    "get_requires",
    "get_timeout",
    "get_uses",
    "has_meta",
    "retrieve_meta",
]

#: The attribute of a task that holds its :class:`SchedMeta`.
META_ATTR = "_pexen_meta"

_SET_FIELDS = ("requires", "provides", "uses", "claims")

#: Every metadata field and a factory of its default value.
FIELDS: dict[str, Callable[[], Any]] = {
    "requires": set,
    "provides": set,
    "uses": set,
    "claims": set,
    "priority": lambda: 0,
    "kwargs": dict,
    "timeout": lambda: None,
}


def _convert(field: str, value: Any) -> Any:
    """Check and convert a value for a field, as the field's type asks."""
    if field in _SET_FIELDS:
        if isinstance(value, set):
            return value
        if isinstance(value, list):
            try:
                return set(value)
            except TypeError as exc:
                raise TypeError(f"unhashable name in {field}: {exc}") from None
        raise AttributeError(f"{type(value)} cannot be used for {field}")
    if field == "kwargs":
        if isinstance(value, Mapping):
            return value
        raise AttributeError(f"{type(value)} cannot be used for {field}")
    if field == "timeout":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AttributeError(f"{type(value)} cannot be used for {field}")
        if not value > 0:
            raise AttributeError(f"timeout must be a positive number of seconds, not {value!r}")
        return value
    return value  # priority: any value comparable with the other tasks' priorities


class SchedMeta:
    """The scheduling metadata of one task.

    Fields (all optional, given as keyword arguments or set as attributes):

    - ``requires``: names this task needs provided before it may start;
    - ``provides``: names this task provides when it ends well;
    - ``claims``: resources locked exclusively (read-write) while it runs;
    - ``uses``: resources locked shared (read-only) while it runs;
    - ``priority``: among ready tasks, lower runs first (default ``0``);
    - ``kwargs``: keyword arguments passed to the task;
    - ``timeout``: seconds the task may run before it is stopped and
      reported with :class:`~pexen.sched.TaskTimeoutError` (default ``None``:
      no limit).

    The name fields are sets; a list is converted, any other type refused with
    ``AttributeError``. An unknown field is refused with ``AttributeError``.
    """

    __slots__ = tuple(FIELDS)

    requires: set[Any]
    provides: set[Any]
    uses: set[Any]
    claims: set[Any]
    priority: Any
    kwargs: Mapping[str, Any]
    timeout: float | None

    def __init__(self, **fields: Any) -> None:
        for name, default in FIELDS.items():
            object.__setattr__(self, name, default())
        self.update(fields)

    def update(self, fields: Mapping[str, Any]) -> None:
        """Set several fields at once from a mapping."""
        for name, value in fields.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FIELDS:
            raise AttributeError(f"{name} is not a valid metadata field")
        object.__setattr__(self, name, _convert(name, value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SchedMeta):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in FIELDS)
        return f"SchedMeta({fields})"


def has_meta(task: object) -> bool:
    """Whether the task has metadata attached."""
    return isinstance(getattr(task, META_ATTR, None), SchedMeta)


def retrieve_meta(task: object) -> SchedMeta:
    """The task's metadata; ``AttributeError`` when it has none."""
    meta = getattr(task, META_ATTR)
    if not isinstance(meta, SchedMeta):
        raise AttributeError(f"{task!r} has no valid pexen metadata")
    return meta


def assign_meta(task: object, meta: SchedMeta | None = None) -> SchedMeta:
    """Attach ``meta`` to the task and return it.

    Without ``meta``, return the task's metadata, attaching a fresh empty one
    first if it had none.
    """
    if meta is None:
        if has_meta(task):
            return retrieve_meta(task)
        meta = SchedMeta()
    elif not isinstance(meta, SchedMeta):
        raise TypeError(f"meta must be a SchedMeta, not {type(meta)}")
    setattr(task, META_ATTR, meta)
    return meta


def assign_val(task: object, **fields: Any) -> SchedMeta:
    """Set metadata fields on the task, creating its metadata if needed."""
    meta = assign_meta(task)
    meta.update(fields)
    return meta


F = TypeVar("F", bound=Callable[..., Any])


def func_meta(func: F | None = None, /, **fields: Any) -> Any:
    """Decorator attaching metadata: ``@func_meta`` or ``@func_meta(priority=10)``.

    Returns the decorated callable itself.
    """
    if func is not None:
        assign_val(func, **fields)
        return func

    def decorate(inner: F) -> F:
        assign_val(inner, **fields)
        return inner

    return decorate


def _field(task: object, name: str) -> Any:
    if has_meta(task):
        return getattr(retrieve_meta(task), name)
    return FIELDS[name]()


def get_requires(task: object) -> set[Any]:
    """The task's ``requires`` (empty when it has no metadata)."""
    return _field(task, "requires")  # type: ignore[no-any-return]


def get_provides(task: object) -> set[Any]:
    """The task's ``provides`` (empty when it has no metadata)."""
    return _field(task, "provides")  # type: ignore[no-any-return]


def get_uses(task: object) -> set[Any]:
    """The task's ``uses`` (empty when it has no metadata)."""
    return _field(task, "uses")  # type: ignore[no-any-return]


def get_claims(task: object) -> set[Any]:
    """The task's ``claims`` (empty when it has no metadata)."""
    return _field(task, "claims")  # type: ignore[no-any-return]


def get_priority(task: object) -> Any:
    """The task's ``priority`` (``0`` when it has no metadata)."""
    return _field(task, "priority")


def get_kwargs(task: object) -> Mapping[str, Any]:
    """The task's ``kwargs`` (empty when it has no metadata)."""
    return _field(task, "kwargs")  # type: ignore[no-any-return]


def get_timeout(task: object) -> float | None:
    """The task's ``timeout`` in seconds (``None`` when it has no metadata)."""
    return _field(task, "timeout")  # type: ignore[no-any-return]
