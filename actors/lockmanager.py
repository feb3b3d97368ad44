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

    - takes :class:`AcquireLocks`, :class:`ReleaseLocks` and
      :class:`ForfeitLocks` from the planner;
    - answers each with one :class:`LockDecisions` to the planner;
    - answers :class:`StatusQuery` (by ``ask``, from any thread) with a
      :class:`LockStatus`.

    Waiting requests are granted, in arrival order per resource, as releases
    free their resources; those grants ride on the answer to the release.

    A passive actor: it runs in the thread handling the planner (and a status
    query's), which saves two thread hops for every task that takes locks.
    """

    def __init__(self, planner: Any) -> None:
        super().__init__()
        self._planner = planner
        self.table = LockTable()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, AcquireLocks):
            granted, waiting = [], []
            for req in message.requests:
                if self.table.request(req.tid, req.uses, req.claims):
                    granted.append(req.tid)
                else:
                    waiting.append(req.tid)
            self._planner.tell(LockDecisions(tuple(granted), tuple(waiting)))
        elif isinstance(message, ReleaseLocks):
            granted = []
            for tid in message.tids:
                granted.extend(self.table.release(tid))
            self._planner.tell(LockDecisions(tuple(granted), ()))
        elif isinstance(message, ForfeitLocks):
            granted = []
            for tid in message.tids:
                granted.extend(self.table.forfeit(tid))
            self._planner.tell(LockDecisions(tuple(granted), ()))
        elif isinstance(message, StatusQuery):
            held = tuple((name, mode, tids) for name, (mode, tids) in self.table.held().items())
            return LockStatus(held, tuple(self.table.waiting()))
        else:
            log.warning("lock manager: unexpected message %r", message)
        return None
