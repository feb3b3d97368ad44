"""The thread worker actor: runs tasks in its own thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import PexenActor
from .messages import RunTasks, TaskDone
from .slots import ThreadSlots
from .taskrun import run_task

if TYPE_CHECKING:
    from .workerset import FailureSink, Reporter

__all__ = ["IdleInbox", "ThreadWorker"]

_get = queue.SimpleQueue.get
_get_nowait = queue.SimpleQueue.get_nowait
_Empty = queue.Empty
_new_tuple = tuple.__new__


class IdleInbox(queue.SimpleQueue[Any]):
    """A thread worker's inbox: while idle, it looks now and then for held tasks.

    The planner may hold a tiny task rather than wake an idle worker for it
    (:meth:`hold`): a worker that is running a task takes it when it reports,
    for less than the wake-up would cost (on a virtual machine, tens of
    microseconds of the waker's time, and more before the woken thread
    runs). Should that worker's task turn out long, the held task must not
    wait for it: so an idle worker that a task was held for waits on its
    inbox for :attr:`PERIOD` at a time, and each time a task was held for it
    meanwhile it pokes the planner (``poke``: its worker tells an empty
    :class:`TaskDone`), which hands it a task held too long. Once nothing
    was held for it for :attr:`HORIZON`, it waits with no end, and
    :meth:`hold` says so (the planner then hands it the task instead).

    Only a planner calls :meth:`hold`, so a worker reporting elsewhere (a
    test's probe) never pokes; with ``poke`` ``None`` the inbox is a plain one.
    """

    __slots__ = ("asleep", "poke", "wanted")

    #: seconds an idle worker waits before it looks for held tasks
    PERIOD = 0.005
    #: seconds with nothing held for it after which it only wakes when told
    HORIZON = 0.02

    def __init__(self) -> None:
        super().__init__()
        self.asleep = False  # in a wait with no end: it looks for nothing
        self.wanted = False  # a task was held for this worker to look for
        self.poke: Callable[[], None] | None = None

    def hold(self) -> bool:
        """The planner holds a task this idle worker may take.

        Returns whether the worker will come and look (else it is asleep:
        hand it the task). The flag is set before the state is read, and the
        worker sets its state before it reads the flag (see :meth:`get`), so
        one of the two always sees the other.
        """
        self.wanted = True
        return not self.asleep

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """The next message (pykka's loop asks with no arguments)."""
        try:
            return _get_nowait(self)
        except _Empty:
            pass
        poke = self.poke
        if poke is None or not block or timeout is not None:
            return _get(self, block, timeout)
        if self.wanted:  # tasks are held for this worker: look for them now and then
            until = time.monotonic() + self.HORIZON
            while True:
                try:
                    return _get(self, True, self.PERIOD)
                except _Empty:
                    pass
                if self.wanted:
                    self.wanted = False
                    poke()  # the planner may put a task in this inbox, right here
                    until = time.monotonic() + self.HORIZON
                elif time.monotonic() > until:
                    break
        self.asleep = True
        if self.wanted:  # held just before it saw this worker asleep
            self.wanted = False
            poke()
        try:
            return _get(self)
        finally:
            self.asleep = False


class ThreadWorker(PexenActor):
    """One worker of a :class:`~pexen.sched.pool.ThreadWorkerPool`.

    Protocol: takes :class:`RunTasks` (alone, or in a one-item list that it
    empties: the worker set's box); runs the tasks one by one in the
    actor's thread and sends a :class:`TaskDone` to ``report_to`` as each
    ends. Tasks not yet begun are dropped once ``cancelled`` is set, or once
    ``abandoned`` is set (its task timed out: the worker set has told the
    planner, which hands those tasks out again); an abandoned worker reports
    nothing more and stops when its task returns. Idle, with a task held for
    it, it tells an empty ``TaskDone`` now and then (see :class:`IdleInbox`).
    """

    use_daemon_thread = True  # a task that never returns must not block exit

    @staticmethod
    def _create_actor_inbox() -> Any:
        return IdleInbox()

    def __init__(
        self,
        index: int,
        report_to: Reporter,
        cancelled: threading.Event,
        failure_sink: FailureSink | None = None,
        slots: ThreadSlots | None = None,
        generation: int = 0,
        abandoned: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._index = index
        self._report_to = report_to
        self._cancelled = cancelled
        self.failure_sink = failure_sink
        self._slots = slots
        self._generation = generation
        self.abandoned = abandoned or threading.Event()
        # bound once: a bound method made per message is an allocation the
        # cyclic GC counts towards its next collection
        self._report = report_to.tell
        self._is_cancelled = cancelled.is_set
        self._is_abandoned = self.abandoned.is_set
        inbox = self.actor_inbox
        assert isinstance(inbox, IdleInbox)
        inbox.poke = self._poke

    def _poke(self) -> None:
        """Idle, with a task held for it: ask the planner for one (an empty TaskDone)."""
        if not self._cancelled.is_set() and not self.abandoned.is_set():
            self._report_to.tell(TaskDone(self._index, ()))

    def _handle_receive(self, message: Any) -> Any:
        # pykka's own tests each message for its control kinds first (stop,
        # proxy calls); the planner's, boxed, is none of them
        if type(message) is list:
            return self.on_receive(message)
        return super()._handle_receive(message)

    def on_receive(self, message: Any) -> None:
        if type(message) is list:  # boxed by the worker set: take it out (see _BoxedRef)
            message = message.pop()
        if not isinstance(message, RunTasks):
            return
        slots, index, gen = self._slots, self._index, self._generation
        cancelled, abandoned, report = self._is_cancelled, self._is_abandoned, self._report
        retired = False
        for spec, shared in message.items:
            if cancelled():
                break
            if slots is not None:
                # a retired worker is abandoned: begin() refuses it
                if not slots.begin(index, gen, spec.tid):
                    retired = True  # abandoned meanwhile: the planner hands it out again
                    break
                outcome = run_task(spec, shared)
                slots.end(index, gen)
            else:
                if abandoned():
                    break
                outcome = run_task(spec, shared)
            if abandoned():
                break
            report(_new_tuple(TaskDone, (index, (outcome,))))  # no Python-level __new__
        if retired or abandoned():
            self.actor_ref.stop(block=False)
