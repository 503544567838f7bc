"""The history process's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SINK_BATCH = Histogram(
    "ordersync_sink_batch_rows",
    "Outcomes per ClickHouse insert",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
SINK_FAILURES = Counter("ordersync_sink_failures_total", "Failed ClickHouse inserts (retried)")
