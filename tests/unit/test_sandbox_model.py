"""The sandbox platform behaves like the real ones on cue: answer times drawn from a
lognormal distribution, a leaky bucket per metered store, and faults that fail, slow or hang."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from connectors.emulators.sandbox import Latency, LeakyBucket, SandboxPlatform


def test_answer_times_have_the_median_and_p99_asked_for() -> None:
    rng = random.Random(7)
    draws = sorted(Latency(150, 1000).draw(rng) * 1000 for _ in range(20_000))
    median, p99 = statistics.median(draws), draws[int(0.99 * len(draws))]
    assert 140 < median < 160 and 900 < p99 < 1100, (median, p99)


def test_the_bucket_takes_its_capacity_then_refuses_until_it_drains() -> None:
    bucket = LeakyBucket(capacity=40, drain_per_s=2)
    answers = [bucket.admit() for _ in range(41)]
    assert all(admitted for admitted, _ in answers[:40])
    refused, headers = answers[40]
    assert not refused
    assert headers["x-rate-limit-limit"] == "40" and headers["x-rate-limit-remaining"] == "0"
    assert headers["Retry-After"] == "1"  # half a second until a request drains: 1 s
    assert 19_000 < int(headers["x-rate-limit-reset"]) <= 20_000  # 40 requests at 2/s
    bucket._at -= 1.0  # a second passes: two requests have drained
    assert [bucket.admit()[0] for _ in range(3)] == [True, True, False]


async def call(client: TestClient, store: str, n: int) -> Any:
    return await client.post(
        f"/stores/{store}/orders/o{n}/actions/cancel",
        json={"event_id": f"{store}-e{n}", "sequence": 1},
    )


def test_metered_and_slow_stores_through_the_server() -> None:
    async def go() -> None:
        platform = SandboxPlatform(seed=1)
        async with TestClient(TestServer(platform.app())) as client:
            await client.post(
                "/_model", json={"store": "*", "bucket": {"capacity": 3, "drain_per_s": 1}}
            )
            statuses = [(await call(client, "a", n)).status for n in range(4)]
            assert statuses == [200, 200, 200, 429]
            # every store has a bucket of its own
            assert (await call(client, "b", 9)).status == 200
            stats = await (await client.get("/_stats?store=a")).json()
            assert stats == {"received": 3, "rate_limited": 1}

            await client.post(
                "/_model",
                json={"store": "slow", "latency": {"median_ms": 50, "p99_ms": 60}, "bucket": None},
            )
            started = time.perf_counter()
            assert (await call(client, "slow", 1)).status == 200
            assert time.perf_counter() - started >= 0.03

            await client.post(
                "/_faults", json={"store": "c", "kind": "slow", "delay_ms": 50, "count": 1}
            )
            await client.post("/_model", json={"store": "c", "bucket": None})
            started = time.perf_counter()
            assert (await call(client, "c", 1)).status == 200
            assert time.perf_counter() - started >= 0.05
            await client.post("/_faults", json={"store": "d", "kind": "hang"})
            await client.post("/_model", json={"store": "d", "bucket": None})
            try:
                await asyncio.wait_for(call(client, "d", 1), 0.3)
                raise AssertionError("a hanging store answered")
            except TimeoutError:
                pass

    asyncio.run(go())
