"""A task compiled for running, and the validation of its metadata."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, NamedTuple, Self

from pexen.vocab import meta as _meta
from pexen.vocab.errors import MutexError, SchedulerError

__all__ = ["TaskSpec", "check_priorities", "compile_task", "takes_shared"]

_NO_KWARGS: Mapping[str, Any] = {}  # shared by every task without kwargs; never mutated


class _TaskFields(NamedTuple):
    """:class:`TaskSpec`'s fields, in order, typed (the tuple it is)."""

    tid: int
    func: Callable[..., Any]
    requires: frozenset[Hashable]
    provides: frozenset[Hashable]
    uses: frozenset[Hashable]
    claims: frozenset[Hashable]
    priority: Any
    kwargs: Mapping[str, Any]
    pass_shared: bool
    timeout: float | None = None
    origin: int | None = None
    #: whether the task needs any lock (derived; kept for the hot path)
    locks: bool = False


class TaskSpec(_TaskFields):
    """Everything the engine needs to schedule and call one task.

    ``tid`` is the task's index in its run's task table, which is also its
    insertion order (the tie-breaker between equal priorities). ``origin``,
    when set, is the tid of the table entry whose code this task runs (the
    same task submitted again under a new tid): a worker process that has
    that entry from its fork runs it from there, so nothing is pickled.
    ``locks`` is derived, ``bool(uses or claims)``, whatever is passed.

    Immutable, and equal only to itself (hashed by identity): two tasks with
    the same fields are still two tasks. :meth:`_replace` gives a copy with
    some fields changed (``locks`` derived again); it pickles with every field.
    """

    # A tuple, so that building one is a single C call (``_new(TaskSpec,
    # fields)`` on the hot paths, which derive ``locks`` themselves): one is
    # built for every task added, and a dataclass's slots took one call each.
    __slots__ = ()

    def __new__(
        cls,
        tid: int,
        func: Callable[..., Any],
        requires: frozenset[Hashable],
        provides: frozenset[Hashable],
        uses: frozenset[Hashable],
        claims: frozenset[Hashable],
        priority: Any,
        kwargs: Mapping[str, Any],
        pass_shared: bool,
        timeout: float | None = None,
        origin: int | None = None,
        locks: bool = False,
    ) -> Self:
        return _new(cls, (
            tid, func, requires, provides, uses, claims, priority, kwargs, pass_shared, timeout,
            origin, bool(uses or claims),
        ))  # fmt: skip

    # what namedtuple's _replace builds its copy with, so that it derives
    # ``locks`` too (mypy rejects any classmethod override of a NamedTuple's
    # _make, even one of the same signature)
    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]
        """A spec of the fields in ``iterable``, in order (``locks`` derived)."""
        return cls(*iterable)

    # A task is itself, not the tuple of its fields: identity, as object has
    # it. Not object's __eq__, which leaves a plain tuple of the same fields
    # to compare them (and be equal).
    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__

    # nor ordered as its fields are (tasks order by priority, then tid)
    def __lt__(self, other: object) -> bool:
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__


_new = tuple.__new__


def takes_shared(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> bool:
    """Whether ``func`` takes a positional parameter for the shared dict.

    It does when it has a positional parameter that ``kwargs`` does not fill,
    with or without a default: ``def t(shared)``, ``def t(shared=None)``,
    ``def t(shared, wtype, build=123)``; note ``lambda i=i: i`` too. It does
    not for ``def t()``, ``def t(**kwargs)``, ``def t(*, wtype)`` or
    ``def t(*args)``. A callable whose signature cannot be read (some
    builtins) is called without it.
    """
    if type(func) is types.FunctionType and not (
        hasattr(func, "__wrapped__") or hasattr(func, "__signature__")
    ):
        # the common case, read straight from the code object (fast)
        code = func.__code__
        if code.co_argcount == 0:
            return False
        return code.co_posonlyargcount > 0 or code.co_varnames[0] not in kwargs
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    for param in sig.parameters.values():
        if param.kind is param.POSITIONAL_ONLY:
            return True
        if param.kind is param.POSITIONAL_OR_KEYWORD:
            return param.name not in kwargs
        return False
    return False


_NO_NAMES: frozenset[Hashable] = frozenset()  # shared by every task without names

# each field's own check and the names compile_task reads, looked up once:
# it runs for every task
_check_requires = _meta.CHECKS["requires"]
_check_provides = _meta.CHECKS["provides"]
_check_uses = _meta.CHECKS["uses"]
_check_claims = _meta.CHECKS["claims"]
_check_kwargs = _meta.CHECKS["kwargs"]
_check_priority = _meta.CHECKS["priority"]
_check_timeout = _meta.CHECKS["timeout"]
_META_ATTR = _meta.META_ATTR
_SchedMeta = _meta.SchedMeta
_FunctionType = types.FunctionType


#: lock names as frozensets, one object per distinct set (see _shared_names)
_LOCK_NAMES: dict[frozenset[Hashable], frozenset[Hashable]] = {}
_LOCK_NAMES_MAX = 1024


def _shared_names(names: Any) -> frozenset[Hashable]:
    """``frozenset(names)``, the same object for every task naming the same locks.

    Lock names are shared between tasks by nature (a lock matters only when
    several tasks name it): one frozenset per distinct set instead of two per
    task keeps objects out of the heap that each full collection of the
    cyclic GC walks (a lock-heavy run of 100k tasks paid a third of a
    second for them). Only sets of strings are shared, so that a name is
    reported exactly as the task gave it (``1`` and ``1.0`` are equal). The
    table is bounded (cleared when full): sharing is only an economy.
    """
    fs = frozenset(names)
    if not all(type(name) is str for name in fs):
        return fs
    got = _LOCK_NAMES.get(fs)
    if got is None:
        if len(_LOCK_NAMES) >= _LOCK_NAMES_MAX:
            _LOCK_NAMES.clear()
        got = _LOCK_NAMES[fs] = fs
    return got


def _compile_error(task: object, p: _meta.FieldProblem) -> Exception:
    """The error the scheduler raises for a field's problem, naming the task."""
    field, value = p.field, p.value
    if field == "kwargs":
        if p.problem == "keys":
            return TypeError(f"Task {task!r}: kwargs keys must be strings")
        return TypeError(f"Task {task!r}: kwargs must be a mapping, not {type(value).__name__}")
    if field == "timeout":
        return TypeError(f"Task {task!r}: timeout must be a positive number, not {value!r}")
    if p.problem == "unhashable":
        return TypeError(f"Task {task!r}: unhashable name in {field}: {p.detail}")
    return SchedulerError(
        f"Task {task!r}: {field} must be a set or list, not {type(value).__name__}"
    )


def compile_task(task: object, tid: int) -> TaskSpec:
    """Validate a task's metadata and compile it into a :class:`TaskSpec`.

    Each field is checked again by its own check (``pexen.vocab.meta.CHECKS``,
    the one :class:`~pexen.sched.meta.SchedMeta` applies on assignment), since
    metadata can change behind the setter's back. Raises ``TypeError`` for a
    task that is not callable or not hashable, an unhashable name, a
    ``kwargs`` that is not a mapping of strings or a bad ``timeout``,
    :class:`SchedulerError` for a name field that is not a set or list or for
    metadata that is not a ``SchedMeta``, :class:`MutexError` for a resource in
    both ``claims`` and ``uses``.
    """
    # a plain function is callable and hashed by identity (its type cannot
    # change that): only other callables can fail these two checks
    if type(task) is not _FunctionType:
        if not callable(task):
            raise TypeError(f"Task {task!r} is not callable")
        try:
            hash(task)
        except TypeError:
            raise TypeError(f"Task {task!r} is not hashable") from None
    m = getattr(task, _META_ATTR, None)
    if m is None:
        # no metadata (the common case, looked at first): the defaults, with
        # nothing to check or copy; a plain function's positional parameters
        # read here (takes_shared's fast case)
        if type(task) is _FunctionType and not (
            hasattr(task, "__wrapped__") or hasattr(task, "__signature__")
        ):
            pass_shared = task.__code__.co_argcount > 0
        else:
            pass_shared = takes_shared(task, _NO_KWARGS)  # type: ignore[arg-type]
        return _new(TaskSpec, (
            tid, task, _NO_NAMES, _NO_NAMES, _NO_NAMES, _NO_NAMES, 0, _NO_KWARGS, pass_shared,
            None, None, False,
        ))  # fmt: skip
    if not isinstance(m, _SchedMeta):  # has_meta() and retrieve_meta() in one look-up
        raise SchedulerError(
            f"Task {task!r}: metadata attribute is not a SchedMeta but {type(m).__name__}"
        )
    try:
        # in this order, so that a task with several problems gets the same error
        requires = _check_requires("requires", m.requires)
        provides = _check_provides("provides", m.provides)
        uses = _check_uses("uses", m.uses)
        claims = _check_claims("claims", m.claims)
        priority = _check_priority("priority", m.priority)
        kwargs = _check_kwargs("kwargs", m.kwargs)
        both = uses & claims
        if both:
            raise MutexError(f"Task {task} has {set(both)} in both claims and uses.", task)
        timeout = _check_timeout("timeout", m.timeout)
    except _meta.FieldProblem as p:
        raise _compile_error(task, p) from None
    requires = frozenset(requires) if requires else _NO_NAMES
    provides = frozenset(provides) if provides else _NO_NAMES
    uses = _shared_names(uses) if uses else _NO_NAMES
    claims = _shared_names(claims) if claims else _NO_NAMES
    kwargs = dict(kwargs) if kwargs else _NO_KWARGS
    shared = takes_shared(task, kwargs)  # type: ignore[arg-type]
    locks = bool(uses or claims)
    return _new(TaskSpec, (
        tid, task, requires, provides, uses, claims, priority, kwargs, shared, timeout, None, locks,
    ))  # fmt: skip


def check_priorities(specs: list[TaskSpec], reference: TaskSpec | None = None) -> None:
    """Raise ``TypeError`` naming a task whose priority cannot be compared.

    Every priority is compared both ways with one reference priority (the
    first task's), which catches mixed types such as ``int`` and ``str``. A
    priority equal to the reference's needs no order: the ready queue breaks
    ties by insertion (so every task may have ``priority=None``).
    """
    if not specs:
        return
    ref = reference if reference is not None else specs[0]
    for spec in specs:
        if spec.priority is ref.priority:
            continue
        try:
            if spec.priority == ref.priority:
                continue
            spec.priority < ref.priority  # noqa: B015
            ref.priority < spec.priority  # noqa: B015
        except TypeError:
            raise TypeError(
                f"Task {spec.func!r}: priority {spec.priority!r} cannot be compared "
                f"with priority {ref.priority!r} of {ref.func!r}"
            ) from None
