"""The bench's table in markdown: only what ran, each figure labelled with what it measures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bench.targets import Target, number

THROUGHPUT = ("uniform1", "uniform2", "realistic0", "realistic")
PACED = ("uniformpaced", "realisticpaced")


def _ms(summary: Mapping[str, Any] | None, *keys: str) -> str:
    """``p50 / p99`` of a summary in ms; "missing" where a percentile is."""
    summary = summary or {}
    return " / ".join(number(summary.get(k)) for k in keys)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows],
        "",
    ]


def _failed(scenarios: Mapping[str, Any]) -> list[str]:
    errors = [(k, v["error"]) for k, v in scenarios.items() if isinstance(v, dict) and "error" in v]
    if not errors:
        return []
    return ["## Scenarios that failed", "", *[f"- `{k}`: {e}" for k, e in errors], ""]


def _targets(found: Sequence[Target]) -> list[str]:
    rows = [
        ("met" if t.met else "**NOT met**", t.name, number(t.figure),
         f"{'≤' if t.at_most else '≥'} {number(t.limit)}", t.note)
        for t in found
    ]  # fmt: skip
    return ["## Targets", "", *_table(("", "target", "figure", "limit", "note"), rows)]


def _throughput(scenarios: Mapping[str, Any]) -> list[str]:
    rows = [
        (name, s["stores"], s["workers"], f"{s['platform_median_ms']} ms", s["events"],
         number(s["throughput_eps"]), s["unanswered"], s["peak_rss_mb"].get("worker"))
        for name in THROUGHPUT
        if "throughput_eps" in (s := scenarios.get(name) or {})
    ]  # fmt: skip
    if not rows:
        return []
    header = (
        "scenario", "stores", "workers", "platform's median answer time",
        "events published at once", "steady rate of the platform's answers (events/s)",
        "events never answered", "worker peak RSS (MiB)",
    )  # fmt: skip
    return ["## Throughput", "", *_table(header, rows)]


def _cost(cost: Mapping[str, Any], raw: Mapping[str, Any] | None) -> list[str]:
    if not cost:
        return []
    yardstick = (
        f"Raw units: multiples of {number(raw.get('cpu_ms_per_request'))} ms, the CPU per request "
        f"of ordersync's store client alone in a process of its own ({raw.get('requests')} POSTs "
        f"of the sandbox's shape, {raw.get('concurrency')} at once over {raw.get('stores')} "
        f"stores, this run's sandbox at 0 ms; answers {raw.get('statuses')})."
        if raw and "cpu_ms_per_request" in raw
        else "Raw units: missing (the raw store client could not be measured)."
    )

    def both(c: Mapping[str, Any], part: str) -> str:
        return f"{number(c['cpu_ms_per_event'].get(part))} ms ({number(c['raw_units'].get(part))})"

    cpu_rows = [
        (name, both(c, "worker"), both(c, "broker"), both(c, "history"),
         number(c["raw_units"].get("product")), both(c, "sandbox"),
         "" if c.get("settled") else "not settled: the last outcomes were still on their way")
        for name, c in cost.items()
    ]  # fmt: skip
    cpu_header = (
        "scenario", "worker CPU per event (raw units)", "broker CPU per event (raw units)",
        "history CPU per event (raw units)", "product: worker + broker + history (raw units)",
        "sandbox CPU per event, the platforms' stand-in, not the product's (raw units)", "",
    )  # fmt: skip

    def requests(c: Mapping[str, Any], process: str) -> str:
        per = c["requests_per_event"].get(process) or {}
        return f"{number(per.get('produce'))} / {number(per.get('fetch'))}"

    kafka_rows = [
        (name, number(c["records_per_event"]["total"]),
         ", ".join(f"{t}: {number(v)}" for t, v in c["records_per_event"]["per_topic"].items()),
         requests(c, "worker"), requests(c, "history"))
        for name, c in cost.items()
    ]  # fmt: skip
    kafka_header = (
        "scenario", "Kafka records written per event (every topic of the run, less the event published)",
        "by topic", "worker: Kafka produce / fetch requests per event",
        "history: Kafka produce / fetch requests per event",
    )  # fmt: skip
    return [
        "## CPU per event",
        "",
        yardstick,
        "",
        *_table(cpu_header, cpu_rows),
        *_table(kafka_header, kafka_rows),
    ]


def _paced_cost(cost: Mapping[str, Any] | None) -> str:
    """``worker / broker / history`` ms per call, and the same in raw units."""
    cost = cost or {}
    ms, units = cost.get("cpu_ms_per_event") or {}, cost.get("raw_units") or {}
    processes = ("worker", "broker", "history")
    return (
        " / ".join(number(ms.get(p)) for p in processes)
        + " ("
        + " / ".join(number(units.get(p)) for p in processes)
        + ")"
    )


def _paced(scenarios: Mapping[str, Any]) -> list[str]:
    rows: list[tuple[Any, ...]] = []
    for family in PACED:
        paced = scenarios.get(family) or {}
        for label, r in (paced.get("runs") or {}).items():
            rows.append(
                (f"{family} {label}",
                 f"{number(r['offered_share'])} × {number(r['capacity_eps'])} = {r['offered_eps']}",
                 r["measured"], r["unanswered"],
                 _ms(r["ordersync_ms"], "p50", "p99"), _ms(r["latency_ms"], "p50", "p99"),
                 _ms(r["platform_ms"], "p50", "p99"), _paced_cost(r.get("cost")),
                 _ms(((r.get("cost") or {}).get("requests_per_event") or {}).get("worker"),
                     "produce", "fetch"))
            )  # fmt: skip
    if not rows:
        return []
    header = (
        "run", "offered: share × capacity (events/s) = events/s", "events measured",
        "never answered", "ordersync's part: publish → call arrives p50 / p99 (ms)",
        "publish → platform answer p50 / p99 (ms)", "the platform's own answer time p50 / p99 (ms)",
        "CPU per call while measured: worker / broker / history ms (raw units)",
        "worker: Kafka produce / fetch requests per call",
    )  # fmt: skip
    note = (
        "Each rate offered for an unmeasured warm-up stretch, then measured; a percentile that "
        "falls among the events never answered is missing. CPU per call: each process's CPU "
        "while measured, per platform call that arrived meanwhile."
    )
    return ["## Paced", "", note, "", *_table(header, rows)]


def _black_friday(bf: Mapping[str, Any] | None) -> list[str]:
    if not bf or "error" in bf:
        return []
    rows = [
        (f"the other {bf['others']} stores' offered rate: share × capacity (events/s) = events/s",
         f"{number(bf['offered_share'])} × {number(bf['capacity_eps'])} = {bf['offered_eps']}"),
        (f"events to the metered store at once (bucket {bf['metered_bucket']})", bf["metered_events"]),
        ("others' events measured / never answered", f"{bf['measured']} / {bf['unanswered']}"),
        ("others' excess: publish → call arrives, p50 / p99 (ms)", _ms(bf["others_excess_ms"], "p50", "p99")),
        ("others' publish → platform answer, p50 / p99 (ms)", _ms(bf["latency_ms"], "p50", "p99")),
        ("metered store's steady use of its rate (after the window's first quarter)", number(bf["metered_utilisation"])),
        ("metered store's use of its rate over the whole window, burst included", number(bf["metered_utilisation_window"])),
        ("metered store's calls answered 429 (share)", number(bf["metered_429_ratio"])),
        ("worker peak RSS with the metered store's events waiting (MiB)", bf["worker_peak_rss_mb"]),
    ]  # fmt: skip
    return ["## Black Friday", "", *_table(("measure", "value"), rows)]


def _isolation(iso: Mapping[str, Any] | None) -> list[str]:
    if not iso or "error" in iso:
        return []
    rows = [
        ("offered: share × capacity (events/s) = events/s",
         f"{number(iso['offered_share'])} × {number(iso['capacity_eps'])} = {iso['offered_eps']}"),
        ("faults", ", ".join(f"{store}: {kind}" for store, kind in iso["faults"].items())),
        ("healthy stores' events measured / never answered", f"{iso['measured']} / {iso['unanswered']}"),
        ("healthy stores' excess: publish → call arrives, p50 / p99 (ms)", _ms(iso["excess_ms"], "p50", "p99")),
        ("healthy stores' publish → platform answer, p50 / p99 (ms)", _ms(iso["latency_ms"], "p50", "p99")),
    ]  # fmt: skip
    return ["## Isolation", "", *_table(("measure", "value"), rows)]


def _idle(idle: Mapping[str, Any] | None) -> list[str]:
    if not idle or "error" in idle:
        return []
    rows = [
        ("worker CPU (cores)", number(idle["worker"])),
        ("CPU the worker adds to the broker (cores): the broker beside ordersync's idle "
         "processes, less the broker alone", number(idle["broker"])),
        ("history CPU (cores)", number(idle["history"])),
        ("the broker alone (cores)", number(idle["broker_alone"])),
    ]  # fmt: skip
    return [
        f"## Idle ({idle['seconds']} s, nothing published)",
        "",
        *_table(("measure", "value"), rows),
    ]


def _peers(peers: Mapping[str, Any] | None, comparisons: Mapping[str, Any]) -> list[str]:
    if not peers or "error" in peers:
        return []
    rows = [
        ("Quix Streams peer, realistic latency (events/s)", number(peers["quix_eps"])),
        ("naive consumer, realistic latency (events/s)", number(peers["naive_eps"])),
        ("raw HTTP client, realistic latency, as many at once as a worker (calls/s)", number(peers["raw_http_rps"])),
        ("ordersync's realistic throughput as a multiple of the Quix peer's", number(comparisons.get("realistic_to_quix"))),
    ]  # fmt: skip
    return ["## References", "", *_table(("measure", "value"), rows)]


def markdown(result: Mapping[str, Any], found: Sequence[Target]) -> str:
    scenarios: Mapping[str, Any] = result["scenarios"]
    run = result["run"]
    kind = "quick" if run["quick"] else "full"
    only = f", only {', '.join(run['only'])}" if run.get("only") else ""
    comparisons: Mapping[str, Any] = result.get("comparisons", {})
    lines = [
        f"# Benchmark — {result['finished_at']} ({kind} run{only})",
        "",
        f"Machine: {result['machine']['cores']} cores, {result['machine']['cpu']}; every process "
        "(broker, registry, sandbox platform, worker, history, references) on it. "
        '"missing": a figure that could not be measured.',
        "",
        *_failed(scenarios),
        *_targets(found),
        *_throughput(scenarios),
        *_cost(result.get("cost", {}), result.get("raw_client")),
        *_paced(scenarios),
        *_black_friday(scenarios.get("blackfriday")),
        *_isolation(scenarios.get("isolation")),
        *_idle(scenarios.get("idle")),
        *_peers(scenarios.get("peers"), comparisons),
    ]
    if "realistic_150ms_to_0ms" in comparisons:
        lines += [
            "Realistic throughput at 150 ms as a share of its own at 0 ms: "
            f"{number(comparisons['realistic_150ms_to_0ms'])}.",
            "",
        ]
    lines.append(f"Settings: {json.dumps(result['settings'])}")
    return "\n".join(lines) + "\n"
