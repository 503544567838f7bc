"""What both Faust apps share: how one is built, raw topics, the HTTP API task, reliable
sends, and running it with JSON logs.

Records -> topics -> tables -> agents; each agent is a thin loop around a plain object
(``streams.worker``'s ``Intake`` and ``Dispatcher``, ``streams.history``'s ``HistorySink``)
that holds the logic and is tested alone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import faust
import uvloop
from aiohttp import web
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from streams import faust_internals, logs, topics
from streams.headers import VALUE_DROPPED
from streams.settings import Settings

log = logging.getLogger(__name__)


def faust_app(
    settings: Settings, role: str, fetch_batching: tuple[int, int], **extra: Any
) -> faust_internals.App:
    # before anything asks for a loop; measured A/B on the quick throughput run: 1,027 and
    # 1,042 events/s with uvloop, 638 and 854 without (worker CPU per 1,000 events 0.83 vs
    # 0.98-1.18 s)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    faust_internals.register()
    datadir = settings.var_dir / "faust" / settings.topic(role)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust_internals.App(
        settings.topic(f"ordersync-{role}"),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_consumer=f"{faust_internals.SCHEME}://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_replication_factor=1,
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        # a killed worker's partitions move to the others within seconds, not a minute
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=20.0,
        producer_acks=-1,
        # one pace for all partitions (faust_internals.PacedAccumulator)
        producer_linger=settings.produce_linger_ms / 1000,
        producer_max_request_size=topics.MAX_RECORD_BYTES,
        datadir=str(datadir),
        Monitor=faust_internals.QuietMonitor,
        **extra,
    )
    app.fetch_batching = fetch_batching
    return app


def freeze_start_up_heap() -> None:
    """Leave what start-up built out of the collector's full passes.

    Faust, aiokafka and the Avro schemas leave a large heap of objects that live as long
    as the process; every full collection walked all of them, stopping the event loop for
    ~60 ms (measured in the worker at 1,000 events/s), and each such pause showed as a
    burst of late deliveries.

    Then collects the youngest objects every 20,000 allocations, not 700: nearly every
    object an event makes is freed by its count, and a collection every event or two
    walked what was in flight for nothing (the worker's CPU per event, three rounds back
    to back: 3.45 sandbox units against 3.58).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Bytes in, bytes out: the codec, not Faust, owns Avro and Confluent framing."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def start_web(app: faust.App, web_app: web.Application, host: str, port: int) -> None:
    async def serve() -> None:
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("%s API listening on http://%s:%d", app.conf.id, host, port)

    app.task(serve)  # called, not as a decorator: Faust's decorators are untyped


class Record(Protocol):
    """What ``send_reliably`` sends (``streams.worker.messages.OutgoingRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> list[tuple[str, bytes]]: ...
    @property
    def partition(self) -> int | None: ...


async def send_reliably(sender: faust_internals.RecordSender, records: Sequence[Record]) -> None:
    """Send every record, retrying each until the broker has it: the event is not
    acknowledged before. All are queued before any is waited for, so they share the
    producer's requests; a topic's records keep their order unless one is retried.

    A record too large for the producer can never go; it is replaced by a marker that
    names its size, so the loss is visible instead of silent.
    """
    deliveries = [await _queue(sender, record) for record in records]
    for record, delivery in zip(records, deliveries, strict=True):
        try:
            # cancelled with its handling (a stop), the record still goes: aiokafka then
            # leaves the cancelled future alone
            await delivery
        except KafkaError:
            log.exception("could not send to %s; sending it again", record.topic)
            await (await _queue(sender, record, backoff=0.1))


async def _queue(
    sender: faust_internals.RecordSender, record: Record, backoff: float = 0.0
) -> asyncio.Future[Any]:
    """Queue ``record``, retrying (after ``backoff``, doubling) until the producer takes it,
    then until the broker does."""
    value, headers = record.value, record.headers
    while True:
        if backoff:
            await asyncio.sleep(backoff)
        try:
            delivery = await sender.queue(
                record.topic, record.key, value, headers, record.partition
            )
            if not backoff:
                return delivery
            await delivery  # retrying: one at a time, until it is in
            return delivery
        except MessageSizeTooLargeError:
            size = len(value or b"")
            log.error("record of %d bytes too large for %s; sending a marker", size, record.topic)
            value = None
            headers = [*headers, (VALUE_DROPPED, str(size).encode())]
        except KafkaError:
            log.exception("could not send to %s; retrying in %.1fs", record.topic, backoff)
            backoff = min(max(backoff * 2, 0.1), 5.0)


def run(app: faust.App, settings: Settings) -> None:
    from faust.worker import Worker

    logs.stamp_ids()
    logging_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "streams.logs.JsonFormatter"}},
        "filters": {"retried_lookups": {"()": "streams.logs.RetriedLookups"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["retried_lookups"],
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["console"]},
        "loggers": {name: {"level": "WARNING"} for name in logs.CHATTY},
    }
    Worker(
        app, loglevel=settings.log_level, quiet=True, logging_config=logging_config
    ).execute_from_commandline()
