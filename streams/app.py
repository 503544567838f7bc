"""The two Faust apps: ``dispatch`` (routing and sending) and ``history`` (the sink).

Records -> topics -> tables -> agents; each agent is a thin loop around a plain
object (``Dispatcher``, ``HistorySink``) that holds the logic and is tested alone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from contextlib import suppress
from functools import partial
from typing import Any, cast

import faust
import uvloop
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.types import TP, EventT

import schemas
from streams import kafka_transport, logs, metrics, topics
from streams.auth import PRINCIPAL, Tokens, api_middleware
from streams.codec import Codec
from streams.configs import IntegrationConfigs
from streams.dispatch import ConnectorPool, Dispatcher, Handled, SourceMessage
from streams.headers import Headers, due_seconds
from streams.history.api import HistoryApi
from streams.history.resend import Resender
from streams.history.sink import HistorySink
from streams.history.store import HistoryStore
from streams.orderstate import ConfirmedTable, OrderStates
from streams.settings import Settings

log = logging.getLogger(__name__)
READ_AHEAD = 8  # events handed to the dispatcher per sending slot
RETRIES_WAITING = 10_000  # retry records a worker holds until they come due


def _faust_app(
    settings: Settings, role: str, fetch_batching: tuple[int, int], **extra: Any
) -> faust.App:
    # before anything asks for a loop; measured A/B on the quick throughput run: 1,027 and
    # 1,042 events/s with uvloop, 638 and 854 without (worker CPU per 1,000 events 0.83 vs
    # 0.98-1.18 s)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    kafka_transport.register()
    datadir = settings.var_dir / "faust" / settings.topic(role)
    datadir.mkdir(parents=True, exist_ok=True)
    app = kafka_transport.App(
        settings.topic(f"ordersync-{role}"),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_consumer=f"{kafka_transport.SCHEME}://{settings.kafka_bootstrap}",
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
        producer_max_request_size=topics.MAX_RECORD_BYTES,
        datadir=str(datadir),
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
    """
    gc.collect()
    gc.freeze()


def hand_over_the_interpreter_often() -> None:
    """Let the worker's two threads take turns every 0.5 ms instead of every 5 ms.

    Faust reads Kafka on a thread of its own, and each fetch crosses to the event loop's
    thread in several steps (the socket read, the fetch's parse, the hand-over). While the
    loop's thread was busy sending, the reading thread waited up to the interpreter's
    switch interval for each step: waits of several milliseconds per record on its way
    from the broker to the agent. The worker's CPU stayed within its run-to-run spread.
    """
    sys.setswitchinterval(0.0005)


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Bytes in, bytes out: the codec, not Faust, owns Avro and Confluent framing."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def _start_web(app: faust.App, web_app: web.Application, host: str, port: int) -> None:
    @app.task
    async def serve() -> None:
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("%s API listening on http://%s:%d", app.conf.id, host, port)


def _headers(raw: Any) -> Headers:
    """Every header as written: repeated names and empty values are the dispatcher's to judge."""
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    return tuple((str(k), None if v is None else bytes(v)) for k, v in items)


def _source(event: EventT) -> SourceMessage:
    message = event.message
    return SourceMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=_headers(message.headers),
        timestamp=message.timestamp,
    )


async def send_reliably(
    topic: faust.TopicT,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    partition: int | None = None,
) -> None:
    """Send, retrying until the producer takes it: the event is not acknowledged before.

    A record too large for the producer can never go; it is replaced by a marker that
    names its size, so the loss is visible instead of silent.
    """
    backoff = 0.1
    while True:
        try:
            delivery = await topic.send(key=key, value=value, headers=headers, partition=partition)
            await delivery  # the broker has it: only then may the order's state move on
            return
        except (ProducerSendError, KafkaError) as exc:
            if "MessageSizeTooLarge" in repr(exc.__cause__ or exc):
                size = len(value or b"")
                log.error("record of %d bytes too large for %s; sending a marker", size, topic)
                value = None
                headers = [*headers, ("ordersync.value.dropped.bytes", str(size).encode())]
                continue
            log.exception("could not send to %s; retrying in %.1fs", topic, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


def build_worker(settings: Settings) -> faust.App:
    # aiokafka hands out a partition's whole fetch before moving on: with 4 MB fetches a
    # backlog on orders.events held retries that were due for minutes. Small fetches keep
    # the retry topics' turn near (Kafka still returns a record larger than this).
    # A fetch covers only the partitions with nothing buffered. Sent while every events
    # partition was still buffered, it asked for the (idle) retry topics alone and the
    # broker held it for Faust's 1.5 s wait: new events sat unfetched meanwhile. It now
    # waits 5 ms at most, or until 4 KiB: at 1,000 events/s, fetches of one or two
    # records cost the worker 8 % more CPU than these (0.863 against 0.794 of a core,
    # four 30 s paced runs each), which it spent instead of sending.
    app = _faust_app(
        settings, "dispatch", fetch_batching=(4096, 5), consumer_max_fetch_size=64 * 1024
    )
    codec = Codec(settings)
    events_topic = _raw_topic(app, settings.topic(topics.EVENTS))
    retry_topics = [
        _raw_topic(app, settings.topic(name)) for name in (topics.RETRY_1, topics.RETRY_2)
    ]
    outcomes_topic = _raw_topic(app, settings.topic(topics.OUTCOMES))
    by_name = {
        t.get_topic_name(): t for t in [*retry_topics, _raw_topic(app, settings.topic(topics.DLT))]
    }
    # per-order state, changelogged and co-partitioned with the order topics
    order_table = ConfirmedTable(
        app,
        name="orders",
        beacon=app.tables.beacon,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    app.tables.add(order_table)
    configs = IntegrationConfigs(settings, codec)

    async def publish(handled: Handled) -> None:
        for outcome in handled.outcomes:
            value = codec.encode(
                outcomes_topic.get_topic_name(), schemas.DISPATCH_OUTCOME, outcome.to_avro()
            )
            await send_reliably(outcomes_topic, outcome.key.encode(), value, [])
        records = handled.dead_letters + ([handled.retry] if handled.retry else [])
        for record in records:
            await send_reliably(
                by_name[record.topic], record.key, record.value, record.headers, record.partition
            )

    dispatcher = Dispatcher(
        settings, codec, configs, ConnectorPool(settings), OrderStates(order_table), publish
    )

    @app.task
    async def read_configs() -> None:
        await configs.run()

    # ready to take events: configurations read, the producer and the codec warmed
    ready = asyncio.Event()

    @app.task
    async def settle() -> None:
        await configs.ready.wait()
        # The first send to a topic waits for its metadata, and every event sending then
        # waited with it: 135-200 ms for the first ones, a second's backlog at 1,000/s.
        # Faust offers no public way to ask the producer for it.
        producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
        written = [outcomes_topic, *by_name.values(), order_table.changelog_topic]
        try:
            for topic in written:
                await asyncio.wait_for(producer.partitions_for(topic.get_topic_name()), 10)
            await asyncio.to_thread(
                codec.prepare,
                writes=[(outcomes_topic.get_topic_name(), schemas.DISPATCH_OUTCOME)],
                reads=[(events_topic.get_topic_name(), schemas.ORDER_EVENT)],
            )
        except Exception:  # only a head start: the first events would ask the same
            log.warning("warming the producer and the codec failed", exc_info=True)
        freeze_start_up_heap()
        ready.set()

    def observe(message: SourceMessage) -> None:
        metrics.EVENTS_IN.labels(message.topic).inc()
        with suppress(Exception):  # highwater is unknown until the first fetch
            behind = (
                app.consumer.highwater(TP(message.topic, message.partition)) - message.offset - 1
            )
            metrics.CONSUMER_LAG.labels(message.topic, str(message.partition)).set(max(0, behind))

    # events read ahead of the sends: they wait in their order's lane or for their store's
    # share of the sending slots without holding the consumer back
    slots = asyncio.Semaphore(settings.dispatch_concurrency * READ_AHEAD)
    stopping: set[asyncio.Future[None]] = set()

    def finished(event: EventT, message: SourceMessage, task: asyncio.Task[Handled]) -> None:
        slots.release()
        if task.cancelled():
            return  # shutting down: not acknowledged, so read again
        error = task.exception()
        if error is not None:
            # even its dead letter could not be published: stop rather than pass over it
            log.error("could not record the handling of %s[%d]@%d", *message.origin)
            stopping.add(asyncio.ensure_future(app.crash(error)))
            return
        metrics.observe_handled(task.result(), message.timestamp)
        event.ack()

    async def start(event: EventT, message: SourceMessage) -> None:
        await slots.acquire()
        observe(message)
        dispatcher.submit(message).add_done_callback(partial(finished, event, message))

    # retry records wait for their due time apart from the agent, which reads on: one
    # with a long Retry-After (or a store's open breaker) delays no record behind it
    waiting = asyncio.Semaphore(RETRIES_WAITING)
    timers: set[asyncio.Task[None]] = set()

    async def start_when_due(event: EventT, message: SourceMessage) -> None:
        try:
            wait = due_seconds(message.headers) - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await start(event, message)
        finally:
            waiting.release()

    async def consume(stream: faust.StreamT[bytes], wait_until_due: bool) -> None:
        # Many orders at once, each order's events one at a time (the dispatcher's lanes).
        # An event is acknowledged when its own handling has ended, with its outcomes at
        # the broker and its order's state written: the committed offset of a partition
        # never passes an event still in flight (nor a retry record still waiting).
        await ready.wait()
        manual = cast("faust.Stream[bytes]", stream).noack()  # StreamT omits it
        async for event in manual.events():
            message = _source(event)
            if not wait_until_due:
                await start(event, message)
                continue
            # An order has one retry pending at a time, so records started out of their
            # topic's order never reorder an order's events; a stale attempt read again
            # is dropped by the dispatcher whenever it runs.
            await waiting.acquire()
            timer = asyncio.ensure_future(start_when_due(event, message))
            timers.add(timer)
            timer.add_done_callback(timers.discard)

    @app.agent(events_topic, name="route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        await consume(stream, wait_until_due=False)

    async def retry(stream: faust.StreamT[bytes]) -> None:
        await consume(stream, wait_until_due=True)

    for index, topic in enumerate(retry_topics, start=1):
        app.agent(topic, name=f"retry{index}")(retry)

    web_app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok" if ready.is_set() else "starting",
                "role": "dispatch",
                "integrations": len(configs.all()),
            },
            status=200 if ready.is_set() else 503,
        )

    async def integrations(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        return web.json_response([c.to_avro() for c in configs.all() if principal.sees(c.tenant)])

    async def sending(request: web.Request) -> web.Response:
        """The events whose sends a crash now could repeat: sent or being sent, their
        orders' states not yet written."""
        principal = request[PRINCIPAL]
        ids = [e for e, tenant in list(dispatcher.sending.items()) if principal.sees(tenant)]
        return web.json_response({"sending": ids})

    web_app.middlewares.append(api_middleware(Tokens.from_settings(settings.api_tokens)))
    web_app.router.add_get("/api/sending", sending)
    web_app.router.add_get("/health", health)
    web_app.router.add_get("/metrics", metrics.metrics_view)
    web_app.router.add_get("/api/integrations", integrations)
    _start_web(app, web_app, settings.bind_host, settings.worker_port)
    return app


def build_history(settings: Settings) -> faust.App:
    # The sink writes batches anyway: fetches that wait for 64 KiB (or 100 ms) instead of
    # returning each record as it lands cost the history process and the broker far less.
    app = _faust_app(settings, "history", fetch_batching=(64 * 1024, 100))
    codec = Codec(settings)
    store = HistoryStore(settings.clickhouse_url)
    applied = store.migrate()
    if applied:
        log.info("history migrations applied: %s", applied)
    sink = HistorySink(store, codec, settings.sink_refuse_file)
    outcomes_topic = _raw_topic(app, settings.topic(topics.OUTCOMES))

    @app.task
    async def settle() -> None:
        freeze_start_up_heap()

    @app.agent(outcomes_topic, name="sink")
    async def write_history(stream: faust.StreamT[bytes]) -> None:
        batches = cast("faust.Stream[bytes]", stream).take_events  # StreamT omits it
        async for batch in batches(settings.sink_batch_size, within=settings.sink_flush_interval_s):
            decoded = [(sink.decode(e.message.value), e.message) for e in batch]
            outcomes = [o for o, _ in decoded if o is not None]
            offsets = [(m.topic, m.partition, m.offset) for _, m in decoded]
            await sink.write(outcomes, offsets)

    web_app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "role": "history",
                "rows_written": sink.rows_written,
                "repeated_terminals_dropped": sink.repeated_terminals,
                "write_failures": sink.failures,
            }
        )

    web_app.router.add_get("/health", health)
    web_app.router.add_get("/metrics", metrics.metrics_view)
    tokens = Tokens.from_settings(settings.api_tokens)
    if not tokens:
        log.warning("no ORDERSYNC_API_TOKEN_* set: the history API will refuse every request")
    HistoryApi(store, Resender(settings, store, codec), tokens).routes(web_app)
    _start_web(app, web_app, settings.bind_host, settings.history_port)
    return app


def run(app: faust.App, settings: Settings) -> None:
    from faust.worker import Worker

    logs.stamp_ids()
    logging_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "streams.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": settings.log_level.upper(), "handlers": ["console"]},
        # the registry client (httpx) logs every request at INFO; its answers are cached
        "loggers": {"httpx": {"level": "WARNING"}},
    }
    Worker(
        app, loglevel=settings.log_level, quiet=True, logging_config=logging_config
    ).execute_from_commandline()
