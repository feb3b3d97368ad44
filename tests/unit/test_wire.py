"""Framing of the worker-process sockets: what FrameReader splits, frame() builds."""

from __future__ import annotations

import contextlib
import mmap
import os
import socket
import struct
import threading
from multiprocessing.connection import Connection

import pytest

from actors.wire import FrameReader, frame


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_frame_is_what_a_connection_reads(pair):
    a, b = pair
    a.sendall(frame(b"hello") + frame(b""))
    conn = Connection(os.dup(b.fileno()))
    try:
        assert conn.recv_bytes() == b"hello"
        assert conn.recv_bytes() == b""
    finally:
        conn.close()


def test_frame_of_a_huge_message_uses_the_long_header():
    class Huge(bytes):
        def __len__(self) -> int:
            return 0x80000000

    header = frame(Huge(b""))
    assert header == struct.pack("!i", -1) + struct.pack("!Q", 0x80000000)


def test_reader_returns_every_whole_message_of_one_read(pair):
    a, b = pair
    with Connection(os.dup(a.fileno())) as conn:
        for i in range(5):
            conn.send_bytes(b"m%d" % i)
    reader = FrameReader(b.fileno())
    assert reader.read() == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def test_reader_keeps_a_partial_message_for_the_next_read(pair):
    a, b = pair
    data = frame(b"first") + frame(b"x" * 100_000)
    reader = FrameReader(b.fileno())
    a.sendall(data[:7])  # the first header and part of its body
    assert reader.read() == []
    a.sendall(data[7:20])
    assert reader.read() == [b"first"]
    got = []
    rest = data[20:]
    while rest:
        a.sendall(rest[:30_000])
        rest = rest[30_000:]
        got += reader.read()
    assert got == [b"x" * 100_000]


def test_reader_reads_the_long_header(pair):
    a, b = pair
    a.sendall(struct.pack("!i", -1) + struct.pack("!Q", 3) + b"abc" + frame(b"d"))
    assert FrameReader(b.fileno()).read() == [b"abc", b"d"]


def test_reader_reports_the_peer_closing(pair):
    a, b = pair
    reader = FrameReader(b.fileno())
    a.sendall(frame(b"last"))
    a.shutdown(socket.SHUT_WR)
    assert reader.read() == [b"last"]
    assert reader.read() is None


def _read_messages(reader: FrameReader, sock: socket.socket, count: int) -> list:
    """Read until ``count`` messages came, waiting for the socket between reads."""
    import select

    got: list = []
    while len(got) < count:
        select.select([sock], [], [], 20)
        more = reader.read()
        assert more is not None, "the peer closed early"
        got += more
    return got


@contextlib.contextmanager
def _sending(sock: socket.socket, *pieces: bytes):
    """Send ``pieces`` from another thread (the socket holds less than they are)."""

    def send() -> None:
        for piece in pieces:
            sock.sendall(piece)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        yield
    finally:
        sender.join(20)


def test_a_large_message_is_read_in_place_and_those_after_it_follow(pair):
    a, b = pair
    big = bytes(range(256)) * 20_000  # 5 MB, over the in-place threshold
    data = frame(b"small") + frame(big) + frame(b"after") + frame(b"x" * 10)
    reader = FrameReader(b.fileno())
    with _sending(a, data):
        got = _read_messages(reader, b, 4)
    assert [bytes(m) for m in got] == [b"small", big, b"after", b"x" * 10]
    assert isinstance(got[1], mmap.mmap)  # the buffer it was read into, not a copy


def test_a_large_message_can_be_read_into_a_bytes_object_of_its_own(pair):
    a, b = pair
    big = bytes(range(256)) * 12_000  # 3 MB, over the in-place threshold
    data = frame(b"small") + frame(big) + frame(b"after")
    reader = FrameReader(b.fileno(), into_bytes=True)
    with _sending(a, data):
        got = _read_messages(reader, b, 3)
    assert got == [b"small", big, b"after"]
    assert type(got[1]) is bytes
    # a plain immutable bytes object: it hashes and compares as its copy does
    assert hash(got[1]) == hash(bytes(bytearray(big)))
    assert {got[1]: 1}[big] == 1


def test_a_large_message_whose_long_header_arrives_in_pieces(pair):
    a, b = pair
    big = b"y" * (3 << 20)
    data = struct.pack("!i", -1) + struct.pack("!Q", len(big)) + big + frame(b"z")
    reader = FrameReader(b.fileno())
    a.sendall(data[:3])
    assert reader.read() == []
    a.sendall(data[3:9])
    assert reader.read() == []
    with _sending(a, data[9:]):
        got = _read_messages(reader, b, 2)
    assert [bytes(m) for m in got] == [big, b"z"]


def test_the_peer_closing_inside_a_large_message(pair):
    a, b = pair
    reader = FrameReader(b.fileno())
    a.sendall(frame(b"w" * (2 << 20))[:100_000])  # the header and a part: fits the socket
    a.shutdown(socket.SHUT_WR)
    import select

    got: list | None = []
    while got == []:
        select.select([b], [], [], 20)
        got = reader.read()
    assert got is None


def _outcome(tid, ret=None, shared=None, excinfo=None):
    from actors.messages import Outcome

    return Outcome(tid, ret, shared or {}, excinfo, excinfo is None, excinfo is None)


def test_large_bytes_cross_as_a_message_of_their_own(pair):
    from actors.wire import OutcomeReader, encode_outcome

    a, b = pair
    big = bytes(range(256)) * 8192  # 2 MB: over the threshold
    sent = [_outcome(1, b"small"), _outcome(2, big, {"k": 1}), _outcome(3, "after")]
    messages = [m for o in sent for m in encode_outcome(o, None)]
    assert len(messages) == 4  # the large return value went on its own
    assert messages[2] is big  # not pickled: the very object, no copy
    reader = OutcomeReader(b.fileno())

    def send() -> None:
        with Connection(os.dup(a.fileno())) as conn:
            for m in messages:
                conn.send_bytes(m)

    import select

    sender = threading.Thread(target=send)
    sender.start()
    got: list = []
    try:
        while len(got) < 3:
            select.select([b], [], [], 20)
            more = reader.read()
            assert more is not None
            got += more
    finally:
        sender.join(20)
    assert [(o.tid, o.ret, o.shared) for o in got] == [
        (1, b"small", {}),
        (2, big, {"k": 1}),
        (3, "after", {}),
    ]
    assert type(got[1].ret) is bytes


def test_a_failure_crosses_in_one_message():
    from actors.wire import encode_outcome
    from pexen.sched import ExceptionInfo

    err = ValueError("no")
    [message] = encode_outcome(
        _outcome(4, None, excinfo=ExceptionInfo(ValueError, err, None)), None
    )
    assert isinstance(message, bytes)


def test_large_bytes_still_arrive_as_bytes_without_the_c_api(pair, monkeypatch):
    # an interpreter without PyBytes_FromStringAndSize: read into a mapping,
    # then copied into bytes
    import select

    import actors.wire
    from actors.wire import OutcomeReader, encode_outcome

    monkeypatch.setattr(actors.wire, "_bytes_new", None)
    a, b = pair
    big = bytes(range(256)) * 8192  # 2 MB
    messages = encode_outcome(_outcome(5, big), None)
    reader = OutcomeReader(b.fileno())
    got: list = []
    with _sending(a, *(frame(m) for m in messages)):
        while not got:
            select.select([b], [], [], 20)
            more = reader.read()
            assert more is not None
            got += more
    [outcome] = got
    assert type(outcome.ret) is bytes and outcome.ret == big
