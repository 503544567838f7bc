"""Records to the broker through librdkafka, each send an asyncio future of its delivery.

The worker writes two or three records per event (its outcomes, its order's state, now
and then a retry, parked record or dead letter) and must know each is at the broker
before it moves on. Through aiokafka every record cost the worker's interpreter its
batch building, its own future and its share of a produce request; librdkafka builds the
batches and the requests in C, on its own threads, and lingers a moment so that the
records of many events share one request (fewer requests is less work for the broker
too).

A thread waits in ``poll`` (in C, the interpreter free) for librdkafka's delivery
reports and hands each poll's reports to the event loop at once, one wake-up per poll,
not one per record. Idle, the thread sleeps in ``poll``: it costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streams import metrics, topics
from streams.settings import Settings

log = logging.getLogger(__name__)
POLL_S = 0.2  # how long the delivery thread waits in C between looks at the stop flag


class ConfirmedProducer:
    """``send`` returns a future that resolves when the broker has the record, or fails
    with a ``KafkaException`` after librdkafka gave up on it (``delivery.timeout.ms``)."""

    def __init__(self, settings: Settings, options: dict[str, object] | None = None) -> None:
        self._requests: dict[str, int] = {}  # librdkafka's totals at its last report
        self._producer = Producer(
            topics.kafka_config(
                settings,
                {
                    "acks": "all",
                    # per-partition order kept across librdkafka's own retries
                    "enable.idempotence": True,
                    # records of events handled together share a request: at 1,000
                    # events/s, one request for several instead of one each
                    "linger.ms": 2,
                    "message.max.bytes": topics.MAX_RECORD_BYTES + 64 * 1024,
                    # its requests by kind, for ordersync_kafka_requests_total
                    "statistics.interval.ms": 5000,
                    "stats_cb": self._count_requests,
                    **(options or {}),
                },
            )
        )

        self._loop: asyncio.AbstractEventLoop | None = None
        self._delivered: list[tuple[asyncio.Future[None], Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._thread is not None:
            return
        self._loop = loop
        self._thread = threading.Thread(target=self._poll, name="delivery-reports", daemon=True)
        self._thread.start()

    def warm(self, names: Sequence[str], timeout_s: float) -> None:
        """Connect and learn ``names``' partitions now, not at the first events' sends."""
        for name in names:
            self._producer.list_topics(name, timeout=timeout_s)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> asyncio.Future[None]:
        loop = self._loop or asyncio.get_running_loop()
        if self._thread is None:
            self.start(loop)
        future: asyncio.Future[None] = loop.create_future()

        def report(error: Any, _message: Any) -> None:  # on the delivery thread
            with self._lock:
                self._delivered.append((future, error))

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return future
            except BufferError:
                # librdkafka's queue is full (the broker is away): wait for room
                self._producer.poll(0.05)
            except KafkaException as exc:
                future.set_exception(exc)
                return future

    def flush(self, timeout_s: float) -> int:
        """Wait for what was sent; the number of records still undelivered."""
        remaining = int(self._producer.flush(timeout_s))
        self._hand_over()
        return remaining

    def close(self, timeout_s: float = 10.0) -> None:
        remaining = self.flush(timeout_s)
        if remaining:
            log.warning("%d records were not confirmed by the broker at the stop", remaining)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(POLL_S * 5)

    def _count_requests(self, stats_json: str) -> None:
        """librdkafka's statistics (on the delivery thread): the requests sent per kind,
        summed over the brokers, added to the counter since the last report."""
        totals: dict[str, int] = {}
        for broker in json.loads(stats_json).get("brokers", {}).values():
            for kind, count in (broker.get("req") or {}).items():
                totals[kind] = totals.get(kind, 0) + int(count)
        for kind, total in totals.items():
            added = total - self._requests.get(kind, 0)
            if added > 0:
                metrics.KAFKA_REQUESTS.labels(kind).inc(added)
        self._requests = totals

    def _poll(self) -> None:
        while not self._stopping.is_set():
            if self._producer.poll(POLL_S):
                self._hand_over()

    def _hand_over(self) -> None:
        with self._lock:
            reports, self._delivered = self._delivered, []
        if reports and self._loop is not None and not self._loop.is_closed():
            with suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for these
                self._loop.call_soon_threadsafe(_resolve, reports)


def _resolve(reports: list[tuple[asyncio.Future[None], Any]]) -> None:
    for future, error in reports:
        if future.done():  # its sender was cancelled: the record went all the same
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(KafkaException(error if isinstance(error, KafkaError) else None))
