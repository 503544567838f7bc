"""The dispatch worker's Prometheus metrics, fed with what the worker already has."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from streams.headers import ERROR_REASON
from streams.records import Outcome
from streams.worker.messages import Handled

EVENTS_IN = Counter("ordersync_events_in_total", "Records read by the dispatch worker", ["topic"])
DECISIONS = Counter(
    "ordersync_decisions_total", "Outcomes decided, by outcome and reason", ["outcome", "reason"]
)
SENDS = Counter(
    "ordersync_platform_sends_total",
    "Platform calls by platform and result",
    ["platform", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "ordersync_delivery_latency_seconds",
    "From the event's publication to the platform's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RETRIES = Counter("ordersync_retries_scheduled_total", "Events sent to a retry topic", ["topic"])
# tenant and integration of an event that reached a store ("" for one that never could:
# undecodable, or naming no integration), so an alert can say which integration fails
DEAD_LETTERS = Counter(
    "ordersync_dead_letters_total",
    "Records sent to the dead-letter topic",
    ["tenant", "integration", "reason"],
)
CONSUMER_LAG = Gauge(
    "ordersync_consumer_lag", "Records behind the end of the partition", ["topic", "partition"]
)

READY = Gauge(
    "ordersync_worker_ready",
    "1 once the worker takes events (integrations read, producer and schemas warmed)",
)

SENT_LIKE = {Outcome.SENT, Outcome.RETRY_SCHEDULED, Outcome.DEAD_LETTERED}


@lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: the client checks and builds its key on
    every call, and each event asks for several (the labels' values are few: topics,
    partitions, outcomes, reasons, platforms)."""
    return metric.labels(*labels)


def observe_handled(handled: Handled, published_at: float | None) -> None:
    for outcome in handled.outcomes:
        child(DECISIONS, outcome.outcome.value, outcome.reason_code).inc()
        if outcome.action and outcome.outcome in SENT_LIKE and outcome.attempt > 0:
            child(SENDS, outcome.platform, outcome.outcome.value).inc()
            if outcome.outcome is Outcome.SENT and published_at:
                DELIVERY_LATENCY.observe(max(0.0, time.time() - published_at))
    if handled.retry is not None:
        child(RETRIES, handled.retry.topic).inc()
    if handled.dead_letters:
        tenant, integration = _failed_at(handled)
        for dead in handled.dead_letters:
            reason = dict(dead.headers).get(ERROR_REASON, b"").decode()
            child(DEAD_LETTERS, tenant, integration, reason).inc()


def _failed_at(handled: Handled) -> tuple[str, str]:
    """The integration a dead-lettered event failed at. An INVALID event's names come
    from the input itself, unchecked: not made labels, whose count must stay bounded."""
    for outcome in handled.outcomes:
        if outcome.outcome is Outcome.DEAD_LETTERED:
            return outcome.tenant, outcome.integration
    return "", ""
