"""``make bench``: ordersync end to end on this machine, with its references in the same run.

Scenarios (``BENCH_QUICK=1`` shrinks them to run in a few minutes):

- throughput: N events over 100 stores published as fast as possible; events/s from the
  first publish until the last outcome row is in ClickHouse; the same with two workers;
- latency: a paced stream (1,000 events/s for 60 s); publish -> platform received, per event,
  after a warm-up of one event per store that is not measured;
- isolation: the latency scenario while one store hangs until the timeout and another
  answers 503 to everything; p99 of the healthy stores;
- references, same sandbox: the connector's HTTP client alone with the worker's concurrency
  (raw HTTP limit) and a naive consumer that decodes and sends each event synchronously;
- memory and CPU: peak RSS of the worker, the history process and the broker; CPU seconds
  per 1,000 events.

Writes ``bench/results/latest.json`` and ``bench/results/latest.md``; with ``BENCH_PROFILE=1``
also ``profile-worker.md`` and ``profile-history.md``, the hottest functions of the worker and
of the history process during the 1-worker throughput run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from confluent_kafka import Consumer

import schemas
from bench.profile import Profiler, summary
from connectors.http import make_client
from connectors.sandbox import SandboxConnector
from streams import topics
from streams.codec import Codec
from streams.local import (
    LocalProcess,
    LocalRun,
    http_json,
    serve_sandbox_stores,
    side_stack_settings,
)
from streams.local.stack import Stack
from streams.local.stack.process import wait_until
from streams.ops.publish import make_producer
from streams.records import Action, EventType, IntegrationConfig, OrderEvent, order_key
from streams.settings import Settings
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
STORES = int(os.environ.get("BENCH_STORES", "100"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "10000" if QUICK else "100000"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10" if QUICK else "60"))
STORE_LATENCY_MS = float(os.environ.get("BENCH_STORE_LATENCY_MS", "0"))
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
HTTP_TIMEOUT_S = 2.0
NOW = datetime.now(UTC)


def bench_settings() -> Settings:
    return side_stack_settings(
        ROOT,
        "bench",
        20_000,
        {
            "ORDERSYNC_HTTP_TIMEOUT_S": str(HTTP_TIMEOUT_S),
            # the worker inherits the environment; the raw-HTTP reference uses the same value
            "ORDERSYNC_MAX_IN_FLIGHT": os.environ.get(
                "ORDERSYNC_MAX_IN_FLIGHT", str(Settings.max_in_flight)
            ),
            "ORDERSYNC_STORE_CONCURRENCY": os.environ.get(
                "ORDERSYNC_STORE_CONCURRENCY", str(Settings.store_concurrency)
            ),
        },
    )


def fresh(settings: Settings, name: str) -> Settings:
    run = f"b{uuid.uuid4().hex[:6]}-{name}."
    return replace(
        settings,
        topic_prefix=run,
        clickhouse_dsn=f"chdb://{settings.var_dir / 'clickhouse' / run.rstrip('.')}",
    )


def store_names() -> list[str]:
    return [f"bench-{i:03d}" for i in range(STORES)]


def records(count: int, tag: str) -> list[dict[str, Any]]:
    stores = store_names()
    out = []
    for n in range(count):
        store = stores[n % len(stores)]
        out.append(
            {
                "event_id": str(uuid.uuid4()),
                "tenant": "bench",
                "integration": store,
                "erp_order_id": f"E-{tag}-{n}",
                "platform_order_id": f"{tag}-{n // 4}",
                "sequence": n % 4,
                "occurred_at": NOW,
                "producer": "bench",
                "event_type": EventType.CANCELED.value,
                "invoice": None,
                "shipment": None,
                "delivery": None,
                "cancellation": {"reason": "bench", "cancelled_at": NOW},
                "status": None,
            }
        )
    return out


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.codec = Codec(settings)
        self.producer = make_producer(settings)
        self.topic = settings.topic(topics.EVENTS)
        self.sent_at: dict[str, float] = {}

    def send(self, record: dict[str, Any]) -> None:
        key = order_key(record["tenant"], record["integration"], record["platform_order_id"])
        value = self.codec.encode(self.topic, schemas.ORDER_EVENT, record)
        while True:
            try:
                self.sent_at[record["event_id"]] = time.time()
                self.producer.produce(self.topic, key=key.encode(), value=value)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self) -> None:
        self.producer.flush(60)


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack = Stack(settings)

    def start(self, name: str, workers: int = 1) -> tuple[Settings, LocalRun]:
        settings = fresh(self.settings, name)
        ensure_topics(settings)
        run = LocalRun(settings, settings.var_dir / "log" / settings.topic_prefix.rstrip("."))
        run.start()
        for n in range(1, workers):
            run.add_worker(settings.worker_port + n).start()
        serve_sandbox_stores(settings, run, "bench", store_names())
        if STORE_LATENCY_MS:
            for store in store_names():
                self.fault(run, store, 0, STORE_LATENCY_MS)
        return settings, run

    def fault(self, run: LocalRun, store: str, status: int, delay_ms: float = 0) -> None:
        http_json(
            f"{run.sandbox_url}/_faults",
            {"store": store, "status": status, "count": -1, "delay_ms": delay_ms},
        )

    def rows(self, run: LocalRun) -> int:
        return int(run.api("/api/summary")["total"]["rows"])

    def workers(self, run: LocalRun) -> list[LocalProcess]:
        return [p for p in run.processes if p.name.startswith("worker")]

    # -- scenarios -------------------------------------------------------------------------
    def throughput(self, workers: int = 1) -> dict[str, Any]:
        settings, run = self.start(f"throughput{workers}", workers)
        try:
            batch = records(EVENTS, "t")
            publisher = Publisher(settings)
            cpu_before = {
                p.name: proc_stats(p.proc.pid)[1]
                for p in [*self.workers(run), run.history]
                if p.proc
            }
            # the rest of the machine's share: the same two cores run these too
            others = {"sandbox": run.sandbox.proc.pid if run.sandbox.proc else None}
            others["broker"] = self.stack.kafka.process.pid()
            others_before = {name: proc_stats(pid)[1] for name, pid in others.items() if pid}
            profilers = []
            if PROFILE and workers == 1:
                RESULTS.mkdir(parents=True, exist_ok=True)
                for process in (run.worker, run.history):
                    if process.proc:
                        output = RESULTS / f"profile-{process.name}.txt"
                        profilers.append(Profiler(process.proc.pid, output))
            started = time.time()
            for record in batch:
                publisher.send(record)
            publisher.flush()
            published = time.time()
            wait_until(lambda: self.rows(run) >= EVENTS, 1800, f"{EVENTS} outcome rows", 0.2)
            finished = time.time()
            for profiler in profilers:
                profiler.stop()
                profiler.output.with_suffix(".md").write_text(summary(profiler.output))
            others_cpu = {
                f"{name}_cpu_s_per_1000": round(
                    (proc_stats(pid)[1] - others_before[name]) * 1000 / EVENTS, 3
                )
                for name, pid in others.items()
                if pid
            }
            stats = {
                p.name: proc_stats(p.proc.pid) for p in [*self.workers(run), run.history] if p.proc
            }
            worker_cpu = sum(stats[p.name][1] - cpu_before[p.name] for p in self.workers(run))
            return {
                "events": EVENTS,
                "workers": workers,
                "throughput_eps": round(EVENTS / (finished - started), 1),
                "publish_seconds": round(published - started, 2),
                "seconds": round(finished - started, 2),
                "worker_peak_rss_mb": round(max(stats[p.name][0] for p in self.workers(run)), 1),
                "history_peak_rss_mb": round(stats["history"][0], 1),
                "worker_cpu_s_per_1000": round(worker_cpu * 1000 / EVENTS, 3),
                "history_cpu_s_per_1000": round(
                    (stats["history"][1] - cpu_before["history"]) * 1000 / EVENTS, 3
                ),
                **others_cpu,
            }
        finally:
            run.stop()

    def paced(self, name: str, bad_stores: bool) -> dict[str, Any]:
        settings, run = self.start(name)
        try:
            stores = store_names()
            excluded = set()
            if bad_stores:
                hang, failing = stores[0], stores[1]
                self.fault(run, hang, 0, (HTTP_TIMEOUT_S + 5) * 1000)  # answers after the timeout
                self.fault(run, failing, 503)
                excluded = {hang, failing}
            # Not measured: one event per healthy store first, so the stream meets a warm
            # system (the publisher connected, a connection open to every store), as the
            # events of a store that has been running do.
            warm = [r for r in records(STORES, f"{name[:3]}w") if r["integration"] not in excluded]
            publisher = Publisher(settings)
            for record in warm:
                publisher.send(record)
            publisher.flush()
            wait_until(
                lambda: run.sandbox_received() >= len(warm),
                120,
                "the warm-up events at the platform",
                0.2,
            )
            batch = records(RATE * SECONDS, name[:3])
            started = time.perf_counter()
            for n, record in enumerate(batch):
                due = started + n / RATE
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                publisher.send(record)
            publisher.flush()
            healthy = [r for r in batch if r["integration"] not in excluded]
            wanted = {r["event_id"] for r in healthy}

            def received_all() -> bool:
                received = run.sandbox_received()
                return received >= len(warm) + len(wanted)

            wait_until(received_all, 600, "the healthy stores' events at the platform", 0.5)
            calls = http_json(f"{run.sandbox_url}/_received", timeout=60)
            latencies = sorted(
                (c["received_at"] - publisher.sent_at[c["event_id"]]) * 1000
                for c in calls
                if c["event_id"] in wanted
            )

            def pct(p: float) -> float:
                return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)

            return {
                "rate_eps": RATE,
                "seconds": SECONDS,
                "events": len(batch),
                "measured": len(latencies),
                "p50": pct(50),
                "p95": pct(95),
                "p99": pct(99),
                "max": round(latencies[-1], 2),
                "mean": round(statistics.fmean(latencies), 2),
            }
        finally:
            run.stop()

    def raw_http(self, concurrency: int) -> float:
        """The connector's HTTP client alone: the same calls, the same sandbox, no Kafka."""
        settings, run = self.start("raw")
        try:
            count = min(EVENTS, 20000)
            events = [OrderEvent.from_avro(r) for r in records(count, "r")]

            async def go() -> float:
                clients = {}
                connectors = {}
                for store in store_names():
                    cfg = IntegrationConfig(
                        store, "bench", "sandbox", f"{run.sandbox_url}/stores/{store}/"
                    )
                    clients[store] = make_client(
                        cfg.store_url, timeout_s=10, allowed=settings.allowed_networks
                    )
                    connectors[store] = SandboxConnector(cfg, None, clients[store])
                queue = iter(events)

                async def worker() -> None:
                    for event in queue:
                        await connectors[event.integration].send(Action.CANCEL, event)

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed = time.perf_counter() - started
                for client in clients.values():
                    await client.aclose()
                return count / elapsed

            # the worker's event loop, so the reference differs from it only by Kafka
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return round(runner.run(go()), 1)
        finally:
            run.stop()

    def naive(self) -> float:
        """A first implementation: one consumer, decode, send synchronously with httpx."""
        settings, run = self.start("naive")
        run.worker.stop()  # the naive loop is the only consumer here
        try:
            count = min(EVENTS, 5000)
            batch = records(count, "n")
            publisher = Publisher(settings)
            for record in batch:
                publisher.send(record)
            publisher.flush()
            codec = Codec(settings)
            consumer = Consumer(
                {
                    "bootstrap.servers": settings.kafka_bootstrap,
                    "group.id": f"{settings.topic_prefix}naive",
                    "auto.offset.reset": "earliest",
                }
            )
            consumer.subscribe([settings.topic(topics.EVENTS)])
            done = 0
            started = time.perf_counter()
            with httpx.Client(timeout=10) as client:
                while done < count:
                    message = consumer.poll(1.0)
                    if message is None or message.error():
                        continue
                    record = codec.decode(message.value(), schemas.ORDER_EVENT)
                    url = f"{run.sandbox_url}/stores/{record['integration']}/orders/{record['platform_order_id']}/actions/cancel"
                    client.post(url, json={"event_id": str(record["event_id"]), "action": "CANCEL"})
                    consumer.commit(message=message, asynchronous=False)
                    done += 1
            elapsed = time.perf_counter() - started
            consumer.close()
            return round(count / elapsed, 1)
        finally:
            run.stop()


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import aiohttp
    import chdb
    import confluent_kafka
    import faust

    from streams.local.stack.services import APICURIO_VERSION, KAFKA_VERSION

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "versions": {
            "faust-streaming": faust.__version__,
            "confluent-kafka": confluent_kafka.version()[0],
            "httpx": httpx.__version__,
            "aiohttp": aiohttp.__version__,
            "chdb": chdb.__version__,
            "kafka": KAFKA_VERSION,
            "apicurio-registry": APICURIO_VERSION,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    t = result["throughput"]
    lines = [
        f"# Benchmark — {result['finished_at']} ({'quick' if result['settings']['quick'] else 'full'} run)",
        "",
        f"Machine: {result['machine']['cores']} cores, {result['machine']['cpu']}.",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| throughput, 1 worker (events/s, publish → outcome row in ClickHouse) | {result['throughput_eps']} | ≥ 5,000 |",
        f"| throughput, 2 workers (events/s) | {result['scaling']['two_workers_eps']} | (the same 2 cores) |",
        f"| raw HTTP limit (requests/s, same client, same concurrency, no Kafka) | {result['raw_http_rps']} | |",
        f"| naive consumer (events/s, decode + synchronous httpx) | {result['naive_eps']} | |",
        f"| ratio to raw HTTP | {result['ratio_to_raw']} | ≥ 0.6 |",
        f"| ratio to naive | {result['ratio_to_naive']} | |",
        f"| latency at {result['settings']['rate_eps']} events/s: p50 / p95 / p99 / max (ms) | "
        f"{result['latency_ms']['p50']} / {result['latency_ms']['p95']} / {result['latency_ms']['p99']} / {result['latency_ms']['max']} | p50 ≤ 10, p99 ≤ 50 |",
        f"| isolation: healthy stores' p99 (ms) while 1 store hangs and 1 answers 503 | {result['isolation_p99_ms']} | ≤ 100 |",
        f"| worker peak RSS (MiB) | {result['worker_peak_rss_mb']} | ≤ 512 |",
        f"| history peak RSS, embedded ClickHouse included (MiB) | {result['history_peak_rss_mb']} | ≤ 1,024 |",
        f"| broker peak RSS (MiB) | {result['broker_peak_rss_mb']} | |",
        f"| worker CPU seconds per 1,000 events | {t['worker_cpu_s_per_1000']} | |",
        f"| history CPU seconds per 1,000 events | {t['history_cpu_s_per_1000']} | |",
        f"| sandbox platform / broker CPU seconds per 1,000 events (same machine) | "
        f"{t.get('sandbox_cpu_s_per_1000')} / {t.get('broker_cpu_s_per_1000')} | |",
        "",
        f"Settings: {json.dumps(result['settings'])}",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    settings = bench_settings()
    bench = Bench(settings)
    print(
        f"bench: {'quick' if QUICK else 'full'} run, {EVENTS} events, {STORES} stores", flush=True
    )
    # every run starts from an empty broker and history: a broker left running since
    # earlier runs holds their topics, and made the paced runs several times slower
    bench.stack.down()
    for name in ("kafka", "clickhouse", "faust"):
        shutil.rmtree(settings.var_dir / name, ignore_errors=True)
    bench.stack.up()
    try:
        throughput = bench.throughput(1)
        print(f"throughput: {throughput['throughput_eps']} events/s", flush=True)
        two = bench.throughput(2)
        print(f"throughput with 2 workers: {two['throughput_eps']} events/s", flush=True)
        latency = bench.paced("latency", bad_stores=False)
        print(f"latency: {latency}", flush=True)
        isolation = bench.paced("isolation", bad_stores=True)
        print(f"isolation: {isolation}", flush=True)
        raw = bench.raw_http(concurrency=settings.max_in_flight)
        print(f"raw HTTP: {raw} requests/s", flush=True)
        naive = bench.naive()
        print(f"naive: {naive} events/s", flush=True)
        kafka_pid = bench.stack.kafka.process.pid()
        broker_rss = proc_stats(kafka_pid)[0] if kafka_pid else None
    finally:
        if os.environ.get("BENCH_KEEP_STACK") != "1":
            bench.stack.down()
    result = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "throughput_eps": throughput["throughput_eps"],
        "raw_http_rps": raw,
        "naive_eps": naive,
        "ratio_to_raw": round(throughput["throughput_eps"] / raw, 3),
        "ratio_to_naive": round(throughput["throughput_eps"] / naive, 2),
        "latency_ms": {k: latency[k] for k in ("p50", "p95", "p99", "max")},
        "isolation_p99_ms": isolation["p99"],
        "worker_peak_rss_mb": max(throughput["worker_peak_rss_mb"], two["worker_peak_rss_mb"]),
        "history_peak_rss_mb": max(throughput["history_peak_rss_mb"], two["history_peak_rss_mb"]),
        "broker_peak_rss_mb": round(broker_rss, 1) if broker_rss else None,
        "throughput": throughput,
        "scaling": {
            "one_worker_eps": throughput["throughput_eps"],
            "two_workers_eps": two["throughput_eps"],
        },
        "latency": latency,
        "isolation": isolation,
        "settings": {
            "quick": QUICK,
            "events": EVENTS,
            "stores": STORES,
            "rate_eps": RATE,
            "paced_seconds": SECONDS,
            "paced_warm_up": "one event per healthy store before the stream, not measured",
            "store_latency_ms": STORE_LATENCY_MS,
            "http_timeout_s": HTTP_TIMEOUT_S,
            "partitions": settings.partitions,
            "max_in_flight": settings.max_in_flight,
            "store_concurrency": settings.store_concurrency,
        },
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (RESULTS / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
