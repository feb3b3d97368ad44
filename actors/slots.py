"""What each worker runs at this moment: written by workers, read by watchers.

In the engine "slots" mean only this. How many tasks may be out at once is
another thing, the planner's ``capacity`` (``workers + spare``).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time

__all__ = ["ThreadSlots", "WorkerSlots"]

_SLOT = struct.Struct("=qd")  # tid (-1: idle), start (time.monotonic())
_IDLE = -1


class WorkerSlots:
    """What each worker process runs now: one slot per worker index, the task and since when.

    Backed by a shared memory file (``memfd``), so worker processes forked
    after its creation (or given its fd) write into the slots the scheduler's
    process reads:
    when a worker process dies, its slot says which task killed it (or that
    it was idle); the watchdog reads start times to enforce timeouts. A
    worker writes the start time before the tid, so a reader that sees a tid
    sees its start time. ``time.monotonic()`` is system-wide on Linux, hence
    comparable across processes.
    """

    def __init__(self, count: int, fd: int | None = None) -> None:
        self.count = count
        size = max(1, count) * _SLOT.size
        if fd is None:  # a new map; its fd lets an exec'd process attach
            fd = os.memfd_create("pexen-slots")
            os.ftruncate(fd, size)
            fresh = True
        else:
            fresh = False
        self.fd = fd
        self._map = mmap.mmap(fd, size)
        if fresh:
            for index in range(count):
                self.end(index)

    def begin(self, index: int, tid: int) -> None:
        """Worker ``index`` starts task ``tid`` now."""
        now = time.monotonic()
        _SLOT.pack_into(self._map, index * _SLOT.size, _IDLE, now)
        _SLOT.pack_into(self._map, index * _SLOT.size, tid, now)

    def end(self, index: int) -> None:
        """Worker ``index`` is idle."""
        _SLOT.pack_into(self._map, index * _SLOT.size, _IDLE, 0.0)

    def get(self, index: int) -> tuple[int, float] | None:
        """``(tid, started)`` of the task worker ``index`` runs, or ``None``."""
        tid, started = _SLOT.unpack_from(self._map, index * _SLOT.size)
        return None if tid == _IDLE else (tid, started)

    def close(self) -> None:
        """Unmap the slots (in the process that calls it)."""
        self._map.close()
        os.close(self.fd)


class ThreadSlots:
    """What each thread worker runs now, by index and generation.

    A worker that was abandoned (its task timed out) keeps running in its
    thread; its generation is then stale: it may begin nothing more, its
    writes are ignored and the slot belongs to the fresh worker that took its
    index. :meth:`begin`, :meth:`end` and :meth:`retire` take the index's
    lock, so that a task either begins before its worker is retired or not at
    all (each task a worker begins is reported by it or by the worker set,
    once); :meth:`get` reads without it. One lock per index, never one for
    all: two workers contending for a lock on every task ran W1 at a third of
    its speed (each contended acquire hands the GIL over and sleeps).

    Only a timeout retires a worker, so until :meth:`guard` (called before
    the first task with a timeout is handed out) :meth:`begin` and
    :meth:`end` take no lock: with nothing to retire them, there is no race.
    Once guarded, a worker's task with a timeout and every one after it
    begin and end under the lock, which is all :meth:`retire` relies on.
    """

    def __init__(self, count: int) -> None:
        self._locks = [threading.Lock() for _ in range(count)]
        self._generation = [0] * count
        self._current: list[tuple[int, int, float] | None] = [None] * count
        self._guarded = False

    def guard(self) -> None:
        """From now on, take the locks: a task may time out (for good)."""
        self._guarded = True

    def begin(self, index: int, generation: int, tid: int) -> bool:
        """Worker ``index`` of ``generation`` starts task ``tid`` now.

        ``False`` if that worker was retired: it must not start the task.
        """
        if not self._guarded:  # nothing retires a worker yet
            self._current[index] = (generation, tid, time.monotonic())
            return True
        with self._locks[index]:
            if self._generation[index] != generation:
                return False
            self._current[index] = (generation, tid, time.monotonic())
            return True

    def end(self, index: int, generation: int) -> None:
        """Worker ``index`` of ``generation`` is idle (ignored if it was retired)."""
        if not self._guarded:
            self._current[index] = None  # never retired: the slot is its own
            return
        with self._locks[index]:
            current = self._current[index]
            if current is not None and current[0] == generation:
                self._current[index] = None

    def get(self, index: int) -> tuple[int, float] | None:
        """``(tid, started)`` of the task worker ``index`` runs, or ``None``."""
        current = self._current[index]
        if current is None or current[0] != self._generation[index]:
            return None
        return current[1], current[2]

    def retire(self, index: int, tid: int) -> int | None:
        """Abandon worker ``index`` if it still runs ``tid``: its new generation.

        Guards the slots from now on, if :meth:`guard` was not called; the
        race it rules out needs that call before ``tid`` was handed out.
        """
        self._guarded = True
        with self._locks[index]:
            current = self.get(index)
            if current is None or current[0] != tid:
                return None
            self._generation[index] += 1
            self._current[index] = None
            return self._generation[index]
