"""Each store's backlog in this worker, for ``/metrics``, ``/api/backlog`` and the history.

The gates (``streams.worker.stores``) know per store what is under way, waiting and
parked. ``BacklogReport`` turns that into one ``StoreBacklog`` record keyed by the worker's
id on the compacted ``orders.backlog`` topic, where the history reads every worker's last
word. It publishes every ``interval_s`` while anything waits and once more when nothing
does, then stays silent: an idle worker writes nothing. A snapshot with work in it that is
much older than its interval is from a worker that is gone; the history drops it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from streams.worker.pool import StoreHealth
from streams.worker.stores import Stores

INTERVAL_S = 5.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class BacklogReport:
    def __init__(
        self,
        stores: Stores,
        tenant_of: Callable[[str], str],
        worker: str,
        interval_s: float,
        health: Callable[[], list[StoreHealth]] = list,
    ) -> None:
        self.stores = stores
        self.tenant_of = tenant_of
        self.worker = worker
        self.interval_s = interval_s
        self.health = health
        self._had_work = False

    def rows(self) -> list[dict[str, Any]]:
        """Per store with anything under way, waiting or parked, or not called now (its
        circuit open, or paused by the platform)."""
        rows: dict[str, dict[str, Any]] = {
            load.store: {
                "integration_id": load.store,
                "tenant": self.tenant_of(load.store),
                "in_flight": load.in_flight,
                "queued": load.queued,
                "parked": load.parked,
                "oldest_wait_ms": round(load.oldest_wait_s * 1000),
                "limit": load.limit,
                "rate_per_s": load.rate_per_s,
                "oldest_parked_ms": round(load.oldest_parked_s * 1000),
                "circuit_open_ms": 0,
                "paused_until": None,
            }
            for load in self.stores.loads()
        }
        for health in self.health():
            row = rows.setdefault(
                health.store,
                {
                    "integration_id": health.store,
                    "tenant": health.tenant,
                    "in_flight": 0,
                    "queued": 0,
                    "parked": 0,
                    "oldest_wait_ms": 0,
                    "limit": self.stores.gate(health.store).limit.limit,
                    "rate_per_s": None,
                    "oldest_parked_ms": 0,
                },
            )
            row["circuit_open_ms"] = round(health.circuit_open_s * 1000)
            row["paused_until"] = (
                round(health.paused_until * 1000) if health.paused_until is not None else None
            )
        return list(rows.values())

    def due(self) -> dict[str, Any] | None:
        """The snapshot to publish now, or None while the worker stays idle."""
        rows = self.rows()
        if not rows and not self._had_work:
            return None
        self._had_work = bool(rows)
        return {
            "worker": self.worker,
            "at": int(time.time() * 1000),
            "interval_ms": round(self.interval_s * 1000),
            "stores": rows,
        }


class BacklogCollector(Collector):
    """Per-store gauges read from the gates and the connectors at scrape time: nothing is
    kept up to date between scrapes. ``track`` names them (one dispatcher per process)."""

    def __init__(self) -> None:
        self._report: BacklogReport | None = None

    def track(self, report: BacklogReport) -> None:
        self._report = report

    def collect(self) -> Iterable[GaugeMetricFamily]:
        rows = self._report.rows() if self._report is not None else []
        labels = ["tenant", "store"]
        gauges = {
            "in_flight": GaugeMetricFamily(
                "ordersync_store_in_flight", "Sends under way to the store", labels=labels
            ),
            "queued": GaugeMetricFamily(
                "ordersync_store_queued",
                "Events waiting at the store's gate in memory",
                labels=labels,
            ),
            "parked": GaugeMetricFamily(
                "ordersync_store_parked",
                "Events set aside on orders.parked, not yet back",
                labels=labels,
            ),
            "oldest_wait_ms": GaugeMetricFamily(
                "ordersync_store_oldest_wait_seconds",
                "Age of the event waiting longest at the store's gate",
                labels=labels,
            ),
            "oldest_parked_ms": GaugeMetricFamily(
                "ordersync_store_oldest_parked_seconds",
                "How long the event parked longest has been away on orders.parked",
                labels=labels,
            ),
            "limit": GaugeMetricFamily(
                "ordersync_store_concurrency_limit",
                "The store's adaptive concurrency limit",
                labels=labels,
            ),
            "circuit_open_ms": GaugeMetricFamily(
                "ordersync_store_circuit_open_seconds",
                "How long the store's circuit has been open (calls failing at once)",
                labels=labels,
            ),
        }
        paused = GaugeMetricFamily(
            "ordersync_store_paused_seconds",
            "How long Retry-After pauses have held the store without a break",
            labels=labels,
        )
        for row in rows:
            key = [row["tenant"], row["integration_id"]]
            for field, gauge in gauges.items():
                value = float(row[field])
                gauge.add_metric(key, value / 1000 if field.endswith("_ms") else value)
        if self._report is not None:
            for health in self._report.health():
                paused.add_metric([health.tenant, health.store], health.paused_s)
        yield from gauges.values()
        yield paused


COLLECTOR = BacklogCollector()
REGISTRY.register(COLLECTOR)
