"""Fair read-write locks on named resources, all of a task's granted at once."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

__all__ = ["LockTable"]


#: at most this many idle resources are kept for reuse (LockTable._spare)
_SPARE_RESOURCES = 64


@dataclass(slots=True)
class _Resource:
    readers: set[int] = field(default_factory=set)
    writer: int | None = None
    # holders that failed and will never release (see LockTable.forfeit)
    dead_writer: bool = False
    dead_readers: int = 0
    # (ticket, tid, exclusive) of every waiter, in arrival order; entries of
    # tasks no longer waiting are skipped lazily.
    queue: deque[tuple[int, int, bool]] = field(default_factory=deque)
    # the same for exclusive waiters only
    writers: deque[tuple[int, int]] = field(default_factory=deque)
    # heap of (ticket, tid): the waiters this resource blocks, to look at
    # again when it frees or its queue moves (LockTable._grant_waiters);
    # entries no longer true are dropped lazily
    blocked: list[tuple[int, int]] = field(default_factory=list)

    def idle(self) -> bool:
        return not self.readers and self.writer is None and not self.queue and not self.blocked

    def reusable(self) -> bool:
        """Whether an idle record carries nothing over to another resource."""
        return not self.writers and not self.dead_writer and not self.dead_readers

    def dooms(self, exclusive: bool) -> bool:
        """Whether a request can never be granted: it conflicts with a dead holder."""
        return self.dead_writer or (exclusive and self.dead_readers > 0)


@dataclass(frozen=True, slots=True)
class _Request:
    ticket: int
    uses: frozenset[Hashable]
    claims: frozenset[Hashable]


class LockTable:
    """Read-write locks (``uses`` shared, ``claims`` exclusive) with fairness.

    A task gets all of its locks at once or none, so waiting tasks hold
    nothing and cannot deadlock. Requests are served in arrival order per
    resource: a request is granted only if it is compatible with the holders
    *and* with every request that arrived earlier and still waits on the same
    resource. So a waiting claimant is never overtaken by later users of its
    resource, and no request waits forever while locks keep being released.

    A holder that failed may keep its locks for good (:meth:`forfeit`).
    Requests conflicting with such a lock can never be granted: they are
    *doomed*, leave the queues, and so stop blocking compatible requests
    behind them.

    Cost: a request or release touches only the resources it names, the
    waiters at the head of their queues, and the waiters those resources
    were blocking. Each waiter is recorded under one resource that blocks it
    and looked at again only when that resource frees or a waiter ahead of it
    leaves without a grant, not on every release of a resource it uses.
    """

    def __init__(self) -> None:
        self._res: dict[Hashable, _Resource] = {}
        self._held: dict[int, tuple[frozenset[Hashable], frozenset[Hashable]]] = {}
        self._waiting: dict[int, _Request] = {}
        self._blocked_by: dict[int, Hashable] = {}  # waiting tid -> its blocker
        self._doomed: set[int] = set()
        self._tickets = 0
        # idle resources kept for reuse, so that a resource that frees and is
        # locked again (the common case) costs no new containers
        self._spare: list[_Resource] = []
        # whether any lock was ever forfeited: until then no request is doomed
        self._forfeits = False

    # -- queries -----------------------------------------------------------

    def holds(self, tid: int) -> bool:
        """Whether the task holds its locks."""
        return tid in self._held

    def is_waiting(self, tid: int) -> bool:
        """Whether the task waits for its locks."""
        return tid in self._waiting

    def idle(self) -> bool:
        """Whether nothing is held, nor waited for, nor remembered of either."""
        return not (self._res or self._held or self._waiting or self._blocked_by)

    def doomed(self) -> set[int]:
        """Tasks whose locks conflict with a forfeited lock: they never get them."""
        return set(self._doomed)

    def waiting(self) -> list[int]:
        """The waiting tids, in arrival order."""
        return list(self._waiting)

    def held(self) -> dict[Hashable, tuple[str, tuple[int, ...]]]:
        """Each locked resource: ``("claims", (tid,))`` or ``("uses", tids)``."""
        out: dict[Hashable, tuple[str, tuple[int, ...]]] = {}
        for name, res in self._res.items():
            if res.writer is not None:
                out[name] = ("claims", (res.writer,))
            elif res.readers:
                out[name] = ("uses", tuple(sorted(res.readers)))
        return out

    # -- changes -----------------------------------------------------------

    def request(self, tid: int, uses: Iterable[Hashable], claims: Iterable[Hashable]) -> bool:
        """Ask for the task's locks; ``True`` if granted now, else it waits."""
        if tid in self._held or tid in self._waiting:
            raise ValueError(f"task {tid} already holds or waits for its locks")
        self._tickets += 1
        req = _Request(self._tickets, frozenset(uses), frozenset(claims))
        if self._forfeits and self._dooms(req):
            self._doomed.add(tid)
            return False
        blocker = self._blocker(req)
        if blocker is None:
            self._take(tid, req)
            return True
        self._waiting[tid] = req
        for name in req.uses:
            self._resource(name).queue.append((req.ticket, tid, False))
        for name in req.claims:
            res = self._resource(name)
            res.queue.append((req.ticket, tid, True))
            res.writers.append((req.ticket, tid))
        self._block(tid, req, blocker)
        return False

    def release(self, tid: int) -> list[int]:
        """Release the task's locks; return the tids granted as a result."""
        uses, claims = self._held.pop(tid)
        freed = []
        for name in uses:
            res = self._res[name]
            res.readers.discard(tid)
            if not res.readers:
                freed.append(name)
        for name in claims:
            self._res[name].writer = None
            freed.append(name)
        return self._grant_waiters(freed)

    def forfeit(self, tid: int) -> list[int]:
        """The task keeps its locks for good; return the tids granted as a result.

        Waiters that conflict with these locks are doomed and leave the
        queues, which may let compatible waiters behind them through.
        """
        uses, claims = self._held[tid]
        self._forfeits = True
        for name in uses:
            self._res[name].dead_readers += 1
        for name in claims:
            self._res[name].dead_writer = True
        names = [*uses, *claims]
        doomed = set()
        for name in names:
            res = self._res[name]
            for ticket, waiter, exclusive in res.queue:
                if self._live(ticket, waiter) and res.dooms(exclusive):
                    doomed.add(waiter)
        affected = set(names)
        for waiter in doomed:
            req = self._waiting.pop(waiter)
            del self._blocked_by[waiter]
            self._doomed.add(waiter)
            affected.update(req.uses, req.claims)
        return self._grant_waiters(affected)

    def withdraw(self, tid: int) -> list[int]:
        """Stop a task waiting; return the tids granted as a result."""
        req = self._waiting.pop(tid)
        del self._blocked_by[tid]
        return self._grant_waiters([*req.uses, *req.claims])

    # -- internals ---------------------------------------------------------

    def _resource(self, name: Hashable) -> _Resource:
        res = self._res.get(name)
        if res is None:
            spare = self._spare
            res = self._res[name] = spare.pop() if spare else _Resource()
        return res

    def _dooms(self, req: _Request) -> bool:
        for names, exclusive in ((req.uses, False), (req.claims, True)):
            for name in names:
                res = self._res.get(name)
                if res is not None and res.dooms(exclusive):
                    return True
        return False

    def _live(self, ticket: int, tid: int) -> bool:
        req = self._waiting.get(tid)
        return req is not None and req.ticket == ticket

    def _first_writer(self, res: _Resource) -> int | None:
        while res.writers and not self._live(*res.writers[0]):
            res.writers.popleft()
        return res.writers[0][0] if res.writers else None

    def _first_waiter(self, res: _Resource) -> int | None:
        while res.queue and not self._live(*res.queue[0][:2]):
            res.queue.popleft()
        return res.queue[0][0] if res.queue else None

    def _blocker(self, req: _Request) -> Hashable | None:
        """The first resource that keeps ``req`` from being granted, if any.

        A resource blocks it when a holder conflicts, or when an earlier
        request still waits on it in a conflicting mode (a waiting request is
        itself in the queues, but never earlier than itself).
        """
        for name in req.uses:
            res = self._res.get(name)
            if res is None:
                continue
            if res.writer is not None:
                return name
            first = self._first_writer(res)
            if first is not None and first < req.ticket:
                return name
        for name in req.claims:
            res = self._res.get(name)
            if res is None:
                continue
            if res.writer is not None or res.readers:
                return name
            first = self._first_waiter(res)
            if first is not None and first < req.ticket:
                return name
        return None

    def _block(self, tid: int, req: _Request, name: Hashable) -> None:
        """``tid`` waits: look at it again when ``name`` frees or moves on."""
        self._blocked_by[tid] = name
        heapq.heappush(self._resource(name).blocked, (req.ticket, tid))

    def _prune(self, res: _Resource, name: Hashable) -> None:
        """Drop the entries at the top of ``res.blocked`` that are no longer true."""
        heap = res.blocked
        while heap and (
            not self._live(heap[0][0], heap[0][1]) or self._blocked_by.get(heap[0][1]) != name
        ):
            heapq.heappop(heap)

    def _take(self, tid: int, req: _Request) -> None:
        for name in req.uses:
            self._resource(name).readers.add(tid)
        for name in req.claims:
            self._resource(name).writer = tid
        self._held[tid] = (req.uses, req.claims)

    def _grant_waiters(self, names: Iterable[Hashable]) -> list[int]:
        """Look again at the waiters blocked by ``names``; grant what can be.

        ``names`` freed (their holders left) or lost waiters without a grant
        (withdrawn, doomed). Only waiters whose recorded blocker is one of
        them can have become grantable: any other waiter is still blocked by
        its own blocker, which has not changed. They are looked at in arrival
        order, each granted or recorded under the next resource that blocks
        it, until one is still blocked by the name itself: every later waiter
        on it is then blocked too (by the same holder, or by that waiter).
        Fairness does not depend on this order: a waiter is only granted when
        no earlier conflicting request waits on any of its resources.
        """
        granted = []
        for name in names:
            res = self._res.get(name)
            if res is None:
                continue
            heap = res.blocked
            while heap:
                self._prune(res, name)
                if not heap:
                    break
                tid = heap[0][1]
                req = self._waiting[tid]
                blocker = self._blocker(req)
                if blocker == name:
                    break
                heapq.heappop(heap)
                if blocker is None:
                    del self._waiting[tid]
                    del self._blocked_by[tid]
                    self._take(tid, req)
                    granted.append(tid)
                else:
                    self._block(tid, req, blocker)
        for name in names:
            res = self._res.get(name)
            if res is not None:
                # the guards only save calls: each of these stops at an empty queue
                if res.queue:
                    self._first_waiter(res)
                if res.writers:
                    self._first_writer(res)
                if res.blocked:
                    self._prune(res, name)
                if res.idle():
                    del self._res[name]
                    if len(self._spare) < _SPARE_RESOURCES and res.reusable():
                        self._spare.append(res)
        return granted
