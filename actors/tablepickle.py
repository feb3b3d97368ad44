"""Pickling a run's task table for an exec'd zygote: many closures of one code.

A task table is often made by a loop (``[make_task(i) for i in ...]``): ten
thousand closures of one function, differing only in their cells and
defaults. cloudpickle pickles each of them whole (its globals, names, module,
submodules, each looked up and written again), about 12 us a closure here,
and as long again to load. :func:`dumps` pickles the first closure of each
code object by cloudpickle and every later one as a clone of it: the first
one (a memo reference), its defaults, its cells' contents and its
``__dict__``. A function that differs from the first one in anything else
(its globals, names, module, docstring, annotations) is pickled by
cloudpickle, as is everything that is not a function. A clone whose
defaults and cells hold only plain values (numbers, strings, bytes, None)
is rebuilt in one call; any other is made first and filled in once
memoized, so that a closure that refers to itself comes back whole.

What the clone loses is what cloudpickle loses too: cells are rebuilt with
their contents (two closures sharing one cell get a cell each).

A whole task table goes further (:func:`dumps_table`, :class:`Table`): a
closure that would be rebuilt in one call crosses as a plain row (the index
of its first, its defaults, its cells' contents), which the standard
unpickler loads without calling anything, and the function is made only when
the row is looked up (:meth:`Table.__getitem__`, in the worker process that
runs it). The process that loads the table, the zygote, which forks the
workers only once it has it, loads ten thousand such rows in a few
milliseconds, where making the functions took tens.
"""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import cloudpickle

__all__ = ["Table", "dumps", "dumps_table"]

#: What a task table holds for each task: tid, callable, kwargs, pass_shared
#: (the fields of :class:`actors.taskrun.Call`).
Row = tuple[int, Callable[..., Any], Mapping[str, Any], bool]


class _EmptyCell:
    """Stands for an empty cell among a clone's cell contents (a class: it
    pickles by name, so it is itself again once loaded)."""


def dumps(obj: Any) -> bytes:
    """``obj`` pickled with cloudpickle, closures of one code object as clones."""
    out = io.BytesIO()
    _TablePickler(out, pickle.HIGHEST_PROTOCOL).dump(obj)
    return out.getvalue()


def dumps_table(rows: Sequence[Row]) -> bytes:
    """A task table pickled for :class:`Table`: closures of one code as rows.

    A function that :func:`dumps` would rebuild in one call (the same code,
    globals and names as the first of its code, no ``__kwdefaults__`` or
    ``__dict__``, and defaults and cells of plain values only) crosses as
    ``(tid, index of its first, kwargs, pass_shared, defaults, cells)``;
    any other row is pickled as it is, by the pickler of :func:`dumps`.
    """
    firsts: list[types.FunctionType] = []
    where: dict[int, int] = {}  # id(code) -> index of its first in firsts
    out: list[tuple[Any, ...]] = []
    for row in rows:
        func = row[1]
        if type(func) is types.FunctionType:
            k = where.get(id(func.__code__))
            if k is None:
                where[id(func.__code__)] = len(firsts)
                firsts.append(func)
            elif (
                func.__kwdefaults__ is None
                and not func.__dict__
                and _same_but_cells(func, firsts[k])
            ):
                defaults = func.__defaults__
                closure = func.__closure__
                cells = None if closure is None else tuple(_contents(cell) for cell in closure)
                if (cells is None or _atomic(cells)) and (defaults is None or _atomic(defaults)):
                    out.append((row[0], k, row[2], row[3], defaults, cells))
                    continue
        out.append(tuple(row))
    return dumps((firsts, out))


class Table(Sequence[Row]):
    """A task table :func:`dumps_table` pickled, once loaded: each row is
    looked up as ``(tid, func, kwargs, pass_shared)``, its function made then."""

    def __init__(self, loaded: tuple[list[types.FunctionType], list[tuple[Any, ...]]]) -> None:
        self._firsts, self._rows = loaded

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self._rows[index]
        if len(row) == 4:
            return row  # type: ignore[return-value]
        tid, k, kwargs, pass_shared, defaults, cells = row
        return tid, _clone_with(self._firsts[k], defaults, cells), kwargs, pass_shared


class _TablePickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, protocol: int) -> None:
        super().__init__(file, protocol)
        #: id(code) -> the first function of that code pickled by value
        self._firsts: dict[int, types.FunctionType] = {}

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is not types.FunctionType:
            return super().reducer_override(obj)
        first = self._firsts.get(id(obj.__code__))
        if first is None:
            reduced = super().reducer_override(obj)
            if reduced is not NotImplemented:  # by value (not found by name)
                self._firsts[id(obj.__code__)] = obj
            return reduced
        if not _same_but_cells(obj, first):
            return super().reducer_override(obj)
        cells = None
        if obj.__closure__ is not None:
            cells = tuple(_contents(cell) for cell in obj.__closure__)
        defaults = obj.__defaults__
        if (
            obj.__kwdefaults__ is None
            and not obj.__dict__
            and (cells is None or _atomic(cells))
            and (defaults is None or _atomic(defaults))
        ):
            # nothing in it can refer back to the clone: made in one call
            return (_clone_with, (first, defaults, cells))
        state = (defaults, obj.__kwdefaults__, cells, obj.__dict__ or None)
        # the state is set once the clone is memoized: a closure over itself works
        return (_clone, (first,), state, None, None, _fill)


def _same_but_cells(func: types.FunctionType, first: types.FunctionType) -> bool:
    return (
        func.__globals__ is first.__globals__
        and func.__name__ == first.__name__
        and func.__qualname__ == first.__qualname__
        and func.__module__ == first.__module__
        and func.__doc__ == first.__doc__
        and func.__annotations__ == first.__annotations__
    )


_ATOMS = frozenset((int, str, float, bool, bytes, type(None)))


def _atomic(values: tuple[Any, ...]) -> bool:
    """Whether none of ``values`` can hold a reference (to the clone, say)."""
    return all(type(v) in _ATOMS for v in values)


def _clone_with(
    first: types.FunctionType, defaults: tuple[Any, ...] | None, cells: tuple[Any, ...] | None
) -> types.FunctionType:
    """A clone of ``first`` with these defaults and cell contents, at once
    (the common case, half the load time of :func:`_clone` and :func:`_fill`)."""
    closure = None if cells is None else tuple(_cell(value) for value in cells)
    func = types.FunctionType(first.__code__, first.__globals__, first.__name__, defaults, closure)
    func.__qualname__ = first.__qualname__
    func.__module__ = first.__module__
    func.__doc__ = first.__doc__
    if first.__annotations__:
        func.__annotations__ = dict(first.__annotations__)
    return func


def _cell(value: Any) -> types.CellType:
    return types.CellType() if value is _EmptyCell else types.CellType(value)


def _contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EmptyCell


def _clone(first: types.FunctionType) -> types.FunctionType:
    """A function of ``first``'s code, globals and names, with empty cells."""
    cells = None if first.__closure__ is None else (_EmptyCell,) * len(first.__closure__)
    return _clone_with(first, None, cells)


def _fill(func: types.FunctionType, state: tuple[Any, ...]) -> None:
    defaults, kwdefaults, cells, attrs = state
    func.__defaults__ = defaults
    func.__kwdefaults__ = kwdefaults
    if cells is not None:
        for cell, value in zip(func.__closure__ or (), cells, strict=True):
            if value is not _EmptyCell:
                cell.cell_contents = value
    if attrs:
        func.__dict__.update(attrs)
