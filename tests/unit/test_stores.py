"""Each store's gate: its own limit, its own rate, its own pauses; nothing shared to wait for."""

from __future__ import annotations

import asyncio
import itertools
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
        await asyncio.wait_for(send(fast), timeout=1)
        loads = {load.store: load for load in stores.loads()}
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), timeout=1)
        return loads["slow"].in_flight, loads["slow"].queued, "fast" in loads

    assert asyncio.run(scenario()) == (2, 3, False)


def test_a_metered_store_is_admitted_at_its_rate_with_the_first_call_prepaid() -> None:
    async def scenario() -> tuple[list[float], list[bool]]:
        limiter = RateLimiter(20.0, burst=1)  # a call every 50 ms
        gate = StoreGate("metered", AdaptiveLimit(50, maximum=50))
        times: list[float] = []
        prepaid: list[bool] = []
        started = time.monotonic()

        async def send() -> None:
            await gate.enter(limiter)
            times.append(time.monotonic() - started)
            prepaid.append(PREPAID.get())
            await limiter.acquire()  # the connector's first call: already paid for
            gate.leave(0.001)

        await asyncio.gather(*(send() for _ in range(5)))
        return times, prepaid

    times, prepaid = asyncio.run(scenario())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the worker's loop
        assert len(runner.run(scenario())[0]) == 5
    assert all(prepaid)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.04 < gap < 0.09 for gap in gaps), gaps


def test_a_paused_store_admits_nothing_until_its_pause_ends() -> None:
    async def scenario() -> float:
        limiter = RateLimiter(None)
        limiter.pause(0.2)
        gate = StoreGate("paused", AdaptiveLimit(4))
        started = time.monotonic()
        await gate.enter(limiter)
        gate.leave(0.01)
        return time.monotonic() - started

    assert 0.18 < asyncio.run(scenario()) < 0.5


def test_a_cancelled_wait_gives_its_turn_to_the_next() -> None:
    async def scenario() -> int:
        gate = StoreGate("one", AdaptiveLimit(1, maximum=1))
        await gate.enter(None)
        waiting = asyncio.create_task(gate.enter(None))
        third = asyncio.create_task(gate.enter(None))
        await asyncio.sleep(0)
        waiting.cancel()
        gate.leave(0.01)
        await asyncio.wait_for(third, 1)
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
