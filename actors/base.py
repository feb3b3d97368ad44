"""What every actor of pexen shares."""

from __future__ import annotations

import logging
import queue
from typing import Any

import pykka

from .mailbox import ResultMailbox
from .messages import RunEnded

__all__ = ["PexenActor"]

log = logging.getLogger(__name__)


class PexenActor(pykka.ThreadingActor):
    """A pykka threading actor with a faster inbox and a loud failure.

    The inbox is a :class:`queue.SimpleQueue` (implemented in C; pykka only
    puts, gets and checks for emptiness). An exception escaping a message
    handler ends the run: the actor posts it to the result mailbox, which
    the facade re-raises, so that a bug never leaves the caller waiting.
    """

    mailbox: ResultMailbox | None = None

    @staticmethod
    def _create_actor_inbox() -> Any:
        return queue.SimpleQueue()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        log.error(
            "%s failed", type(self).__name__, exc_info=(exception_type, exception_value, traceback)
        )
        if self.mailbox is not None:
            self.mailbox.end(RunEnded(0, 0, exception_value))
