"""The lock-manager actor: a thin shell around a :class:`LockTable`."""

from __future__ import annotations

import logging
from typing import Any

from pexen.state.locktable import LockTable

from .base import PassiveActor
from .messages import (
    AcquireLocks,
    ForfeitLocks,
    LockDecisions,
    LockStatus,
    ReleaseLocks,
    StatusQuery,
)

__all__ = ["LockManager"]

log = logging.getLogger(__name__)


class LockManager(PassiveActor):
    """Grants read-write locks, fairly, all of a task's at once.

    Protocol:

    - answers :class:`AcquireLocks`, :class:`ReleaseLocks` and
      :class:`ForfeitLocks` (asked by the planner) with one
      :class:`LockDecisions` each;
    - answers :class:`StatusQuery` (asked from any thread) with a
      :class:`LockStatus`.

    Waiting requests are granted, in arrival order per resource, as releases
    free their resources; those grants ride on the answer to the release.

    A passive actor: it runs in the thread handling the planner (and a status
    query's) and answers at once, so a task's locks cost no thread hop and no
    second round through the planner's messages.
    """

    def __init__(self) -> None:
        super().__init__()
        self.table = LockTable()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, AcquireLocks):
            granted, waiting = [], []
            for req in message.requests:
                if self.table.request(req.tid, req.uses, req.claims):
                    granted.append(req.tid)
                else:
                    waiting.append(req.tid)
            return LockDecisions(tuple(granted), tuple(waiting))
        elif isinstance(message, ReleaseLocks):
            granted = []
            for tid in message.tids:
                granted.extend(self.table.release(tid))
            return LockDecisions(tuple(granted), ())
        elif isinstance(message, ForfeitLocks):
            granted = []
            for tid in message.tids:
                granted.extend(self.table.forfeit(tid))
            return LockDecisions(tuple(granted), ())
        elif isinstance(message, StatusQuery):
            held = tuple((name, mode, tids) for name, (mode, tids) in self.table.held().items())
            return LockStatus(held, tuple(self.table.waiting()))
        else:
            log.warning("lock manager: unexpected message %r", message)
        return None
