"""actors.zygote: a worker process is asked for without waiting for the
zygote, and its pid read when first needed (real processes)."""

from __future__ import annotations

import logging
import pickle
import threading

import psutil
from specs import spec

from actors import zygote
from actors.slots import WorkerSlots
from actors.wire import decode_outcome


def _run_one(conn, tid: int):
    conn.send_bytes(pickle.dumps([(tid, {}, None, tid)], pickle.HIGHEST_PROTOCOL))
    return decode_outcome((conn.recv_bytes(),))


def _zygote_log(tmp_path):
    # a file handler: the forked zygote inherits it and writes there
    handler = logging.FileHandler(tmp_path / "zygote.log")
    logging.getLogger(zygote.__name__).addHandler(handler)
    return handler


def _close_log(handler):
    logging.getLogger(zygote.__name__).removeHandler(handler)
    handler.close()
    return open(handler.baseFilename).read()


def test_a_worker_is_written_to_before_the_zygote_answered_and_its_pid_comes_later():
    slots = WorkerSlots(2)
    z = zygote.Zygote([spec(0), spec(1, lambda: "one")], slots)
    try:
        first, conn0 = z.spawn(0)
        second, conn1 = z.spawn(1)
        # asked for both; written to before either pid was read
        out1 = _run_one(conn1, 1)
        out0 = _run_one(conn0, 0)
        assert (out0.ret, out1.ret) == (0, "one")
        pids = [z.worker_pid(first), z.worker_pid(second)]
        assert first.answered and second.answered
        for pid in pids:
            assert psutil.Process(pid).ppid() == z.pid  # forked by the zygote
        conn0.close()
        conn1.close()
    finally:
        z.close()
        slots.close()
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_closing_with_answers_unread_ends_the_zygote_as_asked(tmp_path):
    # a pid the zygote sent and nobody read must not reset the control
    # socket: the zygote would take that for its parent's death
    handler = _zygote_log(tmp_path)
    slots = WorkerSlots(1)
    try:
        z = zygote.Zygote([spec(0)], slots)
        _, conn = z.spawn(0)
        assert _run_one(conn, 0).ret == 0
        conn.close()
        z.close()
    finally:
        slots.close()
        text = _close_log(handler)
    assert "the scheduling process is gone" not in text


def test_a_zygote_gone_before_forking_closes_the_connection_and_has_no_pid():
    slots = WorkerSlots(1)
    z = zygote.Zygote([spec(0)], slots)
    try:
        psutil.Process(z.pid).kill()
        psutil.Process(z.pid).wait(10)
        try:
            spawned, conn = z.spawn(0)
        except OSError:
            return  # the control socket already knew: refused at once
        assert conn.poll(10) and _eof(conn)
        assert z.worker_pid(spawned) is None
        conn.close()
    finally:
        z.close()
        slots.close()


def _eof(conn) -> bool:
    try:
        conn.recv_bytes()
    except EOFError:
        return True
    return False


def test_pids_are_read_in_order_from_any_thread():
    slots = WorkerSlots(3)
    z = zygote.Zygote([spec(i) for i in range(3)], slots)
    try:
        asked = [z.spawn(i) for i in range(3)]
        got: dict[int, int | None] = {}
        threads = [
            threading.Thread(target=lambda i=i: got.__setitem__(i, z.worker_pid(asked[i][0])))
            for i in (2, 0, 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(got.values())) == 3
        for i, (_, conn) in enumerate(asked):
            assert _run_one(conn, i).ret == i
            conn.close()
    finally:
        z.close()
        slots.close()
