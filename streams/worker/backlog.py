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

from streams.worker.stores import StoreLoad, Stores

INTERVAL_S = 5.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class BacklogReport:
    def __init__(
        self, stores: Stores, tenant_of: Callable[[str], str], worker: str, interval_s: float
    ) -> None:
        self.stores = stores
        self.tenant_of = tenant_of
        self.worker = worker
        self.interval_s = interval_s
        self._had_work = False

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "integration_id": load.store,
                "tenant": self.tenant_of(load.store),
                "in_flight": load.in_flight,
                "queued": load.queued,
                "parked": load.parked,
                "oldest_wait_ms": round(load.oldest_wait_s * 1000),
                "limit": load.limit,
                "rate_per_s": load.rate_per_s,
            }
            for load in self.stores.loads()
        ]

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
    """Per-store gauges read from the gates at scrape time: nothing is kept up to date
    between scrapes. ``track`` names the gates (one dispatcher per process)."""

    def __init__(self) -> None:
        self._stores: Stores | None = None

    def track(self, stores: Stores) -> None:
        self._stores = stores

    def collect(self) -> Iterable[GaugeMetricFamily]:
        loads: list[StoreLoad] = self._stores.loads() if self._stores is not None else []
        gauges = {
            "in_flight": GaugeMetricFamily(
                "ordersync_store_in_flight", "Sends under way to the store", labels=["store"]
            ),
            "queued": GaugeMetricFamily(
                "ordersync_store_queued",
                "Events waiting at the store's gate in memory",
                labels=["store"],
            ),
            "parked": GaugeMetricFamily(
                "ordersync_store_parked",
                "Events set aside on orders.parked, not yet back",
                labels=["store"],
            ),
            "oldest_wait_s": GaugeMetricFamily(
                "ordersync_store_oldest_wait_seconds",
                "Age of the event waiting longest at the store's gate",
                labels=["store"],
            ),
            "limit": GaugeMetricFamily(
                "ordersync_store_concurrency_limit",
                "The store's adaptive concurrency limit",
                labels=["store"],
            ),
        }
        for load in loads:
            for field, gauge in gauges.items():
                gauge.add_metric([load.store], float(getattr(load, field)))
        yield from gauges.values()


COLLECTOR = BacklogCollector()
REGISTRY.register(COLLECTOR)
