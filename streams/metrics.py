"""``/metrics`` for Prometheus, served by each process from its own registry of metrics.

The metrics themselves live with their role: ``streams.worker.metrics`` and
``streams.history.metrics``.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

# what each client sends the brokers, aiokafka's (faust_internals) and librdkafka's
# (producer): how many produce and fetch round trips an event costs
KAFKA_REQUESTS = Counter(
    "ordersync_kafka_requests_total", "Requests sent to the Kafka brokers, by kind", ["api"]
)


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
