"""The workers of one pool while it runs: actors, and processes behind them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

import pykka

from pexen.state.taskspec import TaskSpec

from .mailbox import ResultMailbox
from .procworker import ProcessWorker, ResultReader
from .threadworker import ThreadWorker
from .zygote import Zygote

__all__ = ["ProcessWorkerSet", "ThreadWorkerSet", "WorkerSet"]


class WorkerSet(Protocol):
    """What a pool provides to a run: worker actors speaking the worker protocol.

    Each actor takes :class:`~actors.messages.RunTasks` and reports
    :class:`~actors.messages.TaskDone` (and :class:`~actors.messages.WorkerLost`)
    with its index to ``report_to``. A future pool (a dask cluster) is one more
    implementation of this protocol.
    """

    def launch(self, report_to: Any, mailbox: ResultMailbox | None) -> list[pykka.ActorRef[Any]]:
        """Start the worker actors, reporting to ``report_to``."""
        ...

    def close(self, kill: bool) -> None:
        """Stop the workers; with ``kill``, abandon the tasks they run."""
        ...

    def alive(self) -> bool:
        """Whether any worker (thread or process) is still alive."""
        ...


class ThreadWorkerSet:
    """Worker actors that run tasks in their own threads."""

    def __init__(self, workers: int, cancelled: threading.Event) -> None:
        self._count = workers
        self._cancelled = cancelled
        self._refs: list[pykka.ActorRef[Any]] = []

    def launch(self, report_to: Any, mailbox: ResultMailbox | None) -> list[pykka.ActorRef[Any]]:
        self._refs = [
            ThreadWorker.start(i, report_to, self._cancelled, mailbox) for i in range(self._count)
        ]
        return self._refs

    def close(self, kill: bool) -> None:
        if kill:
            self._cancelled.set()
        for ref in self._refs:
            ref.stop()  # waits for a task that is running: a thread cannot be killed

    def alive(self) -> bool:
        return any(ref.is_alive() for ref in self._refs)


class ProcessWorkerSet:
    """Worker actors, each driving one worker process forked by a zygote.

    Forks at construction: build it before any thread of pexen starts.
    """

    def __init__(self, workers: int, table: Sequence[TaskSpec]) -> None:
        self._zygote = Zygote(table)
        self._procs: list[tuple[int, Connection, int | None]] = []
        try:
            for _ in range(workers):
                pid, conn = self._zygote.spawn()
                self._procs.append((pid, conn, _pidfd(pid)))
        except BaseException:
            self.close(kill=True)
            raise
        self._refs: list[pykka.ActorRef[Any]] = []
        self._reader: ResultReader | None = None

    def launch(self, report_to: Any, mailbox: ResultMailbox | None) -> list[pykka.ActorRef[Any]]:
        conns = [conn for _, conn, _ in self._procs]
        self._refs = [
            ProcessWorker.start(i, conn, report_to, mailbox) for i, conn in enumerate(conns)
        ]
        self._reader = ResultReader(conns, report_to)
        return self._refs

    def close(self, kill: bool) -> None:
        if kill:
            for pid, _, pidfd in self._procs:
                _kill(pid, pidfd)
        if self._reader is not None:
            self._reader.stop()
            self._reader = None
        for ref in self._refs:
            ref.stop()
        for _, conn, pidfd in self._procs:
            conn.close()  # an idle worker process ends on EOF
            if pidfd is not None:
                os.close(pidfd)
        self._procs = []
        self._zygote.close()  # returns once every worker process has ended

    def alive(self) -> bool:
        return bool(self._procs)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill(pid: int, pidfd: int | None) -> None:
    # Through a pidfd the signal cannot hit a recycled pid.
    with contextlib.suppress(ProcessLookupError, OSError):
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
