"""How the bench turns times and process counters into its figures."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# the processes whose CPU is the product's; the sandbox stands in for the platforms
PRODUCT = ("worker", "broker", "history")
KAFKA_REQUESTS = "ordersync_kafka_requests_total"


def steady_rate(times: Sequence[float]) -> float:
    """Events per second between the 10th and the 90th percentile of their times: the
    steady rate, without the start-up or the last stragglers."""
    ordered = sorted(times)
    if len(ordered) < 10:
        return 0.0
    low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    count = (len(ordered) * 9) // 10 - len(ordered) // 10
    return round(count / (high - low), 1) if high > low else 0.0


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """``numerator / denominator``, or ``None`` (missing) when either is missing or the
    denominator is zero: a zero must show as missing, never as a huge figure."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, digits)


def summary_ms(values_s: Sequence[float], unanswered: int = 0) -> dict[str, float | None]:
    """p50/p95/p99/max/mean of durations given in seconds, in milliseconds.

    ``unanswered`` events never ended: they rank above every answered one, so a percentile
    that falls among them, the max and the mean are ``None`` (missing) rather than figures
    of the answered events alone."""
    ms = sorted(v * 1000 for v in values_s)
    total = len(ms) + unanswered
    if not total:
        return {}

    def at(p: float) -> float | None:
        index = min(total - 1, int(p / 100 * total))
        return round(ms[index], 2) if index < len(ms) else None

    complete = bool(ms) and not unanswered
    return {
        "p50": at(50),
        "p95": at(95),
        "p99": at(99),
        "max": round(ms[-1], 2) if complete else None,
        "mean": round(statistics.fmean(ms), 2) if complete else None,
    }


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU seconds each named process spent between ``start`` and ``read``."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: proc_stats(pid)[1] for name, pid in self.pids.items()}

    def read(self) -> dict[str, float]:
        return {name: proc_stats(pid)[1] - self._before[name] for name, pid in self.pids.items()}


def zipf_weights(count: int, s: float) -> list[float]:
    """Weights of ranks 1..count under Zipf's law with exponent ``s``."""
    return [1 / (rank**s) for rank in range(1, count + 1)]


def cpu_cost(cpu_s: Mapping[str, float], events: int, raw_ms: float | None) -> dict[str, Any]:
    """CPU milliseconds per event of each process (the workers summed as ``worker``), and
    the same in raw units: multiples of the raw store client's CPU per request. The
    ``product`` is the worker, the broker and the history; the sandbox is the platforms'
    stand-in and is reported apart."""
    per_process = {"worker": sum(v for k, v in cpu_s.items() if k.startswith("worker"))}
    per_process |= {k: v for k, v in cpu_s.items() if not k.startswith("worker")}
    ms = {k: ratio(v * 1000, events, 4) for k, v in per_process.items()}
    units = {k: ratio(v, raw_ms, 2) for k, v in ms.items()}
    parts = [units.get(k) for k in PRODUCT]
    units["product"] = None if None in parts else round(sum(p or 0.0 for p in parts), 2)
    return {"cpu_ms_per_event": ms, "raw_units": units}


def records_per_event(
    end_offsets: Mapping[str, int], prefix: str, events_topic: str, published: int, events: int
) -> dict[str, Any]:
    """Records the run wrote to Kafka per event: the end offsets of every topic of the run
    (named without the run's prefix), less what the publisher itself wrote to
    ``events_topic``."""
    written = {
        topic.removeprefix(prefix): end - published if topic == events_topic else end
        for topic, end in sorted(end_offsets.items())
    }
    return {
        "total": ratio(sum(written.values()), events),
        "per_topic": {name: ratio(count, events) for name, count in written.items()},
    }


def kafka_requests(exposition: str) -> dict[str, float] | None:
    """Kafka requests by API (``Produce``, ``Fetch``, ...) from a process's ``/metrics``,
    summed over any other label; ``None`` when the process does not expose the counter."""
    counts: dict[str, float] | None = None
    for family in text_string_to_metric_families(exposition):
        if family.name in (KAFKA_REQUESTS, KAFKA_REQUESTS.removesuffix("_total")):
            counts = counts if counts is not None else {}
            for sample in family.samples:
                if sample.name == KAFKA_REQUESTS:
                    api = sample.labels.get("api", "")
                    counts[api] = counts.get(api, 0.0) + sample.value
    return counts


def summed(counts: Iterable[dict[str, float] | None]) -> dict[str, float] | None:
    """Several processes' counts added up; ``None`` if any of them lacks the counter."""
    total: dict[str, float] = {}
    for one in counts:
        if one is None:
            return None
        for key, value in one.items():
            total[key] = total.get(key, 0.0) + value
    return total


def requests_per_event(
    before: dict[str, float] | None, after: dict[str, float] | None, events: int
) -> dict[str, float | None]:
    """Kafka requests per event between two reads of the counter, by API in lower case
    (``produce`` and ``fetch`` always there); ``None`` where the counter is missing."""
    if before is None or after is None:
        return {"produce": None, "fetch": None}
    apis = {"Produce", "Fetch", *after}
    return {
        api.lower(): ratio(after.get(api, 0.0) - before.get(api, 0.0), events, 4)
        for api in sorted(apis)
    }


def delays(
    calls: Iterable[Mapping[str, Any]], sent_at: Mapping[str, float], wanted: set[str]
) -> dict[str, Any]:
    """Over the ``wanted`` events: publish -> platform answer, the platform's own answer
    time, and ordersync's part (publish -> the call's arrival at the platform), from the
    sandbox's calls. An event never answered is counted, and ranks above every answered
    one in the percentiles of the delays it has no figure for."""
    first: dict[str, Mapping[str, Any]] = {}
    for call in calls:
        if call["event_id"] in wanted:
            first.setdefault(call["event_id"], call)
    answered = first.values()
    unanswered = len(wanted) - len(first)
    return {
        "measured": len(wanted),
        "unanswered": unanswered,
        "latency_ms": summary_ms(
            [c["received_at"] - sent_at[c["event_id"]] for c in answered], unanswered
        ),
        "platform_ms": summary_ms([c["received_at"] - c["arrived_at"] for c in answered]),
        "ordersync_ms": summary_ms(
            [c["arrived_at"] - sent_at[c["event_id"]] for c in answered], unanswered
        ),
    }
