"""Each store's gate: its own limit, its own rate, its own pauses; nothing shared to wait for."""

from __future__ import annotations

import asyncio
import time

import uvloop

from connectors.budget import PREPAID, RateLimiter
from streams.worker.limits import AdaptiveLimit
from streams.worker.stores import StoreGate, Stores


def test_a_slow_store_waits_at_its_own_gate_while_another_goes() -> None:
    async def scenario() -> tuple[int, int, bool]:
        stores = Stores(initial_limit=2, max_limit=2)
        slow, fast = stores.gate("slow"), stores.gate("fast")
        release = asyncio.Event()

        async def send(gate: StoreGate) -> None:
            await gate.enter(None)
            try:
                if gate is slow:
                    await release.wait()
            finally:
                gate.leave(0.1)

        stuck = [asyncio.create_task(send(slow)) for _ in range(5)]
        await asyncio.sleep(0)
        await asyncio.wait_for(send(fast), timeout=5)
        loads = {load.store: load for load in stores.loads()}
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), timeout=5)
        return loads["slow"].in_flight, loads["slow"].queued, "fast" in loads

    assert asyncio.run(scenario()) == (2, 3, False)


RATE = 20.0  # calls per second: one every 50 ms
SENDS = 5


async def metered_sends() -> tuple[list[int], list[float], list[bool]]:
    """``SENDS`` sends at a store metered at ``RATE`` (burst 1): the order they were
    admitted in, when (seconds after they began to wait) and whether each was prepaid."""
    limiter = RateLimiter(RATE, burst=1)
    gate = StoreGate("metered", AdaptiveLimit(50, maximum=50))
    order: list[int] = []
    times: list[float] = []
    prepaid: list[bool] = []
    started = time.monotonic()

    async def send(n: int) -> None:
        await gate.enter(limiter)
        order.append(n)
        times.append(time.monotonic() - started)
        prepaid.append(PREPAID.get())
        await limiter.acquire()  # the connector's first call: already paid for
        gate.leave(0.001)

    await asyncio.gather(*(send(n) for n in range(SENDS)))
    return order, times, prepaid


def test_a_metered_store_is_admitted_at_its_rate_with_the_first_call_prepaid() -> None:
    """On asyncio's loop and on uvloop (the worker's): in arrival order, never sooner than
    the rate allows, each send's first call paid for by its admission.

    The k-th send cannot be admitted before k calls' worth of the rate has passed; a loaded
    machine can only make it later, so the upper bound is ten times the nominal."""
    with asyncio.Runner() as runner:
        plain = runner.run(asyncio.wait_for(metered_sends(), 10))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        on_uvloop = runner.run(asyncio.wait_for(metered_sends(), 10))
    for order, times, prepaid in (plain, on_uvloop):
        assert order == list(range(SENDS)) and prepaid == [True] * SENDS
        earliest = [k / RATE - 0.005 for k in range(SENDS)]
        assert all(t >= e for t, e in zip(times, earliest, strict=True)), times
        assert times[-1] < 10 * (SENDS - 1) / RATE, times


def test_a_paused_store_admits_nothing_until_its_pause_ends() -> None:
    async def scenario() -> float:
        limiter = RateLimiter(None)
        started = time.monotonic()
        limiter.pause(0.2)
        gate = StoreGate("paused", AdaptiveLimit(4))
        await gate.enter(limiter)
        gate.leave(0.01)
        return time.monotonic() - started

    # never before the pause ends; later only by as much as a loaded machine delays a timer
    assert 0.2 - 0.005 <= asyncio.run(asyncio.wait_for(scenario(), 10)) < 2.0


def test_a_cancelled_wait_gives_its_turn_to_the_next() -> None:
    async def scenario() -> int:
        gate = StoreGate("one", AdaptiveLimit(1, maximum=1))
        await gate.enter(None)
        waiting = asyncio.create_task(gate.enter(None))
        third = asyncio.create_task(gate.enter(None))
        await asyncio.sleep(0)
        waiting.cancel()
        gate.leave(0.01)
        await asyncio.wait_for(third, 5)
        return gate.in_flight

    assert asyncio.run(scenario()) == 1


def test_the_limit_grows_while_answers_keep_their_pace_and_halves_on_overload() -> None:
    now = [0.0]
    limit = AdaptiveLimit(4, maximum=256, clock=lambda: now[0])
    for _ in range(200):
        limit.on_answer(0.15, in_flight=limit.limit)  # the store takes all it is given
    grown = limit.limit
    assert grown >= 200
    now[0] = 10.0
    limit.on_overload()
    assert limit.limit == grown // 2
    limit.on_overload()  # the same answer time: not halved twice
    assert limit.limit == grown // 2


def test_the_limit_does_not_grow_when_it_is_not_what_holds_the_store_back() -> None:
    limit = AdaptiveLimit(16)
    for _ in range(100):
        limit.on_answer(0.15, in_flight=2)
    assert limit.limit == 16


def test_the_limit_falls_when_the_store_starts_queueing() -> None:
    limit = AdaptiveLimit(100, maximum=256)
    for _ in range(600):
        limit.on_answer(0.1, in_flight=100)
    before = limit.limit
    for _ in range(60):
        limit.on_answer(1.0, in_flight=before)  # ten times slower: the store queues
    assert limit.limit < before / 2
