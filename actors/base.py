"""What every actor of pexen shares."""

from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

import pykka

from .messages import RunEnded

if TYPE_CHECKING:
    from .workerset import FailureSink

__all__ = ["PassiveActor", "PexenActor"]

log = logging.getLogger(__name__)


class PexenActor(pykka.ThreadingActor):
    """A pykka threading actor with a faster inbox and a loud failure.

    The inbox is a :class:`queue.SimpleQueue` (implemented in C; pykka only
    puts, gets and checks for emptiness). An exception escaping a message
    handler ends the run: the actor posts it to the result mailbox, which
    the facade re-raises, so that a bug never leaves the caller waiting.
    """

    failure_sink: FailureSink | None = None

    @staticmethod
    def _create_actor_inbox() -> Any:
        return queue.SimpleQueue()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        # pykka has logged the exception already
        if self.failure_sink is not None:
            self.failure_sink.end(RunEnded(0, 0, exception_value))


class PassiveActor:
    """An actor without a thread: its messages are handled in its senders' threads.

    For actors whose every message is short and never blocks. The protocol is
    the same as a threaded actor's (:meth:`tell` a message, :meth:`ask` a
    query); messages are handled one at a time, in the order they were told.
    A sender that finds the actor free handles its message at once; one that
    finds it busy in another thread queues the message and goes on, and the
    busy thread handles it before letting go. :meth:`tell` therefore never
    blocks, even when told from a handler (an answer coming back), and a
    thread hop (tens of microseconds on a busy machine) is saved on every
    message.

    An exception escaping a handler kills the actor: :meth:`on_failure` runs
    (it ends the run through :attr:`failure_sink`, when set) and later messages are
    dropped, as a dead pykka actor's would be. So does a ``KeyboardInterrupt``
    that lands in a handler run by the caller's thread, which then goes on
    up that thread.
    """

    failure_sink: FailureSink | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[Any] = collections.deque()
        self._dead = False

    def tell(self, message: Any) -> None:
        """Handle ``message`` now, or have the thread that is handling one do it."""
        queue, lock = self._queue, self._lock
        if queue or not lock.acquire(False):  # positional: a faster call
            queue.append(message)  # after those queued, or for the busy thread
            self._drain()
            return
        try:  # free and nothing queued: the common case, handled at once
            if not self._dead:
                try:  # _handle(), inlined: a frame less on every message
                    self.on_receive(message)
                except BaseException as exc:
                    self._failed(exc)
            if queue:
                self._handle_queued()  # told by the handler meanwhile
        finally:
            lock.release()
        if queue:
            self._drain()

    def ask(self, message: Any) -> Any:
        """Handle ``message`` after those already told; return the answer.

        Raises :class:`pykka.ActorDeadError` if the actor is dead (stopped, or
        killed by a failure), also when this very message killed it.
        """
        with self._lock:
            self._handle_queued()
            if self._dead:
                raise pykka.ActorDeadError(f"{type(self).__name__} is dead")
            answer = self._handle(message)
            dead = self._dead
            self._handle_queued()
        self._drain()  # told meanwhile by a thread that found us busy
        if dead:
            raise pykka.ActorDeadError(f"{type(self).__name__} failed handling {message!r}")
        return answer

    def stop(self) -> None:
        """Drop every message from now on."""
        with self._lock:
            self._dead = True
            self._queue.clear()

    @property
    def alive(self) -> bool:
        """Whether the actor still takes messages."""
        return not self._dead

    def on_receive(self, message: Any) -> Any:
        raise NotImplementedError

    def on_failure(self, exc: BaseException) -> None:
        """A handler raised ``exc``; the actor is dead. Ends the run, if any."""
        log.error("%s failed", type(self).__name__, exc_info=exc)
        if self.failure_sink is not None:
            self.failure_sink.end(RunEnded(0, 0, exc))

    # The thread that takes the lock handles the queue; whoever releases the
    # lock looks at the queue again, so a message queued by a thread that
    # found the lock taken is never left behind.
    def _drain(self) -> None:
        queue, lock = self._queue, self._lock
        while queue and lock.acquire(blocking=False):
            try:
                self._handle_queued()
            finally:
                lock.release()

    def _handle_queued(self) -> None:
        queue = self._queue
        while queue:
            message = queue.popleft()
            if not self._dead:
                self._handle(message)

    def _handle(self, message: Any) -> Any:
        try:
            return self.on_receive(message)
        except BaseException as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: BaseException) -> None:
        """A handler raised ``exc``: the actor is dead (re-raises a non-``Exception``)."""
        # Half-handled, the state cannot be trusted: the actor is dead.
        self._dead = True
        self._queue.clear()
        self.on_failure(exc)
        if not isinstance(exc, Exception):
            raise exc  # Ctrl-C in a caller that was running the actor: theirs
