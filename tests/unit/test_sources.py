"""The reader of the worker sockets: who leads (actors.sources.ReaderThread).

While a caller waits (``wait``), the callbacks run in its thread; while it is
away, the reader thread takes over, and gives the lead back when the caller
waits again.
"""

from __future__ import annotations

import queue
import selectors
import socket
import threading
from collections.abc import Iterator

import pytest
from helpers import EVENT_TIMEOUT, wait_for

from actors.mailbox import ResultMailbox
from actors.messages import RunEnded
from actors.sources import ReaderThread

#: A hand-over no test waits for: the caller that leads keeps the lead.
NEVER = 3600.0
NUDGE = b"<nudge>"


class Harness:
    """A reader watching one socket, and a queue standing in for the mailbox."""

    def __init__(self, handover: float = NEVER) -> None:
        self.reader = ReaderThread(handover)
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)
        self.got: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()
        self.failed: list[BaseException] = []
        self.raise_in_callback: BaseException | None = None
        self.reader.add(self.ours.fileno(), selectors.EVENT_READ, self._ready)

    def _ready(self, mask: int) -> None:
        data = self.ours.recv(4096)
        if self.raise_in_callback is not None:
            exc, self.raise_in_callback = self.raise_in_callback, None
            raise exc
        self.got.put((data, threading.get_ident()))

    def attach(self) -> None:
        self.reader.attach(lambda: self.got.put((NUDGE, 0)), self.failed.append)

    def lead(self) -> None:
        """Take the lead from the reader thread (it leads until asked)."""
        assert self.reader.wait(lambda: True, 0) is False  # asks for it
        assert self.got.get(timeout=EVENT_TIMEOUT) == (NUDGE, 0)  # given back

    def take(self) -> tuple[bytes, int]:
        """What the mailbox's take does: wait through the reader, or block."""
        while True:
            try:
                item = self.got.get(False)
            except queue.Empty:
                if self.reader.wait(lambda: not self.got.empty(), EVENT_TIMEOUT):
                    continue
                item = self.got.get(timeout=EVENT_TIMEOUT)
            if item[0] != NUDGE:
                return item

    def close(self) -> None:
        self.reader.stop()
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def test_not_attached_the_reader_thread_reads(harness: Harness) -> None:
    harness.theirs.send(b"a")
    data, thread = harness.got.get(timeout=EVENT_TIMEOUT)
    assert data == b"a"
    assert thread != threading.get_ident()


def test_a_waiting_caller_reads_in_its_own_thread(harness: Harness) -> None:
    harness.attach()
    harness.lead()
    for byte in (b"a", b"b", b"c"):
        sender = threading.Timer(0.01, harness.theirs.send, (byte,))
        sender.start()
        assert harness.take() == (byte, threading.get_ident())
        sender.join()
    harness.theirs.send(b"d")  # arrives while the caller is away: read when it waits
    assert harness.take() == (b"d", threading.get_ident())
    assert harness.got.empty()  # no nudge: the lead never left


def test_the_reader_takes_over_while_the_caller_is_away() -> None:
    harness = Harness(handover=0.001)
    try:
        harness.attach()
        harness.lead()
        harness.theirs.send(b"a")  # the caller stays away: the reader reads it
        data, thread = harness.got.get(timeout=EVENT_TIMEOUT)
        assert (data, thread != threading.get_ident()) == (b"a", True)
        harness.lead()  # and gives the lead back when asked
    finally:
        harness.close()


def test_a_wake_from_another_thread_ends_a_wait(harness: Harness) -> None:
    harness.attach()
    harness.lead()

    def post() -> None:
        harness.got.put((b"posted", threading.get_ident()))
        if harness.reader.polling:  # as the mailbox does on each post
            harness.reader.wake()

    poster = threading.Timer(0.01, post)
    poster.start()
    data, thread = harness.take()
    poster.join()
    assert (data, thread) == (b"posted", poster.ident)


def test_wait_times_out(harness: Harness) -> None:
    harness.attach()
    harness.lead()
    assert harness.reader.wait(lambda: False, 0.01) is True
    assert harness.got.empty()


def test_ctrl_c_in_a_callback_of_the_caller_ends_the_run(harness: Harness) -> None:
    harness.attach()
    harness.lead()
    harness.raise_in_callback = KeyboardInterrupt()
    harness.theirs.send(b"a")
    with pytest.raises(KeyboardInterrupt):
        harness.reader.wait(lambda: False, EVENT_TIMEOUT)
    assert [type(exc) for exc in harness.failed] == [KeyboardInterrupt]
    harness.theirs.send(b"b")
    assert harness.take() == (b"b", threading.get_ident())  # still reads


def test_a_callback_bug_drops_its_socket_only(harness: Harness) -> None:
    harness.attach()
    harness.lead()
    harness.raise_in_callback = RuntimeError("a bug")
    harness.theirs.send(b"a")
    assert harness.reader.wait(lambda: False, 0.05) is True  # logged, not raised
    assert harness.failed == []
    harness.theirs.send(b"b")
    assert harness.reader.wait(lambda: False, 0.05) is True
    assert harness.got.empty()  # no longer watched


def test_stop_ends_a_wait_in_another_thread(harness: Harness) -> None:
    harness.attach()
    harness.lead()
    returned: list[bool] = []

    def wait() -> None:
        returned.append(harness.reader.wait(lambda: False, None))

    waiter = threading.Thread(target=wait, name="test-waiter")
    waiter.start()
    wait_for(lambda: harness.reader.polling, what="the waiter on the selector")
    harness.reader.stop()  # returns once the wait has left the selector
    waiter.join(EVENT_TIMEOUT)
    assert returned == [True]
    assert harness.reader.wait(lambda: False, None) is False  # stopped: block elsewhere
    harness.reader = ReaderThread()  # for the fixture's close


def test_the_reader_sleeps_while_the_caller_waits_long() -> None:
    harness = Harness(handover=0.001)  # looks every ms: sleeps after some 25
    try:
        harness.attach()
        harness.lead()
        returned: list[tuple[bytes, int]] = []
        waiter = threading.Thread(
            target=lambda: returned.append(harness.take()), name="test-waiter"
        )
        waiter.start()
        # an idle service: the reader looks no more until the caller leaves
        wait_for(lambda: harness.reader._asleep, what="the reader asleep")
        harness.theirs.send(b"a")
        waiter.join(EVENT_TIMEOUT)
        assert returned == [(b"a", waiter.ident)]
        wait_for(lambda: not harness.reader._asleep, what="the reader woken")
    finally:
        harness.close()


# -- the result mailbox waiting through a reader -------------------------------


@pytest.fixture
def mailbox_reader() -> Iterator[tuple[ResultMailbox, ReaderThread, socket.socket]]:
    reader = ReaderThread(NEVER)
    mailbox = ResultMailbox(backlog=4)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)

    def ready(mask: int) -> None:  # as the planner posts a result
        mailbox.post((ours.recv(4096), threading.get_ident()))

    reader.add(ours.fileno(), selectors.EVENT_READ, ready)
    mailbox.wait_with(reader)
    yield mailbox, reader, theirs
    reader.stop()
    ours.close()
    theirs.close()


def test_mailbox_take_reads_in_the_callers_thread(
    mailbox_reader: tuple[ResultMailbox, ReaderThread, socket.socket],
) -> None:
    mailbox, reader, theirs = mailbox_reader
    theirs.send(b"a")
    assert mailbox.take(timeout=EVENT_TIMEOUT)[0] == b"a"  # the reader led till then
    mailbox.consumed()
    with pytest.raises(queue.Empty):
        mailbox.take(timeout=0.01)  # asks for the lead
    wait_for(lambda: reader._caller_leads, what="the lead given back")
    for byte in (b"b", b"c"):
        theirs.send(byte)
        assert mailbox.take(timeout=EVENT_TIMEOUT) == (byte, threading.get_ident())
        mailbox.consumed()


def test_mailbox_take_times_out(
    mailbox_reader: tuple[ResultMailbox, ReaderThread, socket.socket],
) -> None:
    mailbox, _, _ = mailbox_reader
    for _ in range(2):  # while the reader leads, then while the caller does
        with pytest.raises(queue.Empty):
            mailbox.take(timeout=0.01)
    with pytest.raises(queue.Empty):
        mailbox.take(timeout=0)


def test_mailbox_post_from_another_thread_wakes_the_take(
    mailbox_reader: tuple[ResultMailbox, ReaderThread, socket.socket],
) -> None:
    mailbox, reader, theirs = mailbox_reader
    theirs.send(b"a")
    mailbox.take(timeout=EVENT_TIMEOUT)  # the caller leads from now on
    mailbox.consumed()
    poster = threading.Thread(
        target=lambda: (
            wait_for(lambda: reader.polling, what="the take on the selector"),
            mailbox.end(RunEnded(0, 0, cancelled=True)),
        ),
        name="test-poster",
    )
    poster.start()
    ended = mailbox.take(timeout=EVENT_TIMEOUT)
    poster.join()
    assert ended == RunEnded(0, 0, cancelled=True)
