"""The process worker: hands tasks to one worker process."""

from __future__ import annotations

import logging
import pickle
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from .base import PassiveActor
from .messages import Outcome, Reconnect, RunTasks, TaskDone
from .taskrun import failure
from .wire import frame

_header = struct.Struct("!i").pack  # frame()'s, for a message under 2 GiB
_SHORT_MAX = 0x7FFFFFFF

__all__ = ["ProcessWorker"]

log = logging.getLogger(__name__)


class ProcessWorker(PassiveActor):
    """One worker of a :class:`~pexen.sched.pool.ProcessWorkerPool`.

    Drives one worker process at a time. Protocol (through :meth:`tell`):

    - takes :class:`RunTasks` and writes the tasks' ids and shared dicts to
      the process at once, so that it never idles while work is handed out
      ahead; a task added after the process was forked goes with its
      cloudpickled spec, once per process, unless its ``origin`` names a
      task the process has from its fork. Only the specs of origins are
      remembered (here and in the process): a task running its own code
      runs once per process, so nothing is kept of it once it ended. Outcomes come back through the
      worker set's reader, as :class:`TaskDone` with this worker's index.
      A message of an older generation is dropped (its tasks were requeued).
    - takes :class:`Reconnect`: its process died and this new one replaces it.

    A passive actor (it runs in its senders' threads): all it does is a
    write that never blocks. Bytes the socket cannot take yet wait in
    :attr:`pending` until the worker set's reader (the caller's thread or
    the reader thread, whichever waits on the sockets), told through
    ``on_pending``, calls :meth:`flush`.

    A task whose shared dict or spec cannot be pickled fails here, reported
    as :class:`TaskDone` directly.

    It declares :meth:`chains`: a task chained behind another
    (``RunTasks.after``) goes to the process with that task's tid, and the
    process decides, as that one ends, whether to run it (see
    :func:`actors.zygote._worker_main`).
    """

    def __init__(
        self,
        index: int,
        conn: Connection,
        inherited: int,
        report_to: Any,
        on_pending: Callable[[], None],
    ) -> None:
        super().__init__()
        self._index = index
        self._inherited = inherited  # tids below this are in the process's table
        self._report_to = report_to
        self._on_pending = on_pending
        self._generation = 0
        self._connect(conn)

    def _connect(self, conn: Connection) -> None:
        self._sock = socket.socket(fileno=conn.fileno())  # shares the fd; never closed here
        # later origins whose spec this process keeps: only those run again
        # under other tids (a standalone pool's); a task that runs its own
        # code is sent once and forgotten on both sides after it ran
        self._sent: set[int] = set()
        self.pending = bytearray()  # framed bytes not yet written

    def on_receive(self, message: Any) -> None:
        if isinstance(message, RunTasks):
            if message.generation == self._generation:
                self._run(message)
        elif isinstance(message, Reconnect):
            self._sock.detach()
            self._connect(message.conn)
            self._generation = message.generation

    def chains(self) -> bool:
        """Yes: the worker process runs a chained task behind its provider."""
        return True

    def flush(self) -> None:
        """Write what is pending, as far as the socket takes it now."""
        with self._lock:
            self._write(b"")
        self._drain()  # messages told while this thread held the actor

    def stop(self) -> None:
        """Stop using the socket (the worker set closes it); drop later messages."""
        super().stop()
        with self._lock:
            self.pending.clear()
            self._sock.detach()

    def _write(self, frame: bytes) -> None:
        if self.pending or not frame:
            self.pending += frame
            frame = bytes(self.pending)
            self.pending.clear()
        if not frame:
            return
        try:
            sent = self._sock.send(frame, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # a dead process: the reader reports it
        if sent < len(frame):
            self.pending += frame[sent:]
            self._on_pending()

    def _run(self, message: RunTasks) -> None:
        items, failed = [], []
        after = message.after
        for spec, shared in message.items:
            blob = None
            code = spec.tid if spec.origin is None else spec.origin  # where its code is
            if code >= self._inherited and code not in self._sent:
                try:
                    blob = cloudpickle.dumps(spec)
                except Exception as exc:
                    err = AttributeError(f"Can't pickle task {spec.func!r} for its process: {exc}")
                    failed.append(failure(spec.tid, shared, err))
                    continue
                if code != spec.tid:
                    self._sent.add(code)
            # the task it is chained behind (-1: none)
            behind = -1 if after is None else after.get(spec.tid, -1)
            items.append((spec.tid, shared, blob, code, behind))
        data: bytes | None
        try:
            data = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = self._without_unpicklable(message, items, failed)
        if failed:
            self._report_to.tell(TaskDone(self._index, tuple(failed)))
        if data is not None:
            if self.pending or len(data) > _SHORT_MAX:
                self._write(frame(data))
                return
            # _write(frame(data)) with nothing pending: once per task, inlined
            data = _header(len(data)) + data
            try:
                sent = self._sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # a dead process: the reader reports it
            if sent < len(data):
                self.pending += data[sent:]
                self._on_pending()

    def _without_unpicklable(
        self, message: RunTasks, items: list[Any], failed: list[Outcome]
    ) -> bytes | None:
        handed = {spec.tid: (spec, shared) for spec, shared in message.items}
        good = []
        for item in items:
            try:
                pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                spec, shared = handed[item[0]]
                err = AttributeError(
                    f"Can't pickle shared of task {spec.func!r} for its process: {exc}"
                )
                failed.append(failure(spec.tid, shared, err))
            else:
                good.append(item)
        return pickle.dumps(good, pickle.HIGHEST_PROTOCOL) if good else None
