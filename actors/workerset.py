"""The workers of one pool while it runs: actors, and processes behind them.

A worker set supervises its workers as an OTP supervisor would: a worker
that dies (or whose task overstays its timeout) is reported to the planner as
:class:`~actors.messages.WorkerLost`, with the task it was running, and
replaced by a fresh one under the same index.
"""

from __future__ import annotations

from typing import Any, Protocol

from .mailbox import ResultMailbox

__all__ = ["ProcessWorkerSet", "ThreadWorkerSet", "WorkerSet"]


class WorkerSet(Protocol):
    """What a pool provides to a run: worker actors speaking the worker protocol.

    Each actor takes :class:`~actors.messages.RunTasks` and reports
    :class:`~actors.messages.TaskDone` with its index to ``report_to``; the
    set reports :class:`~actors.messages.WorkerLost`. A future pool (a dask
    cluster) is one more implementation of this protocol.
    """

    def launch(self, report_to: Any, mailbox: ResultMailbox | None) -> list[Any]:
        """Start the worker actors, reporting to ``report_to``."""
        ...

    def enforce_timeouts(self) -> None:
        """Enforce timeouts of the tasks in the table (call again as it grows)."""
        ...

    def current(self, index: int) -> tuple[int, float] | None:
        """``(tid, started)`` of the task worker ``index`` runs, or ``None``."""
        ...

    def close(self, kill: bool) -> None:
        """Stop the workers; with ``kill``, abandon the tasks they run."""
        ...

    def alive(self) -> bool:
        """Whether any worker (thread or process) is still alive."""
        ...


# The implementations live in modules of their own; imported here so that
# ``from actors.workerset import ThreadWorkerSet`` keeps working.
from .processpool import ProcessWorkerSet  # noqa: E402
from .threadpool import ThreadWorkerSet  # noqa: E402
