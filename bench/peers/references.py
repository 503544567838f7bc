"""The bench's references, measured against the same sandbox in the same run:

- ``raw_http``: the connector's own HTTP client, no Kafka, as many calls at once as a
  worker may have (``ORDERSYNC_MAX_IN_FLIGHT``): the limit of what the platform and the
  client can do;
- ``naive``: a first implementation: one consumer, decode, send synchronously with httpx,
  commit each event;
- ``quix``: the Quix Streams peer (``quix_peer.py``), run in its own venv.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvloop
from confluent_kafka import Consumer

import schemas
from bench.measure import steady_rate
from bench.peers.quix_env import quix_python
from connectors.http import make_client
from connectors.sandbox import SandboxConnector
from streams.codec import Codec
from streams.local.harness import Sandbox
from streams.records import Action, IntegrationConfig, OrderEvent
from streams.settings import Settings

PEER = Path(__file__).resolve().parent / "quix_peer.py"


def raw_http(
    settings: Settings, sandbox_url: str, records: Sequence[dict[str, Any]], concurrency: int
) -> float:
    """Calls per second of the sandbox connector alone, ``concurrency`` at once."""
    events = [OrderEvent.from_avro(r) for r in records]
    stores = sorted({e.integration for e in events})

    async def go() -> float:
        connectors = {}
        for store in stores:
            cfg = IntegrationConfig(store, "bench", "sandbox", f"{sandbox_url}/stores/{store}/")
            client = make_client(
                cfg.store_url,
                timeout_s=30,
                allowed=settings.allowed_networks,
                max_connections=concurrency,
            )
            connectors[store] = SandboxConnector(cfg, None, client)
        queue = iter(events)
        answered: list[float] = []

        async def worker() -> None:
            for event in queue:
                await connectors[event.integration].send(Action.CANCEL, event)
                answered.append(time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        for connector in connectors.values():
            await connector.client.aclose()
        return steady_rate(answered)

    # the worker's event loop, so the reference differs from it only by Kafka
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())


def naive(settings: Settings, topic: str, sandbox_url: str, count: int) -> float:
    """Events per second of one consumer that decodes and sends each event, synchronously,
    committing it before the next (the events are already on the topic)."""
    codec = Codec(settings)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}naive",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    done: list[float] = []
    with httpx.Client(timeout=30) as client:
        while len(done) < count:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            record = codec.decode(message.value(), schemas.ORDER_EVENT)
            url = (
                f"{sandbox_url}/stores/{record['integration']}/orders/"
                f"{record['platform_order_id']}/actions/cancel"
            )
            client.post(url, json={"event_id": str(record["event_id"]), "action": "CANCEL"})
            consumer.commit(message=message, asynchronous=False)
            done.append(time.perf_counter())
    consumer.close()
    return steady_rate(done)


def quix(
    settings: Settings,
    topic: str,
    sandbox_url: str,
    count: int,
    received: Callable[[], int],
    timeout_s: float = 900,
) -> float:
    """Events per second of the Quix Streams peer, from the sandbox's answer times."""
    python = quix_python(settings.cache_dir or settings.var_dir / "cache")
    before = received()
    peer = subprocess.Popen(
        [
            str(python),
            str(PEER),
            "--bootstrap", settings.kafka_bootstrap,
            "--registry", settings.registry_url,
            "--input", topic,
            "--output", settings.topic("quix.outcomes"),
            "--sandbox", sandbox_url,
            "--group", f"{settings.topic_prefix}quix",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while received() - before < count:
            if peer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Quix peer stopped (exit {peer.poll()}) before {count}")
            time.sleep(0.5)
    finally:
        peer.terminate()
        peer.wait(30)
    calls = Sandbox(sandbox_url).received()
    return steady_rate([c["received_at"] for c in calls[before:]])
