"""The watchdog: notices tasks running past their ``timeout``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from pexen.state.taskspec import TaskSpec
from pexen.state.tasktable import TaskTable
from pexen.vocab.errors import TaskTimeoutError

__all__ = ["Watchdog", "timeout_error"]

#: how often the watchdog looks, at most and at least (seconds)
_MAX_PERIOD, _MIN_PERIOD = 0.05, 0.005


class Watchdog:
    """A thread that compares each worker's current task with its timeout.

    ``current(index)`` gives ``(tid, started)`` of the task worker ``index``
    runs, or ``None``; ``on_timeout(index, tid)`` is called once per task
    found over its time, from the watchdog's thread. It looks every twentieth
    of the shortest timeout in ``table`` (between 5 and 50 ms), and only runs
    while some task of the table has a timeout (see :meth:`ensure`).
    """

    def __init__(
        self,
        table: Sequence[TaskSpec],
        workers: int,
        current: Callable[[int], tuple[int, float] | None],
        on_timeout: Callable[[int, int], None],
    ) -> None:
        self._table = table
        self._workers = workers
        self._current = current
        self._on_timeout = on_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = 0  # table entries already looked at for timeouts
        self._period = _MAX_PERIOD

    def ensure(self) -> bool:
        """Start watching if the table (grown since) has a task with a timeout.

        Returns whether the watchdog watches (now or from before).
        """
        table = self._table
        if isinstance(table, TaskTable):
            shortest = table.take_shortest_timeout()
        else:
            timeouts = [s.timeout for s in table[self._seen :] if s.timeout is not None]
            shortest = min(timeouts) if timeouts else None
        self._seen = len(table)
        if shortest is None:
            return self._thread is not None
        self._period = max(_MIN_PERIOD, min(self._period, shortest / 20))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pexen-watchdog", daemon=True)
            self._thread.start()
        return True

    def stop(self) -> None:
        """Stop watching; returns when the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        fired: dict[int, tuple[int, float]] = {}
        while not self._stop.wait(self._period):
            now = time.monotonic()
            for index in range(self._workers):
                current = self._current(index)
                if current is None or fired.get(index) == current:
                    continue
                tid, started = current
                try:
                    timeout = self._table[tid].timeout
                except (KeyError, IndexError):
                    continue  # it ended, and was forgotten, meanwhile (a served task)
                if timeout is not None and now - started > timeout:
                    fired[index] = current
                    self._on_timeout(index, tid)


def timeout_error(spec: TaskSpec, what: str) -> TaskTimeoutError:
    """The error of task ``spec`` killed or abandoned for its timeout; ``what`` says which."""
    return TaskTimeoutError(f"task {spec.func!r} ran past its timeout of {spec.timeout} s; {what}")
