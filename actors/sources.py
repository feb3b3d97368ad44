"""The reader thread: reads the worker processes' sockets.

A worker process sends its outcomes over a socket. The reader thread waits on
all of them and runs the worker set's callback for each socket that is ready;
the callback tells the planner, a passive actor, which handles the outcome
right there: no thread hop between a socket and the planner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ReaderThread"]

log = logging.getLogger(__name__)

#: called with the selector's event mask when the file object is ready
Callback = Callable[[int], None]


class ReaderThread:
    """A thread running the callbacks of the sockets registered with it.

    :meth:`add`, :meth:`modify` and :meth:`remove` may be called from any
    thread; a callback may call them too.
    """

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pexen-reader", daemon=True)
        self._thread.start()

    def add(self, fileobj: Any, events: int, callback: Callback) -> None:
        """Watch ``fileobj`` for ``events``; call ``callback(mask)`` when ready."""
        self._sel.register(fileobj, events, callback)

    def modify(self, fileobj: Any, events: int) -> None:
        """Watch ``fileobj`` for ``events`` instead."""
        key = self._sel.get_key(fileobj)
        if key.events != events:
            self._sel.modify(fileobj, events, key.data)
            self._wake()  # the select going on does not see the change

    def remove(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` (nothing happens if it is not watched)."""
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(fileobj)

    def stop(self) -> None:
        """End the thread (callbacks that run finish first) and release all."""
        self._stopping = True
        self._wake()
        self._thread.join()
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"w")

    def _run(self) -> None:
        while not self._stopping:
            for key, mask in self._sel.select():
                if key.data is None:
                    os.read(self._wake_r, 4096)
                    continue
                try:
                    key.data(mask)
                except Exception:  # a callback's bug must not stop the thread
                    log.exception("error handling an event of fd %d", key.fd)
                    self.remove(key.fd)
