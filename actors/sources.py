"""The worker processes' sockets, read by the caller's thread or the reader thread.

A worker process sends its outcomes over a socket. One selector watches all
of them, and whoever *leads* waits on it and runs the worker set's callback
for each socket that is ready; the callback tells the planner, a passive
actor, which handles the outcome right there: no thread hop between a socket
and the planner.

Leader and follower: while the caller's thread waits for a result (the
result mailbox has none, :meth:`ReaderThread.wait`), it leads, and an
outcome that arrives then is read, planned and posted in that very thread:
no thread hand-off, no wake-up between the socket and the caller. The
caller keeps the lead when it leaves with a result; the reader thread takes
it only once the caller has stayed away a while (:data:`HANDOVER_S`), so
that scheduling goes on while the caller handles a result, and gives it
back as soon as the caller waits again. The reader checks every few
milliseconds while the caller leads, and sleeps until woken once the
caller has been waiting a long time (an idle service wakes nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HANDOVER_S", "LOOK_S", "ReaderThread"]

log = logging.getLogger(__name__)

#: called with the selector's event mask when the file object is ready
Callback = Callable[[int], None]

#: How long the caller may stay away from :meth:`ReaderThread.wait`, holding
#: the lead, before the reader thread takes it (and how often it looks).
HANDOVER_S = 0.002
#: How long the caller's thread, about to block on the sockets, first looks
#: for an event (a poll that does not wait, then ``sched_yield``): with tiny
#: tasks an outcome comes within tens of microseconds, and waking a thread
#: blocked in the poll costs more (an idle virtual CPU took 30-700 us to wake
#: here). The yield leaves the CPU to a worker process that shares it.
LOOK_S = 0.0002
#: Looks at a caller that waits all along before the reader sleeps until the
#: caller leaves (some 50 ms).
_IDLE_LOOKS = 25

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_EPOLLIN, _EPOLLOUT = select.EPOLLIN, select.EPOLLOUT


def _epoll_events(events: int) -> int:
    return (_EPOLLIN if events & _READ else 0) | (_EPOLLOUT if events & _WRITE else 0)


class ReaderThread:
    """The poller of the sockets (epoll), and a thread that waits on it when the caller does not.

    :meth:`add`, :meth:`modify` and :meth:`remove` may be called from any
    thread; a callback may call them too. Until a result mailbox is
    :meth:`attach`-ed, the reader thread leads (it reads everything); from
    then on the mailbox, in the caller's thread, waits through :meth:`wait`
    (the :class:`~actors.workerset.Waiter` protocol).
    """

    def __init__(self, handover: float = HANDOVER_S) -> None:
        self._handover = handover  # HANDOVER_S but in tests
        # An epoll object and a dict of our own rather than a selector: a
        # selector's select() (Python code between the system call and each
        # callback) was a tenth of the scheduler's work per task here.
        self._epoll = select.epoll()
        #: fd -> (events, callback): the ``selectors`` masks asked for; the
        #: wake-up pipe's callback is ``None``
        self._watched: dict[int, tuple[int, Callback | None]] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.add(self._wake_r, _READ, None)
        self._stopping = False
        # Leadership. ``_mu`` guards the flags below (and ``_cond`` is on it);
        # ``_selecting`` is held by whichever thread waits on the selector
        # and runs callbacks, so that stop() closes it only when neither does.
        self._mu = threading.Lock()
        self._cond = threading.Condition(self._mu)
        self._selecting = threading.Lock()
        self._caller_leads = False  # the reader leads until a mailbox waits
        self._waiting = False  # the caller is in wait()
        self._entries = 0  # the caller's calls of wait(), so far
        self._want = False  # the caller waits in its queue for the lead back
        self._look = True  # the caller's last wait on the sockets was short: look first
        self._asleep = False  # the reader sleeps until the caller leaves wait()
        #: True while the caller's thread sleeps on the selector: whoever posts
        #: a result from another thread must :meth:`wake` it
        self.polling = False
        self._nudge: Callable[[], None] | None = None
        self._fail: Callable[[BaseException], None] | None = None
        self._thread = threading.Thread(target=self._run, name="pexen-reader", daemon=True)
        self._thread.start()

    def add(self, fileobj: Any, events: int, callback: Callback | None) -> None:
        """Watch ``fileobj`` (an fd, or anything with ``fileno()``) for
        ``events`` (``selectors.EVENT_READ``/``EVENT_WRITE``); call
        ``callback(mask)`` when ready. Raises :class:`KeyError` if it is
        watched already."""
        fd = _fd(fileobj)
        if fd in self._watched:
            raise KeyError(f"{fileobj!r} (fd {fd}) is already watched")
        # in the dict first: an event a concurrent wait gets has its callback
        self._watched[fd] = (events, callback)
        try:
            self._epoll.register(fd, _epoll_events(events))
        except BaseException:
            del self._watched[fd]
            raise

    def modify(self, fileobj: Any, events: int) -> None:
        """Watch ``fileobj`` for ``events`` instead (:class:`KeyError` if not watched)."""
        fd = _fd(fileobj)
        was, callback = self._watched[fd]
        if was != events:
            self._epoll.modify(fd, _epoll_events(events))
            self._watched[fd] = (events, callback)
            self.wake()  # the wait going on does not see the change

    def remove(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` (nothing happens if it is not watched)."""
        with contextlib.suppress(KeyError, ValueError, OSError):
            fd = _fd(fileobj)
            if self._watched.pop(fd, None) is not None:
                self._epoll.unregister(fd)

    def stop(self) -> None:
        """End the thread (callbacks that run finish first) and release all.

        Not from a callback. A caller's thread waiting in :meth:`wait` returns.
        """
        with self._mu:
            self._stopping = True
            self._cond.notify_all()
        self.wake()
        self._thread.join()
        with self._selecting:  # a caller's wait() has seen _stopping and left
            self._epoll.close()
            self._watched.clear()
            wake_w, self._wake_w = self._wake_w, -1  # a late wake() writes nowhere
            os.close(self._wake_r)
            os.close(wake_w)

    def wake(self) -> None:
        """Have the thread waiting on the selector, if any, look again."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"w")

    # -- the caller's side (the Waiter protocol) ---------------------------

    def attach(self, nudge: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        """A result mailbox waits through :meth:`wait` from now on.

        ``nudge()`` (from the reader thread) puts a token in the mailbox's
        queue: the caller, blocked there, leads again. ``fail(exc)`` ends the
        run: a ``KeyboardInterrupt`` landed in a callback of the caller's
        thread, which may have lost an outcome half read.
        """
        self._nudge, self._fail = nudge, fail

    def wait(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """In the caller's thread: run the callbacks here until ``ready()``.

        Returns ``True`` once ``ready()`` is true, ``timeout`` seconds have
        passed, or the reader is stopping; ``False`` at once if the reader
        thread leads: the caller then blocks in the mailbox's queue, where
        the reader posts, or puts the nudge once it has given the lead back.
        """
        try:  # from here on: whatever lands (Ctrl-C), the caller leaves wait()
            with self._mu:
                if self._stopping:
                    return False
                self._entries += 1
                if not self._caller_leads:
                    self._want = True
                    self.wake()  # the reader gives the lead back at once
                    return False
                self._waiting = True
            with self._selecting:
                self._lead(ready, timeout)
            return True
        finally:
            self.polling = False
            if self._waiting:
                with self._mu:
                    self._waiting = False
                    if self._asleep:
                        self._cond.notify()

    def _lead(self, ready: Callable[[], bool], timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        poll, fail = self._epoll.poll, self._fail
        while not self._stopping:
            # set before the last look: a post from another thread after it
            # sees ``polling`` and wakes the wait
            self.polling = True
            if ready():
                return
            if deadline is None:
                events = self._look_then_poll()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                events = poll(left)
            self.polling = False
            self._dispatch(events, fail)

    def _look_then_poll(self) -> list[tuple[int, int]]:
        """The events of a poll without timeout, looked for first for :data:`LOOK_S`.

        A wait that outlasted the look ends the looks until a wait is short
        again (a caller whose tasks run long burns nothing each time).
        """
        poll = self._epoll.poll
        start = time.perf_counter()
        if self._look:
            until = start + LOOK_S
            while True:
                events = poll(0)
                if events:
                    return events
                if time.perf_counter() >= until:
                    break
                os.sched_yield()
        events = poll()
        self._look = time.perf_counter() - start < LOOK_S
        return events

    # -- the reader thread -------------------------------------------------

    def _run(self) -> None:
        away = -1  # the caller's entries at the last look that found it away
        idle_at, idle = -1, 0  # the same for it waiting, and such looks in a row
        cond = self._cond
        while True:
            with self._mu:
                while not self._stopping and self._caller_leads:
                    entries = self._entries
                    if self._waiting:  # the caller reads for itself
                        away = -1
                        idle = idle + 1 if entries == idle_at else 0
                        idle_at = entries
                        if idle >= _IDLE_LOOKS:  # long idle: sleep until it leaves
                            self._asleep = True
                            cond.wait()
                            self._asleep = False
                            idle_at, idle = -1, 0
                        else:
                            cond.wait(self._handover)
                    elif entries == away:  # away at two looks in a row: lead
                        self._caller_leads = False
                    else:
                        away, idle_at, idle = entries, -1, 0
                        cond.wait(self._handover)
                if self._stopping:
                    return
            with self._selecting:
                self._read()
            with self._mu:
                if self._stopping:
                    return
                self._want = False
                self._caller_leads = True
                away = -1
                nudge = self._nudge
            if nudge is not None:
                nudge()

    def _read(self) -> None:
        """Lead: run callbacks until the caller wants the lead back, or stop."""
        poll = self._epoll.poll
        while not self._stopping and not self._want:
            self._dispatch(poll(), None)

    def _dispatch(
        self, events: list[tuple[int, int]], fail: Callable[[BaseException], None] | None
    ) -> None:
        """Run the callbacks of ``events`` (what one poll returned), in this thread.

        A callback's bug (an ``Exception``) is logged and drops its fd, so
        that the reading goes on; anything else (Ctrl-C in the caller's
        thread) goes through ``fail`` first, the outcome may be half read,
        and on up.
        """
        watched = self._watched
        for fd, event in events:
            entry = watched.get(fd)
            if entry is None:
                continue  # removed meanwhile
            callback = entry[1]
            if callback is None:
                os.read(self._wake_r, 4096)
                continue
            mask = _READ & entry[0] if event == _EPOLLIN else _mask(event, entry[0])
            try:
                callback(mask)
            except Exception:  # a callback's bug must not stop the reading
                log.exception("error handling an event of fd %d", fd)
                self.remove(fd)
            except BaseException as exc:
                if fail is not None:
                    fail(exc)
                raise


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


def _mask(event: int, events: int) -> int:
    """The ``selectors`` mask of an epoll ``event``, as a selector computes it
    (an error or hang-up counts as readable and writable), of those asked."""
    return ((_WRITE if event & ~_EPOLLIN else 0) | (_READ if event & ~_EPOLLOUT else 0)) & events
