"""``make bench``: ordersync end to end on this machine, with its references in the same run.

The platform is the sandbox, set to behave like the real ones where a scenario says so:
answers drawn from a lognormal distribution (median 150 ms, p99 1 s) and metered stores
(a leaky bucket, 429 with ``Retry-After`` when over). Scenarios (``BENCH_QUICK=1`` shrinks
them to run in a few minutes):

- ``idle``: the worker, broker and history process's CPU with nothing to do;
- (always) an unmeasured warm-up, then the yardstick: the CPU per request of ordersync's
  store client alone against this run's sandbox at 0 ms, in a process of its own;
- throughput, events published at once: ``uniform1`` and ``uniform2`` (100 stores, 0 ms,
  1 and 2 workers), ``realistic0`` and ``realistic`` (2,000 stores, Zipf-skewed traffic,
  s = 1.1, at 0 ms and at the platform's latency); each with its cost: every process's
  CPU per event, also in raw units (multiples of the yardstick), and the Kafka records
  and requests per event;
- paced, as a share of the capacity measured in this run (``uniformpaced`` of uniform1's
  throughput, ``realisticpaced`` of realistic's): 50 % and 80 %, and 1,000 events/s where
  that is at most 80 %; each with every process's CPU per platform call while measured
  (events arriving one by one cost more than a backlog taken in batches);
- ``isolation``: uniform at 50 % while one store hangs past the HTTP timeout and another
  answers 503;
- ``blackfriday``: one metered store (bucket 40, 2/s) given 20,000 events at once
  (quick: 5,000) while 1,000 other stores get 50 % of the realistic capacity: the others'
  delay, the metered store's use of its rate and its 429s, the worker's memory;
- ``peers``: the raw HTTP client at the platform's latency and at most as many calls at
  once as a worker, a naive consumer, and a Quix Streams application doing the same job.

Every throughput is the steady rate (events between the 10th and the 90th percentile of
their answer times at the platform); paced runs begin with an unmeasured stretch of the
same traffic, so a figure is the steady state, not the start-up. A run that does not
finish is reported, with its events never answered, not raised; a figure that cannot be
measured is ``null`` ("missing").

``BENCH_ONLY=uniform1,isolation`` runs a subset (with the throughput a paced run needs);
``BENCH_PORT_BASE`` (default 20000) moves the stack's ports, and its var directory to
``var/bench-<base>``, so that two runs on one machine do not meet.

Writes ``bench/results/latest.json``; the table to ``latest.md`` for a whole full run,
``latest-quick.md`` for a quick one, ``latest-partial.md`` for a full-size subset; with
``BENCH_PROFILE=1`` also ``profile-worker.md`` and ``profile-history.md`` (uniform1).
Ends with one line per target, met or NOT met.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.markdown import markdown
from bench.measure import (
    CpuMeter,
    cpu_cost,
    delays,
    proc_stats,
    ratio,
    records_per_event,
    requests_per_event,
    steady_rate,
    summed,
    zipf_weights,
)
from bench.peers import references
from bench.probes import TopicEnds, history_rows, process_kafka_requests
from bench.profile import Profiler, summary
from bench.targets import targets
from connectors.emulators.sandbox import Bucket, Latency
from connectors.emulators.sandbox import StoreModel as Model
from streams import topics
from streams.local import LocalProcess, LocalRun, serve_sandbox_stores, side_stack_settings
from streams.local.harness import AckedPublisher, Fault, Sandbox, console_logging, record
from streams.local.stack import Stack
from streams.settings import Settings
from streams.topics import ensure_topics, kafka_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
SEED = int(os.environ.get("BENCH_SEED", "11"))
DEFAULT_PORT_BASE = 20_000
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", str(DEFAULT_PORT_BASE)))
HTTP_TIMEOUT_S = 10.0
PLATFORM = Latency(median_ms=150, p99_ms=1000)  # the realistic platform's answer times
METERED = Bucket(capacity=40, drain_per_s=2)  # Nuvemshop's


def sized(quick: int, full: int) -> int:
    return quick if QUICK else full


EVENTS = int(os.environ.get("BENCH_EVENTS", str(sized(10_000, 100_000))))
REALISTIC_EVENTS = int(os.environ.get("BENCH_REALISTIC_EVENTS", str(sized(10_000, 50_000))))
FIXED_RATE = int(os.environ.get("BENCH_RATE", "1000"))  # the paced rate of the older targets
SHARES = (0.5, 0.8)  # of the capacity, the paced runs' rates
MOST_SHARE = max(SHARES)  # a fixed rate above this share of the capacity is not offered
SECONDS = int(os.environ.get("BENCH_SECONDS", str(sized(10, 60))))
WARM_S = sized(5, 10)
BF_EVENTS = sized(5_000, 20_000)
BF_SECONDS = sized(20, 60)
IDLE_S = 30
RAW_CLIENT_REQUESTS = 5_000
# the longest wait for a run's last answers, and for no answer at all: then what is
# missing is counted, not waited for
DRAIN_S = sized(300, 900)
STALL_S = 60
# after a throughput run's last answer: its outcomes reach the history, its topics go quiet
SETTLE_S = 60
SETTLE_POLL_S = 0.5

SCENARIOS = (
    "idle",
    "uniform1",
    "uniform2",
    "uniformpaced",
    "isolation",
    "realistic0",
    "realistic",
    "realisticpaced",
    "blackfriday",
    "peers",
)
# a scenario offered a share of another's throughput needs that one to run first
CAPACITY_OF = {
    "uniformpaced": "uniform1",
    "isolation": "uniform1",
    "realisticpaced": "realistic",
    "blackfriday": "realistic",
}


def selected(only: str) -> list[str]:
    """The scenarios ``BENCH_ONLY`` names (every one when empty), with those whose
    throughput they are offered a share of, in the bench's order."""
    names = {name.strip() for name in only.split(",") if name.strip()}
    if not names:
        return list(SCENARIOS)
    unknown = names - set(SCENARIOS)
    if unknown:
        raise SystemExit(
            f"BENCH_ONLY: no scenario {', '.join(sorted(unknown))}; "
            f"the scenarios: {', '.join(SCENARIOS)}"
        )
    names |= {CAPACITY_OF[name] for name in names if name in CAPACITY_OF}
    return [name for name in SCENARIOS if name in names]


def offered_rates(capacity: float | None, fixed: int = FIXED_RATE) -> list[tuple[str, int]]:
    """(label, events/s) of the paced runs: each share of ``capacity``, and the ``fixed``
    rate where it is at most the largest share; none without a capacity."""
    if not capacity:
        return []
    rates = [(f"{round(share * 100)}%", max(1, round(share * capacity))) for share in SHARES]
    if fixed <= MOST_SHARE * capacity:
        rates.append((f"{fixed}/s", fixed))
    return rates


def var_name(port_base: int) -> str:
    """``var/bench`` for the default ports; another base gets a directory of its own."""
    return "bench" if port_base == DEFAULT_PORT_BASE else f"bench-{port_base}"


def markdown_name(quick: bool, partial: bool) -> str:
    """The tracked ``latest.md`` is a whole full run's; the others have files of their own."""
    if quick:
        return "latest-quick.md"
    return "latest-partial.md" if partial else "latest.md"


def bench_settings() -> Settings:
    return side_stack_settings(
        ROOT, var_name(PORT_BASE), PORT_BASE, {"ORDERSYNC_HTTP_TIMEOUT_S": str(HTTP_TIMEOUT_S)}
    )


def ports_in_outgoing_range(settings: Settings) -> list[int]:
    """The stack's ports the kernel may also hand out to outgoing connections (one once held
    the history's port as it started)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return []
    ports = [
        settings.kafka_port,
        settings.kafka_controller_port,
        settings.registry_port,
        settings.worker_port,
        settings.worker_port + 1,  # uniform2's second worker
        settings.history_port,
        settings.sandbox_port,
    ]
    return sorted(port for port in ports if low <= port <= high)


def stores(count: int, tag: str = "s") -> list[str]:
    return [f"bench-{tag}{i:04d}" for i in range(count)]


def drain(answered: Callable[[], int], wanted: int, timeout_s: float, stall_s: float) -> None:
    """Wait until ``answered()`` reaches ``wanted``: at most ``timeout_s``, and no longer
    than ``stall_s`` without a new answer. What is still missing then is counted by the
    caller as never answered: a run that did not finish is a result too."""
    deadline = time.monotonic() + timeout_s
    last, progress_at = -1, time.monotonic()
    while (now := time.monotonic()) < deadline:
        count = answered()
        if count >= wanted:
            return
        if count > last:
            last, progress_at = count, now
        elif now - progress_at > stall_s:
            return
        time.sleep(0.5)  # the sandbox's count is all there is to wait on


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack = Stack(settings)
        self.raw_client_ms: float | None = None  # the yardstick, once measured

    # -- a fresh run of ordersync on the bench stack ---------------------------------------
    def run_settings(self, name: str) -> Settings:
        run_id = f"b{uuid.uuid4().hex[:6]}-{name}."
        return replace(
            self.settings,
            topic_prefix=run_id,
            clickhouse_dsn=f"chdb://{self.settings.var_dir / 'clickhouse' / run_id.rstrip('.')}",
        )

    def log_dir(self, settings: Settings) -> Path:
        return settings.var_dir / "log" / settings.topic_prefix.rstrip(".")

    def start(
        self, name: str, names: list[str], workers: int = 1, extra: dict[str, str] | None = None
    ) -> tuple[Settings, LocalRun, Sandbox]:
        settings = self.run_settings(name)
        ensure_topics(settings)
        run = LocalRun(settings, self.log_dir(settings), extra)
        try:
            run.start()
            for n in range(1, workers):
                run.add_worker(settings.worker_port + n).start()
            serve_sandbox_stores(settings, run, "bench", names)
        except BaseException:
            run.stop()  # the next scenario needs the ports
            raise
        return settings, run, Sandbox(run.sandbox_url)

    def workers(self, run: LocalRun) -> list[LocalProcess]:
        return [p for p in run.processes if p.name.startswith("worker")]

    def meter(self, run: LocalRun) -> CpuMeter:
        pids = {p.name: p.proc.pid if p.proc else None for p in run.processes}
        return CpuMeter(pids | {"broker": self.stack.kafka.process.pid()})

    def peak_rss(self, run: LocalRun) -> dict[str, float]:
        peaks = {p.name: proc_stats(p.proc.pid)[0] for p in run.processes if p.proc}
        peaks["worker"] = max(v for k, v in peaks.items() if k.startswith("worker"))
        return {k: round(v, 1) for k, v in peaks.items()}

    def kafka_requests(self, run: LocalRun) -> dict[str, dict[str, float] | None]:
        """The worker's (every worker's, added up) and the history's Kafka requests so far."""
        return {
            "worker": summed(process_kafka_requests(p) for p in self.workers(run)),
            "history": process_kafka_requests(run.history),
        }

    # -- the yardstick --------------------------------------------------------------------
    def raw_client(self, names: list[str]) -> dict[str, Any]:
        """ordersync's store client alone against this run's sandbox platform at 0 ms, no
        worker nor history running: its CPU per request is the bench's raw unit."""
        settings = self.run_settings("rawclient")
        run = LocalRun(settings, self.log_dir(settings))
        # as many calls at once per store as the worker begins each store with, within
        # what it may have under way in all
        per_store = max(1, min(settings.store_concurrency, settings.max_in_flight // len(names)))
        try:
            run.sandbox.start()
            measured = references.store_client_cpu(
                run.sandbox_url,
                names,
                RAW_CLIENT_REQUESTS,
                per_store,
                settings.allowed_networks,
                settings.http_timeout_s,
            )
        finally:
            run.sandbox.stop()
        # a yardstick of refused calls would measure something else: missing instead
        all_ok = set(measured["statuses"]) == {"200"}
        self.raw_client_ms = measured["cpu_ms_per_request"] if all_ok else None
        return measured

    # -- scenarios ------------------------------------------------------------------------
    def throughput(
        self,
        name: str,
        names: list[str],
        count: int,
        workers: int = 1,
        model: Model | None = None,
        weights: list[float] | None = None,
    ) -> dict[str, Any]:
        """``count`` events published as fast as the producer can; the steady rate at
        which the platform answered them, and what each event cost."""
        settings, run, sandbox = self.start(name, names, workers)
        try:
            if model is not None:
                sandbox.apply("*", model)
            chosen = choose(names, count, weights)
            batch = [record(store, f"{name}-{n}") for n, store in enumerate(chosen)]
            publisher = AckedPublisher(settings)
            ends = TopicEnds(settings, settings.topic_prefix)
            requests_before = self.kafka_requests(run)
            meter = self.meter(run)
            meter.start()
            profilers = self.profilers(run) if PROFILE and name == "uniform1" else []
            publisher.send_records(batch)
            drain(run.sandbox_received, count, 3600, 2 * STALL_S)
            cpu, settled = self.settle(run, ends, count, meter)
            requests_after = self.kafka_requests(run)
            for profiler in profilers:
                profiler.stop()
                profiler.output.with_suffix(".md").write_text(summary(profiler.output))
            wanted = {r["event_id"] for r in batch}
            answered = [c["received_at"] for c in sandbox.received() if c["event_id"] in wanted]
            cost = {
                "events": count,
                "settled": settled,
                **cpu_cost(cpu, count, self.raw_client_ms),
                "raw_client_cpu_ms_per_request": self.raw_client_ms,
                "records_per_event": records_per_event(
                    ends.read(),
                    settings.topic_prefix,
                    settings.topic(topics.EVENTS),
                    len(publisher.acked),
                    count,
                ),
                "requests_per_event": {
                    process: requests_per_event(
                        requests_before[process], requests_after[process], count
                    )
                    for process in requests_before
                },
            }
            return {
                "events": count,
                "workers": workers,
                "stores": len(names),
                "platform_median_ms": model.latency.median_ms if model and model.latency else 0,
                "throughput_eps": steady_rate(answered),
                "unanswered": count - len(answered),
                "peak_rss_mb": self.peak_rss(run),
                "cost": cost,
            }
        finally:
            run.stop()

    def settle(
        self, run: LocalRun, ends: TopicEnds, events: int, meter: CpuMeter
    ) -> tuple[dict[str, float], bool]:
        """After the last answer: wait until the history has an outcome of every event and
        neither the run's topics nor the history's rows moved for a poll. The CPU each
        process spent up to the poll before the quiet one (the work the events caused,
        not the idle time after it), and whether the run settled within ``SETTLE_S``."""
        deadline = time.monotonic() + SETTLE_S
        last: tuple[int, int] | None = None
        cpu = meter.read()
        while time.monotonic() < deadline:
            state = (sum(ends.read().values()), history_rows(run))
            if state == last and state[1] >= events:
                return cpu, True
            last, cpu = state, meter.read()
            time.sleep(SETTLE_POLL_S)  # the state is polled: nothing to wait on
        return meter.read(), False

    def profilers(self, run: LocalRun) -> list[Profiler]:
        RESULTS.mkdir(parents=True, exist_ok=True)
        return [
            Profiler(p.proc.pid, RESULTS / f"profile-{p.name}.txt")
            for p in (run.worker, run.history)
            if p.proc
        ]

    def paced(
        self,
        name: str,
        names: list[str],
        rate: int,
        capacity: float,
        model: Model | None = None,
        weights: list[float] | None = None,
        faults: dict[str, Fault] | None = None,
    ) -> dict[str, Any]:
        """``rate`` events/s for ``WARM_S`` unmeasured seconds, then ``SECONDS`` measured:
        publish -> platform answer, the platform's own answer time, and ordersync's part
        (publish -> the call's arrival at the platform), for the stores without a fault;
        and each process's CPU per platform call made while measured."""
        settings, run, sandbox = self.start(name, names)
        try:
            if model is not None:
                sandbox.apply("*", model)
            excluded = set(faults or {})
            for store, fault in (faults or {}).items():
                sandbox.apply(store, fault)
            publisher = AckedPublisher(settings)
            ends = TopicEnds(settings, settings.topic_prefix)
            # the faulty stores get their share too; they are only not measured
            warm = pace(publisher, names, rate, WARM_S, f"{name}w", weights)
            requests_before = self.kafka_requests(run)
            meter = self.meter(run)
            meter.start()
            metered_from = time.time()
            measured = pace(publisher, names, rate, SECONDS, name, weights)
            publisher.flush()
            healthy = sum(1 for r in [*warm, *measured] if r["integration"] not in excluded)
            drain(run.sandbox_received, healthy, DRAIN_S, STALL_S)
            cpu, _ = self.settle(run, ends, len(warm) + len(measured), meter)
            requests_after = self.kafka_requests(run)
            calls = sandbox.received()
            # what the processes did while metered: the calls that arrived meanwhile
            # (arrivals paced one by one cost more than a backlog taken in batches)
            called = sum(1 for c in calls if c["arrived_at"] >= metered_from)
            wanted = {r["event_id"] for r in measured if r["integration"] not in excluded}
            return {
                "offered_share": ratio(rate, capacity),
                "offered_eps": rate,
                "capacity_eps": capacity,
                "seconds": SECONDS,
                "events": len(warm) + len(measured),
                **delays(calls, publisher.sent_at, wanted),
                "cost": {
                    "calls": called,
                    **cpu_cost(cpu, called, self.raw_client_ms),
                    "requests_per_event": {
                        process: requests_per_event(
                            requests_before[process], requests_after[process], called
                        )
                        for process in requests_before
                    },
                },
            }
        finally:
            run.stop()

    def paced_runs(
        self, family: str, names: list[str], capacity: float | None, capacity_from: str, **kw: Any
    ) -> dict[str, Any]:
        """The paced run at each rate ``offered_rates`` gives for ``capacity``."""
        if not capacity:
            return {"error": f"no capacity measured ({capacity_from})"}
        runs: dict[str, Any] = {}
        for label, rate in offered_rates(capacity):
            tag = label.replace("%", "pct").replace("/s", "eps")
            runs[label] = self.paced(f"{family}{tag}", names, rate, capacity, **kw)
            print(f"{family} {label} ({rate}/s): {runs[label]['ordersync_ms']}", flush=True)
        return {
            "capacity_eps": capacity,
            "capacity_from": capacity_from,
            "fixed_rate_eps": FIXED_RATE,
            "runs": runs,
        }

    def isolation(self, names: list[str], capacity: float | None) -> dict[str, Any]:
        """Uniform at half its capacity while one store hangs past the HTTP timeout and
        another answers 503: what the healthy stores' events wait on top of the platform."""
        if not capacity:
            return {"error": "no capacity measured (uniform1)"}
        hanging, failing = names[0], names[1]
        rate = max(1, round(0.5 * capacity))
        faults = {hanging: Fault("hang"), failing: Fault("fail", status=503)}
        result = self.paced("isolation", names, rate, capacity, faults=faults)
        return result | {
            "capacity_from": "uniform1",
            "faults": {hanging: f"hang (past the {HTTP_TIMEOUT_S:g} s timeout)", failing: "503"},
            # the platform answers at once here: ordersync's part is all the excess
            "excess_ms": result["ordersync_ms"],
            "p99_excess_ms": result["ordersync_ms"].get("p99"),
        }

    def black_friday(self, capacity: float | None) -> dict[str, Any]:
        """One metered store given ``BF_EVENTS`` at once while 1,000 others get half the
        realistic capacity for ``BF_SECONDS``."""
        if not capacity:
            return {"error": "no capacity measured (realistic)"}
        others_rate = max(1, round(0.5 * capacity))
        metered, others = "bench-metered", stores(1000, "o")
        settings, run, sandbox = self.start("blackfriday", [metered, *others])
        try:
            sandbox.apply("*", Model(latency=PLATFORM))
            sandbox.apply(metered, Model(latency=PLATFORM, bucket=METERED))
            publisher = AckedPublisher(settings)
            warm = pace(publisher, others, others_rate, WARM_S, "bfw")
            started = time.time()
            publisher.send_records(record(metered, f"bf-{n}") for n in range(BF_EVENTS))
            measured = pace(publisher, others, others_rate, BF_SECONDS, "bfo")
            ended = time.time()
            publisher.flush()

            def others_answered() -> int:
                return int(sandbox.stats()["received"]) - int(sandbox.stats(metered)["received"])

            drain(others_answered, len(warm) + len(measured), DRAIN_S, STALL_S)
            peak = self.peak_rss(run)
            calls = sandbox.received()
            others_delays = delays(calls, publisher.sent_at, {r["event_id"] for r in measured})
            window = ended - started
            metered_calls = [
                c for c in calls if c["store"] == metered and c["received_at"] <= ended
            ]
            # steady use: past the first quarter of the window (the burst of 40 and the
            # worker's learning of the rate are behind), calls per second against the drain
            steady_from = started + window / 4
            steady = [c for c in metered_calls if c["received_at"] >= steady_from]
            stats = sandbox.stats(metered)
            refused, answered = stats["rate_limited"], stats["received"]
            return {
                "offered_share": ratio(others_rate, capacity),
                "offered_eps": others_rate,
                "capacity_eps": capacity,
                "capacity_from": "realistic",
                "metered_events": BF_EVENTS,
                "metered_bucket": f"{METERED.capacity:g}, {METERED.drain_per_s:g}/s",
                "others": len(others),
                "seconds": round(window, 1),
                **others_delays,
                "others_excess_ms": others_delays["ordersync_ms"],
                "others_p99_excess_ms": others_delays["ordersync_ms"].get("p99"),
                "metered_delivered": len(metered_calls),
                "metered_utilisation": ratio(
                    len(steady), METERED.drain_per_s * (ended - steady_from)
                ),
                # what its bucket allowed in the whole window: the burst, then the drain
                "metered_utilisation_window": ratio(
                    len(metered_calls), METERED.capacity + METERED.drain_per_s * window
                ),
                "metered_429_ratio": ratio(refused, refused + answered, 4),
                "worker_peak_rss_mb": peak["worker"],
            }
        finally:
            run.stop()

    def idle(self) -> dict[str, Any]:
        """CPU of each process over ``IDLE_S`` seconds with nothing published, and the
        broker's on its own before ordersync's processes start."""
        alone = CpuMeter({"broker": self.stack.kafka.process.pid()})
        alone.start()
        time.sleep(IDLE_S)  # idle is the point: nothing to wait for
        broker_alone = alone.read()["broker"] / IDLE_S
        _, run, _ = self.start("idle", stores(10, "i"))
        try:
            meter = self.meter(run)
            meter.start()
            time.sleep(IDLE_S)  # idle is the point: nothing to wait for
            cpu = meter.read()
            return {
                "seconds": IDLE_S,
                "cores": {k: round(v / IDLE_S, 4) for k, v in cpu.items()},
                "worker": round(cpu["worker"] / IDLE_S, 4),
                # what ordersync's idle processes add to the broker's own idle work
                "broker": round(cpu["broker"] / IDLE_S - broker_alone, 4),
                "broker_alone": round(broker_alone, 4),
                "history": round(cpu["history"] / IDLE_S, 4),
            }
        finally:
            run.stop()

    def peers(self, names: list[str], model: Model, weights: list[float]) -> dict[str, Any]:
        """The references, against the same sandbox, at the realistic latency."""
        settings, run, sandbox = self.start("peers", names)
        run.worker.stop()  # the references are the only consumers here
        try:
            sandbox.apply("*", model)
            raw_count = sized(10_000, 30_000)
            chosen = choose(names, raw_count, weights)
            raw = references.raw_http(
                settings,
                run.sandbox_url,
                [record(s, f"raw-{n}") for n, s in enumerate(chosen)],
                settings.max_in_flight,
            )
            slow = sized(150, 400)  # one event at a time: about 6 per second
            # each reference reads events of its own, on a topic of its own
            naive_topic, quix_topic = settings.topic("naive.events"), settings.topic("quix.events")
            create_topics(settings, [naive_topic, quix_topic])
            for topic, tag in ((naive_topic, "naive"), (quix_topic, "quix")):
                publisher = AckedPublisher(settings)
                publisher.topic = topic
                publisher.send_records(record(s, f"{tag}-{n}") for n, s in enumerate(chosen[:slow]))
            naive = references.naive(settings, naive_topic, run.sandbox_url, slow)
            quix = references.quix(
                settings, quix_topic, run.sandbox_url, slow, run.sandbox_received
            )
            return {"raw_http_rps": raw, "naive_eps": naive, "quix_eps": quix, "events": slow}
        finally:
            run.stop()


def create_topics(settings: Settings, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(kafka_config(settings))
    futures = admin.create_topics([NewTopic(n, settings.partitions, 1) for n in names])
    for future in futures.values():
        future.result(30)


def choose(names: list[str], count: int, weights: list[float] | None) -> list[str]:
    if weights is None:
        return [names[n % len(names)] for n in range(count)]
    return random.Random(SEED).choices(names, weights=weights, k=count)


def pace(
    publisher: AckedPublisher,
    names: list[str],
    rate: int,
    seconds: float,
    tag: str,
    weights: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Publish ``rate`` events/s for ``seconds`` over ``names``; the records published."""
    count = int(rate * seconds)
    if weights is None:
        chosen = [names[n % len(names)] for n in range(count)]
    else:
        chosen = random.Random(f"{SEED}-{tag}").choices(names, weights=weights, k=count)
    batch = [record(store, f"{tag}-{n}") for n, store in enumerate(chosen)]
    started = time.perf_counter()
    for n, one in enumerate(batch):
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # the pace is the point: one event every 1/rate s
        publisher.send_record(one)
    return batch


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
            "aiohttp": aiohttp.__version__,
            "chdb": chdb.__version__,
            "kafka": KAFKA_VERSION,
            "apicurio-registry": APICURIO_VERSION,
        },
    }


def attempt(name: str, scenario: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A scenario's result; one that failed is recorded as such, and the bench goes on
    with the others rather than losing the run."""
    try:
        return scenario()
    except Exception as exc:
        traceback.print_exc()
        print(f"{name}: failed: {exc}", flush=True)
        return {"error": f"{type(exc).__name__}: {exc}"}


def brief(result: dict[str, Any]) -> str:
    """A scenario's headline, for the progress lines."""
    for key in ("error", "throughput_eps", "p99_excess_ms", "others_p99_excess_ms", "quix_eps"):
        if key in result:
            return f"{key} {result[key]}"
    return "done"


def comparisons(scenarios: dict[str, Any]) -> dict[str, float | None]:
    def eps(name: str, key: str = "throughput_eps") -> float | None:
        value = (scenarios.get(name) or {}).get(key)
        return float(value) if value is not None else None

    found: dict[str, float | None] = {}
    if "realistic" in scenarios and "realistic0" in scenarios:
        found["realistic_150ms_to_0ms"] = ratio(eps("realistic"), eps("realistic0"))
    if "realistic" in scenarios and "peers" in scenarios:
        found["realistic_to_quix"] = ratio(eps("realistic"), eps("peers", "quix_eps"), 1)
    return found


def main() -> int:
    console_logging()
    chosen = selected(os.environ.get("BENCH_ONLY", ""))
    partial = len(chosen) < len(SCENARIOS)
    settings = bench_settings()
    bench = Bench(settings)
    print(
        f"bench: {'quick' if QUICK else 'full'} run, seed {SEED}, ports base {PORT_BASE}, "
        f"var/{settings.var_dir.name}; {', '.join(chosen)}",
        flush=True,
    )
    clashing = ports_in_outgoing_range(settings)
    if clashing:
        print(
            f"bench: ports {clashing} are in the kernel's range for outgoing connections: "
            "one may be taken as a process starts",
            flush=True,
        )
    # every run starts from an empty broker and history: a broker left running since
    # earlier runs holds their topics, and made the paced runs several times slower
    bench.stack.down()
    for name in ("kafka", "clickhouse", "faust"):
        shutil.rmtree(settings.var_dir / name, ignore_errors=True)
    bench.stack.up()
    uniform_stores = stores(100, "u")
    realistic_stores = stores(2000, "r")
    weights = zipf_weights(len(realistic_stores), 1.1)
    realistic_model = Model(latency=PLATFORM)
    scenarios: dict[str, Any] = {}
    raw_client: dict[str, Any] = {}

    def capacity(name: str) -> float | None:
        return (scenarios.get(name) or {}).get("throughput_eps") or None

    plan: dict[str, Callable[[], dict[str, Any]]] = {
        "idle": bench.idle,
        "uniform1": lambda: bench.throughput("uniform1", uniform_stores, EVENTS),
        "uniform2": lambda: bench.throughput("uniform2", uniform_stores, EVENTS, workers=2),
        "uniformpaced": lambda: bench.paced_runs(
            "uniformpaced", uniform_stores, capacity("uniform1"), "uniform1"
        ),
        "isolation": lambda: bench.isolation(uniform_stores, capacity("uniform1")),
        "realistic0": lambda: bench.throughput(
            "realistic0", realistic_stores, REALISTIC_EVENTS, weights=weights
        ),
        "realistic": lambda: bench.throughput(
            "realistic", realistic_stores, REALISTIC_EVENTS, model=realistic_model, weights=weights
        ),
        "realisticpaced": lambda: bench.paced_runs(
            "realisticpaced",
            realistic_stores,
            capacity("realistic"),
            "realistic",
            model=realistic_model,
            weights=weights,
        ),
        "blackfriday": lambda: bench.black_friday(capacity("realistic")),
        "peers": lambda: bench.peers(realistic_stores, realistic_model, weights),
    }
    try:
        if "idle" in chosen:
            scenarios["idle"] = attempt("idle", plan["idle"])
            print(f"idle: {scenarios['idle']}", flush=True)
        # a broker just started cost the broker and the worker about twice the CPU per
        # event in the first runs after it: this unmeasured run keeps that out of them
        attempt("warmup", lambda: bench.throughput("warmup", uniform_stores, sized(10_000, 20_000)))
        raw_client = attempt("raw client", lambda: bench.raw_client(uniform_stores))
        print(f"raw store client: {raw_client}", flush=True)
        for name in chosen:
            if name == "idle":
                continue
            scenarios[name] = attempt(name, plan[name])
            print(f"{name}: {brief(scenarios[name])}", flush=True)
    finally:
        if os.environ.get("BENCH_KEEP_STACK") != "1":
            bench.stack.down()
    result: dict[str, Any] = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {"quick": QUICK, "only": chosen if partial else None, "port_base": PORT_BASE},
        "scenarios": scenarios,
        "cost": {k: v["cost"] for k, v in scenarios.items() if "cost" in v},
        "raw_client": raw_client,
        "comparisons": comparisons(scenarios),
        "settings": {
            "quick": QUICK,
            "seed": SEED,
            "events": EVENTS,
            "realistic_events": REALISTIC_EVENTS,
            "fixed_rate_eps": FIXED_RATE,
            "shares": SHARES,
            "paced_seconds": SECONDS,
            "paced_warm_s": WARM_S,
            "black_friday_events": BF_EVENTS,
            "black_friday_seconds": BF_SECONDS,
            "raw_client_requests": RAW_CLIENT_REQUESTS,
            "platform_latency_ms": {"median": PLATFORM.median_ms, "p99": PLATFORM.p99_ms},
            "http_timeout_s": HTTP_TIMEOUT_S,
            "partitions": settings.partitions,
            "max_in_flight": settings.max_in_flight,
            "store_concurrency": settings.store_concurrency,
        },
        "machine": machine(),
    }
    found = targets(result)
    result["targets"] = [t.as_json() for t in found]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result, found)
    (RESULTS / markdown_name(QUICK, partial)).write_text(table)
    print(table)
    if partial:
        print("(BENCH_ONLY: the targets of the scenarios not run are left out)")
    print("targets:")
    for target in found:
        print(target.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
