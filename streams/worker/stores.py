"""Each store's turn to send: as many at once as its limit allows, when its rate allows.

A send waits at its store's gate, not in a pool shared with the other stores: a store that
answers slowly, is metered, or said ``Retry-After`` keeps its own sends waiting and holds
nothing the other stores need. The gate admits a send when the store has fewer sends under
way than its ``AdaptiveLimit`` and its ``RateLimiter`` has a call to spend (a pause counts
as none), and spends that call then, for the send's first request. Waiting sends are served
in arrival order; a timer wakes the gate when the next call may go.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass

from connectors.budget import PREPAID, RateLimiter
from streams.worker.limits import AdaptiveLimit

PARKED_LOST_AFTER_S = 600.0


class StoreGate:
    def __init__(self, name: str, limit: AdaptiveLimit) -> None:
        self.name = name
        self.limit = limit
        self.in_flight = 0
        self.limiter: RateLimiter | None = None
        self._waiting: deque[tuple[asyncio.Future[None], float]] = deque()
        self._waiting_count = 0  # of those, not yet done (a cancelled one stays in the deque)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0  # uvloop's timer handles do not say when they are due
        self.parked = 0  # its events this worker set aside, not yet back
        self._parked_at: dict[str, tuple[float, float]] = {}  # park id -> (parked, due)

    @property
    def queued(self) -> int:
        return self._waiting_count

    def oldest_wait_s(self) -> float:
        """How long the send waiting longest has waited (0 when none waits)."""
        for future, since in self._waiting:
            if not future.done():
                return time.monotonic() - since
        return 0.0

    def park(self, park_id: str, due_s: float) -> None:
        """One of its events set aside until ``due_s`` (epoch seconds)."""
        self.parked += 1
        self._parked_at[park_id] = (time.time(), due_s)

    def unpark(self, park_id: str) -> None:
        self.parked = max(0, self.parked - 1)
        self._parked_at.pop(park_id, None)

    def oldest_parked_s(self) -> float:
        """How long the event parked longest has been away (0 when none is). One not back
        long after it was due came back to another worker (a rebalance): forgotten here."""
        now = time.time()
        for park_id, (_, due_s) in list(self._parked_at.items()):
            if now - due_s > PARKED_LOST_AFTER_S:
                del self._parked_at[park_id]
        return now - min((at for at, _ in self._parked_at.values()), default=now)

    def throughput_per_s(self) -> float:
        """Sends per second the store takes now: its rate, or its limit over its answer time."""
        answer_s = self.limit.answer_time_s or 0.1
        concurrent = self.limit.limit / max(answer_s, 0.001)
        rate = self.limiter.rate if self.limiter is not None else None
        return min(concurrent, rate) if rate else concurrent

    def full(self, queue_s: float) -> bool:
        """Whether the sends waiting here already make ``queue_s`` seconds of the store's
        work (never fewer than twice its limit): the next one is better parked."""
        room = max(2 * self.limit.limit, math.ceil(self.throughput_per_s() * queue_s))
        return self.queued >= room

    def next_turn_in(self) -> float:
        """About when an event parked now will find room here: a little before the sends
        waiting and parked ahead of it are through (1 s to an hour)."""
        ahead = self.queued + self.parked + 1
        return min(max(0.9 * ahead / max(self.throughput_per_s(), 1e-3), 1.0), 3600.0)

    async def enter(self, limiter: RateLimiter | None) -> None:
        """Return once this send may go; it must ``leave`` afterwards."""
        self.limiter = limiter
        if not self._waiting and self._may_start():
            self._start()
        else:
            future = asyncio.get_running_loop().create_future()
            self._waiting.append((future, time.monotonic()))
            self._waiting_count += 1
            self._pump()
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self.leave(None)  # admitted as it was cancelled: give the turn back
                else:
                    self._waiting_count -= 1
                raise
        if limiter is not None:
            PREPAID.set(True)  # in this send's task: its first call is paid for

    def leave(self, answered_in_s: float | None, overloaded: bool = False) -> None:
        """The send ended: after ``answered_in_s`` (None: no answer to learn from)."""
        self.in_flight -= 1
        if overloaded:
            self.limit.on_overload()
        elif answered_in_s is not None:
            self.limit.on_answer(answered_in_s, self.in_flight + 1)
        self._pump()

    def _may_start(self) -> bool:
        if self.in_flight >= self.limit.limit:
            return False
        return self.limiter is None or self.limiter.ready_in() <= 0

    def _start(self) -> None:
        self.in_flight += 1
        if self.limiter is not None:
            self.limiter.take()

    def _pump(self) -> None:
        while self._waiting:
            future, _ = self._waiting[0]
            if future.done():  # cancelled while waiting
                self._waiting.popleft()
                continue
            if self.in_flight >= self.limit.limit:
                return  # a send's end pumps again
            wait = self.limiter.ready_in() if self.limiter is not None else 0.0
            if wait > 0:
                self._wake_in(wait)
                return
            self._waiting.popleft()
            self._waiting_count -= 1
            self._start()
            future.set_result(None)

    def _wake_in(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        if self._timer is not None:
            if self._timer_due <= due:
                return  # it wakes the gate sooner already
            self._timer.cancel()
        self._timer, self._timer_due = loop.call_at(due, self._woken), due

    def _woken(self) -> None:
        self._timer = None
        self._pump()


@dataclass(frozen=True, slots=True)
class StoreLoad:
    """What one store has under way and waiting, for ``/metrics`` and the report."""

    store: str
    in_flight: int
    queued: int
    parked: int
    oldest_wait_s: float
    limit: int
    rate_per_s: float | None
    oldest_parked_s: float = 0.0


class Stores:
    """One gate per store, made on first use; a store's limit is kept while it is idle."""

    def __init__(self, initial_limit: int, max_limit: int) -> None:
        self.initial_limit = initial_limit
        self.max_limit = max_limit
        self._gates: dict[str, StoreGate] = {}

    def gate(self, store: str) -> StoreGate:
        gate = self._gates.get(store)
        if gate is None:
            limit = AdaptiveLimit(self.initial_limit, maximum=self.max_limit)
            gate = self._gates[store] = StoreGate(store, limit)
        return gate

    def loads(self) -> list[StoreLoad]:
        """The stores with sends under way or waiting."""
        return [
            StoreLoad(
                gate.name,
                gate.in_flight,
                gate.queued,
                gate.parked,
                round(gate.oldest_wait_s(), 3),
                gate.limit.limit,
                gate.limiter.rate if gate.limiter else None,
                round(gate.oldest_parked_s(), 3),
            )
            for gate in list(self._gates.values())
            if gate.in_flight or gate.queued or gate.parked
        ]
