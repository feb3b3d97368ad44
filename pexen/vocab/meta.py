"""Task metadata: what a task requires, provides, locks, and how it is run.

Metadata is a :class:`SchedMeta` stored as an attribute on the callable, so a
task must accept attributes (functions, lambdas, ``functools.partial``,
instances of classes with ``__call__``). A task without metadata behaves as one
with every field at its default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

__all__ = [
    "CHECKS",
    "FIELDS",
    "FieldProblem",
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


#: What a :class:`FieldProblem` says is wrong.
Problem = Literal["type", "unhashable", "range", "keys"]


class FieldProblem(Exception):
    """What is wrong with a value for a metadata field, said for no caller.

    Raised by the field checks of :data:`CHECKS`; each caller turns it into
    its own error: :class:`SchedMeta`'s setter into ``AttributeError`` or
    ``TypeError``, the scheduler into a ``TypeError`` or ``SchedulerError``
    naming the task. ``problem`` is one of:

    - ``"type"``: the field does not take values of this type;
    - ``"unhashable"``: a name of a name field cannot be hashed (``detail``
      is Python's message, e.g. ``unhashable type: 'list'``);
    - ``"range"``: a number out of the field's range (a timeout not > 0);
    - ``"keys"``: a ``kwargs`` key that is not a string.
    """

    def __init__(self, field: str, value: Any, problem: Problem, detail: str = "") -> None:
        super().__init__(field, problem, detail)
        self.field = field
        self.value = value
        self.problem = problem
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.problem} ({self.value!r})"


def _check_names(field: str, value: Any) -> set[Any]:
    """A set of names: a set is kept as it is, a list converted."""
    if isinstance(value, set):
        return value
    if isinstance(value, list):
        try:
            return set(value)
        except TypeError as exc:
            raise FieldProblem(field, value, "unhashable", str(exc)) from None
    raise FieldProblem(field, value, "type")


def _check_kwargs(field: str, value: Any) -> Mapping[str, Any]:
    """A mapping whose keys are strings (they become keyword arguments)."""
    if not isinstance(value, Mapping):
        raise FieldProblem(field, value, "type")
    if value and not all(isinstance(key, str) for key in value):
        raise FieldProblem(field, value, "keys")
    return value


def _check_timeout(field: str, value: Any) -> float | None:
    """``None`` (no limit) or a positive number of seconds (not a bool)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldProblem(field, value, "type")
    if not value > 0:  # also refuses NaN
        raise FieldProblem(field, value, "range")
    return value


def _check_priority(field: str, value: Any) -> Any:
    """Any value: whether it compares with the other tasks' priorities is
    a property of the task set, checked when tasks are added."""
    return value


#: The one check of each field: ``check(field, value)`` returns the value to
#: store (a list given for a name field becomes a set) or raises
#: :class:`FieldProblem`. Used by :class:`SchedMeta` on assignment and by the
#: scheduler when a task is added (metadata can change behind the setter's
#: back: a mutated ``kwargs``, ``object.__setattr__``).
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "requires": _check_names,
    "provides": _check_names,
    "uses": _check_names,
    "claims": _check_names,
    "priority": _check_priority,
    "kwargs": _check_kwargs,
    "timeout": _check_timeout,
}


def _setter_error(p: FieldProblem) -> Exception:
    """The error :class:`SchedMeta`'s setter raises for a field's problem."""
    if p.problem == "unhashable":
        return TypeError(f"unhashable name in {p.field}: {p.detail}")
    if p.problem == "keys":
        return TypeError(f"{p.field} keys must be strings")
    if p.problem == "range":
        return AttributeError(f"{p.field} must be a positive number of seconds, not {p.value!r}")
    return AttributeError(f"{type(p.value)} cannot be used for {p.field}")


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
    ``AttributeError``; ``kwargs`` is a mapping with string keys. An unknown
    field is refused with ``AttributeError``. Each field's rule is its entry
    of :data:`CHECKS`.
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
        check = CHECKS.get(name)
        if check is None:
            raise AttributeError(f"{name} is not a valid metadata field")
        try:
            value = check(name, value)
        except FieldProblem as p:
            raise _setter_error(p) from None
        object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # the fields as they are (each was checked when set): unpickling a
        # table of tagged tasks then sets no field through the checks again
        return (_rebuild_meta, tuple(getattr(self, f) for f in FIELDS))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SchedMeta):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in FIELDS)
        return f"SchedMeta({fields})"


def _rebuild_meta(*values: Any) -> SchedMeta:
    """A :class:`SchedMeta` from its fields' values, in :data:`FIELDS` order (unpickling)."""
    meta = object.__new__(SchedMeta)
    for name, value in zip(FIELDS, values, strict=True):
        object.__setattr__(meta, name, value)
    return meta


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
