"""The bench's references, measured against the same sandbox in the same run:

- ``store_client_cpu``: the CPU of ordersync's own store client alone per request, in a
  process of its own: the yardstick the bench divides every process's CPU per event by
  (its "raw units");
- ``raw_http``: the connector's own HTTP client, no Kafka, as many calls at once as a
  worker may have (``ORDERSYNC_MAX_IN_FLIGHT``): the limit of what the platform and the
  client can do;
- ``naive``: a first implementation: one consumer, decode, send synchronously with httpx,
  commit each event;
- ``quix``: the Quix Streams peer (``quix_peer.py``), run in its own venv.
"""

from __future__ import annotations

import asyncio
import ipaddress
import multiprocessing
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvloop
from confluent_kafka import Consumer

import schemas
from bench.measure import steady_rate
from bench.peers.quix_env import quix_python
from connectors.base import PlatformRequest
from connectors.http import make_client
from connectors.sandbox import SandboxConnector, action_request
from streams.codec import Codec
from streams.local.harness import Sandbox, record
from streams.records import Action, IntegrationConfig, OrderEvent
from streams.settings import Settings

PEER = Path(__file__).resolve().parent / "quix_peer.py"
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def store_client_cpu(
    sandbox_url: str,
    stores: Sequence[str],
    requests: int,
    per_store: int,
    allowed: Networks,
    timeout_s: float,
) -> dict[str, Any]:
    """CPU milliseconds per request of ordersync's store client alone (``make_client``):
    ``requests`` POSTs of the sandbox connector's shape, spread over ``stores`` with one
    client each and ``per_store`` calls at once per store, as the worker holds them.

    It runs in a fresh process and counts that process's CPU around the measured calls
    only: not the bench's own threads, nor the imports and the requests' making."""
    spawn = multiprocessing.get_context("spawn")  # not a fork of the bench and its threads
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        job = pool.submit(
            _store_client_cpu, sandbox_url, list(stores), requests, per_store, allowed, timeout_s
        )
        return job.result(timeout=600)


def _store_client_cpu(
    sandbox_url: str,
    stores: list[str],
    requests: int,
    per_store: int,
    allowed: Networks,
    timeout_s: float,
) -> dict[str, Any]:
    # one unmeasured call per slot first, so every pool holds its connections, as a
    # worker's do once it is under way
    warm = len(stores) * per_store

    def calls(tag: str, count: int) -> dict[str, list[PlatformRequest]]:
        by_store: dict[str, list[PlatformRequest]] = {store: [] for store in stores}
        for n in range(count):
            store = stores[n % len(stores)]
            event = OrderEvent.from_avro(record(store, f"{tag}-{n}"))
            by_store[store].append(action_request(Action.CANCEL, event, None))
        return by_store

    warm_calls, measured_calls = calls("rawcpuw", warm), calls("rawcpu", requests)
    statuses: Counter[int] = Counter()

    async def go() -> dict[str, Any]:
        clients = {
            store: make_client(
                f"{sandbox_url}/stores/{store}/", timeout_s=timeout_s, allowed=allowed
            )
            for store in stores
        }

        async def send(store: str, queue: Iterator[PlatformRequest]) -> None:
            for request in queue:
                response = await clients[store].request(
                    request.method, request.path, json=request.json, headers=request.headers
                )
                statuses[response.status_code] += 1

        async def all_of(by_store: dict[str, list[PlatformRequest]]) -> None:
            queues = {store: iter(queue) for store, queue in by_store.items()}
            await asyncio.gather(
                *(send(store, queue) for store, queue in queues.items() for _ in range(per_store))
            )

        await all_of(warm_calls)
        statuses.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        await all_of(measured_calls)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        for client in clients.values():
            await client.aclose()
        return {
            "requests": requests,
            "stores": len(stores),
            "concurrency": len(stores) * per_store,
            "cpu_ms_per_request": round(cpu * 1000 / requests, 4),
            "requests_per_s": round(requests / wall, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
        }

    # the worker's event loop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())


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
