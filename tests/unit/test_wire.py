"""Framing of the worker-process sockets: what FrameReader splits, frame() builds."""

from __future__ import annotations

import os
import socket
import struct
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
