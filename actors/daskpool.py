"""The dask pool's workers: lanes that run the planner's tasks on a dask.distributed cluster.

An implementation of the pool protocol (:mod:`actors.workerset`, where each
method's contract is). The planner and the lock manager stay in this
process; the cluster only runs tasks whose locks are already granted.

Worker ``i`` of the protocol is a *lane*: a :class:`DaskLane` actor keeps
the tasks handed to it in order and has one cluster task ("unit") out at a
time, so the lanes together never have more units out than there are
threads on the cluster. A unit is one task, or several short tasks without
locks or timeout run one after the other by one cluster task (dask's own
cost per task, a few milliseconds, would bound the throughput otherwise);
its outcomes still come back one :class:`Outcome` each. One collector
thread takes the finished units (an ``as_completed`` of the client) and
reports them as :class:`TaskDone`; a lane's next unit is sent (under the
set's lock) as soon as its lane may have one more out.

Failures (dask cannot interrupt a running task):

- a unit whose cluster worker died (``KilledWorker``; the private cluster
  allows no retry) is ``WorkerLost`` with a
  :class:`~pexen.vocab.errors.WorkerLostError` naming the worker, when it ran
  one task; a unit of several is sent again one task per unit, so that only
  the task that killed its worker is blamed (those that ran before it in the
  lost unit run again: their outcomes died with the worker);
- a task over its timeout, and at a cancel every running unit: the process
  of the cluster worker running it is ended (its nanny starts a new one),
  so the task really stops, and ``WorkerLost`` names it (timeout).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import pickle
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from pexen.state.taskspec import TaskSpec
from pexen.vocab.errors import WorkerLostError

from .daskwire import decode_outcome, end_worker_process, filename_of, run_unit
from .messages import Outcome, RunEnded, RunTasks, TaskDone, WorkerLost
from .taskrun import failure
from .watchdog import Watchdog, timeout_error

if TYPE_CHECKING:
    from distributed import Client

    from .workerset import FailureSink, Reporter, WorkerActor, WorkerSet

__all__ = ["DaskLane", "DaskWorkerSet"]

log = logging.getLogger(__name__)

#: At most this many short tasks go in one cluster task.
CHUNK = 512
#: How long a cancel waits for the cluster workers it ended to be gone (s).
KILL_WAIT = 10.0

_Item = tuple[TaskSpec, dict[str, Any]]


# -- in the scheduling process ---------------------------------------------


def _lost_error(exc: BaseException) -> WorkerLostError:
    worker = getattr(exc, "last_worker", None)
    address = getattr(worker, "address", worker)
    if address is None:
        return WorkerLostError(f"the cluster worker running the task was lost: {exc}")
    return WorkerLostError(f"the cluster worker {address} running the task died")


def _is_loss(exc: BaseException) -> bool:
    """Whether a unit failed because its worker (or the cluster) went, not by itself."""
    from distributed import CancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker | CancelledError | OSError)


class _Unit:
    """One cluster task: the items it runs, and where it stands."""

    __slots__ = ("future", "generation", "items", "key", "lane", "started")

    def __init__(self, lane: int, generation: int, items: list[_Item], key: str) -> None:
        self.lane = lane
        self.generation = generation
        self.items = items
        self.key = key
        self.started = time.monotonic()
        self.future: Any = None


class DaskLane:
    """Worker ``index`` of a :class:`DaskWorkerSet`, as the planner sees it.

    Protocol: :meth:`tell` takes :class:`RunTasks` of its generation (others
    are dropped: their tasks were handed out again) and queues the tasks;
    the set sends them to the cluster (one unit out, and one more of short
    tasks without locks or timeout), and reports their
    outcomes as :class:`TaskDone` with this index. Never blocks: sending
    is a message to the client's event loop.
    """

    def __init__(self, owner: DaskWorkerSet, index: int) -> None:
        self._owner = owner
        self.index = index
        self.generation = 0
        self.queue: deque[_Item] = deque()
        self.units: list[_Unit] = []  # out on the cluster, oldest first (two at most)
        self.lost: tuple[int, BaseException] | None = None  # (culprit, error) to report
        self.alone: set[int] = set()  # tids to send one per unit (their batch was lost)
        self.current: tuple[int, float] | None = None  # (tid, sent) of the unit out
        self.failure_sink: FailureSink | None = None
        self.stopped = False

    def tell(self, message: RunTasks) -> None:
        try:
            self._owner._queue(self, message)
        except Exception as exc:  # never raise into the planner (rule 5)
            log.exception("dask lane %d failed", self.index)
            if self.failure_sink is not None:
                self.failure_sink.end(RunEnded(0, 0, exc))

    def stop(self) -> None:
        self.stopped = True


class DaskWorkerSet:
    """``workers`` lanes on the cluster of ``client``; see the module's docstring.

    ``client`` belongs to the pool (it outlives the run); the set only
    submits, collects and, at a timeout or cancel, ends cluster worker
    processes.
    """

    def __init__(
        self, client: Client, workers: int, table: Sequence[TaskSpec], cancelled: threading.Event
    ) -> None:
        from distributed import as_completed

        self._client = client
        self._table = table
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._closing = False
        self._lanes = [DaskLane(self, i) for i in range(workers)]
        self._units: dict[str, _Unit] = {}
        self._prefix = f"pexen-{uuid.uuid4().hex[:12]}-"
        self._seq = itertools.count()
        self._done = as_completed(loop=client.loop, with_results=True, raise_errors=False)
        self._report_to: Reporter  # set by launch
        self._collector: threading.Thread | None = None
        self._watchdog = Watchdog(table, workers, self.current, self._timed_out)

    # -- the protocol ------------------------------------------------------

    def launch(self, report_to: Reporter, failure_sink: FailureSink | None) -> list[WorkerActor]:
        self._report_to = report_to
        self._failure_sink = failure_sink
        for lane in self._lanes:
            lane.failure_sink = failure_sink
        self._collector = threading.Thread(
            target=self._collect, name="pexen-dask-collector", daemon=True
        )
        self._collector.start()
        return list(self._lanes)

    def enforce_timeouts(self) -> None:
        self._watchdog.ensure()

    def current(self, index: int) -> tuple[int, float] | None:
        return self._lanes[index].current

    def where(self, index: int) -> str | None:
        """The address of the cluster worker running lane ``index``'s unit now, if any.

        Asks the scheduler (a round trip): for the caller, never the planner.
        """
        units = self._lanes[index].units
        if not units or self._closing:
            return None
        unit = units[0]
        for worker, keys in self._client.processing().items():
            if unit.key in keys:
                return str(worker)
        return None

    def alive(self) -> bool:
        return self._collector is not None and self._collector.is_alive()

    def close(self, kill: bool) -> None:
        self._watchdog.stop()
        if kill:
            self._cancelled.set()
        with self._lock:
            self._closing = True
            out = [unit for lane in self._lanes for unit in lane.units]
            for lane in self._lanes:
                lane.queue.clear()
                lane.units = []
                lane.current = None
                lane.stopped = True
            self._units.clear()
        if out:
            # at the end of a run nothing is out; if something is, it must stop
            self._stop_units(out)
        if self._collector is not None:
            self._collector.join()

    # -- sending -------------------------------------------------------------

    def _queue(self, lane: DaskLane, message: RunTasks) -> None:
        failed: list[Outcome] = []
        with self._lock:
            if self._closing or lane.stopped or message.generation != lane.generation:
                return
            if self._cancelled.is_set():
                return  # rule 4: start nothing more
            lane.queue.extend(message.items)
            self._send_next(lane, failed)
        if failed:
            self._report_to.tell(TaskDone(lane.index, tuple(failed)))

    def _send_next(self, lane: DaskLane, failed: list[Outcome]) -> None:
        """With the lock: send the lane's next units, as far as it may.

        A lane has one unit out, and a second one of short tasks without
        locks or timeout: these then run on another cluster worker rather
        than wait behind a long task (say, one holding a claim), and a
        worker finds its next unit at once. A task with locks or a timeout
        waits until the lane has nothing out, so that it starts when sent
        (its timeout counts from then) and is blamed alone if it kills
        its worker.
        """
        queue = lane.queue
        while queue and lane.lost is None and not self._cancelled.is_set():
            if lane.units and (len(lane.units) > 1 or not self._batchable(lane, queue[0])):
                return
            items = [queue.popleft()]
            if self._batchable(lane, items[0]):
                while queue and len(items) < CHUNK and self._batchable(lane, queue[0]):
                    items.append(queue.popleft())
            blob = self._pickled(items, failed)
            if blob is None:
                continue
            seq = next(self._seq)
            key = f"{self._prefix}{seq}"
            unit = _Unit(lane.index, lane.generation, items, key)
            # dask runs the highest priority first: the planner's hand-out order
            unit.future = self._client.submit(
                run_unit, blob, key=key, pure=False, priority=-seq, retries=0
            )
            self._units[key] = unit
            lane.units.append(unit)
            if lane.current is None:
                lane.current = (items[0][0].tid, unit.started)
            self._done.add(unit.future)

    @staticmethod
    def _batchable(lane: DaskLane, item: _Item) -> bool:
        spec = item[0]
        return not spec.locks and spec.timeout is None and spec.tid not in lane.alone

    def _pickled(self, items: list[_Item], failed: list[Outcome]) -> bytes | None:
        """The unit's items for the cluster; drops (into ``failed``) what cannot pickle."""
        try:
            return self._dumps(items)
        except Exception:
            pass
        good = []
        for spec, shared in items:
            try:
                cloudpickle.dumps(spec, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                err = AttributeError(
                    f"Can't pickle task {spec.func!r} for its cluster worker: {exc}"
                )
                failed.append(failure(spec.tid, shared, err))
                continue
            try:
                pickle.dumps(shared, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                err = AttributeError(
                    f"Can't pickle shared of task {spec.func!r} for its cluster worker: {exc}"
                )
                failed.append(failure(spec.tid, shared, err))
                continue
            good.append((spec, shared))
        items[:] = good
        return self._dumps(good) if good else None

    @staticmethod
    def _dumps(items: list[_Item]) -> bytes:
        sent = [(spec, shared, filename_of(spec.func)) for spec, shared in items]
        return cloudpickle.dumps(sent, pickle.HIGHEST_PROTOCOL)

    # -- collecting (the collector thread) ---------------------------------

    def _collect(self) -> None:
        done = self._done
        cond = done.thread_condition
        while not self._closing:
            if not done.has_ready():
                with cond:
                    if not done.has_ready():
                        cond.wait(0.05)  # woken by a finished unit; looks at _closing
                continue
            for future, result in done.next_batch(block=False):
                try:
                    self._finished(future, result)
                except Exception as exc:
                    log.exception("dask pool: handling a finished unit failed")
                    if self._failure_sink is not None:
                        self._failure_sink.end(RunEnded(0, 0, exc))
                    return

    def _finished(self, future: Any, result: Any) -> None:
        failed: list[Outcome] = []
        lost: WorkerLost | None = None
        outcomes: list[Outcome] = []
        with self._lock:
            unit = self._units.pop(future.key, None)
            if unit is None or self._closing:
                return  # abandoned: timed out, or the run is over
            lane = self._lanes[unit.lane]
            if lane.generation != unit.generation or unit not in lane.units:
                return
            lane.units.remove(unit)
            if future.status == "finished":
                outcomes = [decode_outcome(messages) for messages in result]
                for outcome in outcomes:
                    lane.alone.discard(outcome.tid)
            else:
                exc = result[1] if isinstance(result, tuple) else result
                if not isinstance(exc, BaseException):
                    exc = RuntimeError(f"the unit ended as {future.status}")
                if _is_loss(exc) and len(unit.items) > 1:
                    # which of them killed the worker? send them one by one
                    lane.alone.update(spec.tid for spec, _ in unit.items)
                    lane.queue.extendleft(reversed(unit.items))
                elif _is_loss(exc):
                    lane.lost = (unit.items[0][0].tid, _lost_error(exc))
                else:  # the unit could not run there (say, a module missing)
                    outcomes = [failure(spec.tid, shared, exc) for spec, shared in unit.items]
            lost = self._settle(lane)
            if lost is None:
                self._send_next(lane, failed)
        if outcomes or failed:
            self._report_to.tell(TaskDone(unit.lane, (*outcomes, *failed)))
        if lost is not None:
            self._report_to.tell(lost)

    def _settle(self, lane: DaskLane) -> WorkerLost | None:
        """With the lock: after a unit of ``lane`` ended or was stopped.

        A lost unit's ``WorkerLost`` waits for the lane's other unit (its
        outcomes come first, rule 3); then the lane starts a new generation.
        What it had queued never started: the planner hands it out again.
        """
        units = lane.units
        lane.current = (units[0].items[0][0].tid, units[0].started) if units else None
        if lane.lost is None or units:
            return None
        culprit, err = lane.lost
        lane.lost = None
        lane.alone.difference_update(spec.tid for spec, _ in lane.queue)
        lane.alone.discard(culprit)
        lane.queue.clear()
        lane.generation += 1
        return WorkerLost(lane.index, lane.generation, culprit, err)

    # -- stopping running units ----------------------------------------------

    def _timed_out(self, index: int, tid: int) -> None:
        with self._lock:
            lane = self._lanes[index]
            if self._closing or not lane.units or lane.current is None or lane.current[0] != tid:
                return
            unit = lane.units.pop(0)
            if len(unit.items) != 1:  # only a unit of one task has a timeout
                lane.units.insert(0, unit)
                return
            self._units.pop(unit.key, None)
            lane.lost = (tid, timeout_error(unit.items[0][0], "its cluster worker was restarted"))
            lost = self._settle(lane)
        self._stop_units([unit])
        if lost is not None:
            self._report_to.tell(lost)

    def _stop_units(self, units: list[_Unit]) -> None:
        """Make sure these units run no more: end the processes of the workers
        running them (found first: a cancelled key is no longer "processing"
        anywhere), then drop them (those still queued)."""
        client = self._client
        keys = {unit.key for unit in units}
        try:
            processing = client.processing()
        except Exception:
            log.exception("dask pool: cannot ask the scheduler where units run")
            processing = {}
        workers = [w for w, running in processing.items() if keys.intersection(running)]
        if workers:
            log.info("dask pool: ending cluster workers %s to stop their tasks", workers)
            with contextlib.suppress(Exception):
                client.run(end_worker_process, workers=workers, wait=False)
        with contextlib.suppress(Exception):
            client.cancel([unit.future for unit in units], force=True)
        if workers:
            self._wait_gone(workers)

    def _wait_gone(self, workers: list[str]) -> None:
        """Return once the scheduler no longer has ``workers`` (a dead one's comm closed)."""
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline:
            try:
                left = set(self._client.scheduler_info(n_workers=-1)["workers"]) & set(workers)
            except Exception:
                return
            if not left:
                return
            time.sleep(0.02)
        log.warning("dask pool: cluster workers %s still there after %s s", workers, KILL_WAIT)


if TYPE_CHECKING:  # mypy checks that the set keeps the pool protocol
    _: type[WorkerSet] = DaskWorkerSet
