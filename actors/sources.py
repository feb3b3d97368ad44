"""Sockets read by an actor's thread: the planner's inbox, or a reader thread.

A worker process sends its outcomes over a socket. Reading them in a thread
of their own and passing them on would cost a thread hop per task, so the
planner's inbox listens to those sockets itself (:class:`SelectInbox`): what
a worker process sends becomes a message in the thread that handles it. A
pool used on its own has no planner: a :class:`ReaderThread` listens instead.
Both offer the same :class:`EventSources` interface to the worker set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["EventSources", "ReaderThread", "SelectInbox"]

log = logging.getLogger(__name__)

#: called with the selector's event mask when the file object is ready
Callback = Callable[[int], None]


class EventSources(Protocol):
    """Where a worker set registers the sockets to watch, with callbacks."""

    def add(self, fileobj: Any, events: int, callback: Callback) -> None: ...

    def modify(self, fileobj: Any, events: int) -> None: ...

    def remove(self, fileobj: Any) -> None: ...


class _Selecting:
    """A selector with a wake-up pipe; callbacks run in the selecting thread."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)

    def add(self, fileobj: Any, events: int, callback: Callback) -> None:
        self._sel.register(fileobj, events, callback)

    def modify(self, fileobj: Any, events: int) -> None:
        key = self._sel.get_key(fileobj)
        if key.events != events:
            self._sel.modify(fileobj, events, key.data)

    def remove(self, fileobj: Any) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(fileobj)

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"w")

    def select_once(self) -> None:
        """Wait for readiness, then run the callbacks of what is ready."""
        for key, mask in self._sel.select():
            if key.data is None:
                os.read(self._wake_r, 4096)
                continue
            try:
                key.data(mask)
            except Exception:  # a callback's bug must not stop the waiting thread
                log.exception("error handling an event of fd %d", key.fd)
                self.remove(key.fd)

    def close(self) -> None:
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


class SelectInbox(_Selecting):
    """An actor inbox that also listens to sockets (for pykka's actor loop).

    ``put``/``get``/``empty`` as a :class:`queue.SimpleQueue`, which pykka
    uses. Once sockets are added, ``get`` waits on them too, and runs their
    callbacks in the actor's thread; a callback reports by telling the actor,
    which queues the message without a thread hop. A ``put`` from another
    thread wakes the waiting actor only when it is waiting.
    """

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._watching = False
        self._waiting = False

    def add(self, fileobj: Any, events: int, callback: Callback) -> None:
        super().add(fileobj, events, callback)
        self._watching = True

    def put(self, item: Any) -> None:
        self._queue.put(item)
        if self._waiting:
            self.wake()

    def empty(self) -> bool:
        return self._queue.empty()

    def get(self) -> Any:
        while True:
            if not self._watching:
                return self._queue.get()
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                pass
            self._waiting = True
            if self._queue.empty():  # a put before the flag was seen is caught here
                self.select_once()
            self._waiting = False


class ReaderThread(_Selecting):
    """A thread running the callbacks of its sockets, for a pool used alone."""

    def __init__(self) -> None:
        super().__init__()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pexen-reader", daemon=True)
        self._thread.start()

    def modify(self, fileobj: Any, events: int) -> None:
        super().modify(fileobj, events)
        self.wake()  # the select going on does not see the change

    def _run(self) -> None:
        while not self._stopping:
            self.select_once()

    def stop(self) -> None:
        """End the thread (callbacks that run finish first) and release all."""
        self._stopping = True
        self.wake()
        self._thread.join()
        self.close()
