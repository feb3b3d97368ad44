"""What every actor of pexen shares."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import pykka

from .mailbox import ResultMailbox
from .messages import RunEnded

__all__ = ["PassiveActor", "PexenActor"]

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
        # pykka has logged the exception already
        if self.mailbox is not None:
            self.mailbox.end(RunEnded(0, 0, exception_value))


class PassiveActor:
    """An actor without a thread: it handles each message in the sender's thread.

    For actors whose every message is short and never blocks. The protocol is
    the same (:meth:`tell` a message, :meth:`ask` a query); each message is
    handled under the actor's own lock, so its state is still touched by one
    message at a time. A thread of its own would only add a thread hop, tens of
    microseconds on a busy machine, to every message. Its answers go back by
    message, as from any actor.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def tell(self, message: Any) -> None:
        """Handle ``message`` now."""
        with self._lock:
            self.on_receive(message)

    def ask(self, message: Any) -> Any:
        """Handle ``message`` now and return the answer."""
        with self._lock:
            return self.on_receive(message)

    def stop(self) -> None:
        """Nothing to stop: there is no thread."""

    def on_receive(self, message: Any) -> Any:
        raise NotImplementedError
