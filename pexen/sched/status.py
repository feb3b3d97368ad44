"""A snapshot of a run (public path; defined in :mod:`pexen.vocab.status`)."""

from pexen.vocab.status import HeldLock, RunningTask, RunStatus, WaitingTask

__all__ = ["HeldLock", "RunStatus", "RunningTask", "WaitingTask"]
