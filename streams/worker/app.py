"""The dispatch worker's Faust app: topics, the order table, one-line agents, the HTTP API.

Each agent hands its stream to an intake (``streams.worker.intake``); the intake hands each
event to the dispatcher, which decides, sends and publishes through ``OutcomePublisher``.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import faust
from aiohttp import web

import schemas
from streams import faust_internals, metrics, topics
from streams.auth import PRINCIPAL, Tokens, api_middleware
from streams.codec import Codec
from streams.faust_app import faust_app, freeze_start_up_heap, raw_topic, start_web
from streams.settings import Settings
from streams.worker import backlog
from streams.worker import metrics as worker_metrics
from streams.worker.configs import IntegrationConfigs
from streams.worker.dispatch import Dispatcher
from streams.worker.intake import DueIntake, Intake
from streams.worker.orderstate import OrderStates
from streams.worker.pool import ConnectorPool
from streams.worker.publisher import OutcomePublisher

log = logging.getLogger(__name__)
RETRIES_WAITING = 10_000  # retry records a worker holds until they come due
PARKED_WAITING = 10_000  # parked records likewise; the rest wait in Kafka


def hand_over_the_interpreter_often() -> None:
    """Let the worker's two threads take turns every 0.5 ms instead of every 5 ms.

    Faust reads Kafka on a thread of its own, and each fetch crosses to the event loop's
    thread in several steps (the socket read, the fetch's parse, the hand-over). While the
    loop's thread was busy sending, the reading thread waited up to the interpreter's
    switch interval for each step: waits of several milliseconds per record on its way
    from the broker to the agent. The worker's CPU stayed within its run-to-run spread.
    """
    sys.setswitchinterval(0.0005)


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
    app = faust_app(
        settings, "dispatch", fetch_batching=(4096, 5), consumer_max_fetch_size=64 * 1024
    )
    codec = Codec(settings)
    events_topic = raw_topic(app, settings.topic(topics.EVENTS))
    retry_topics = [
        raw_topic(app, settings.topic(name)) for name in (topics.RETRY_1, topics.RETRY_2)
    ]
    parked_topic = raw_topic(app, settings.topic(topics.PARKED))
    outcomes_topic = raw_topic(app, settings.topic(topics.OUTCOMES))
    backlog_topic = raw_topic(app, settings.topic(topics.BACKLOG))
    record_topics = [*retry_topics, parked_topic, raw_topic(app, settings.topic(topics.DLT))]
    # per-order state, changelogged and co-partitioned with the order topics
    order_table = faust_internals.ConfirmedTable(
        app,
        name="orders",
        beacon=app.tables.beacon,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    app.tables.add(order_table)
    configs = IntegrationConfigs(settings, codec)
    dispatcher = Dispatcher(
        settings,
        codec,
        configs,
        ConnectorPool(settings),
        OrderStates(order_table),
        OutcomePublisher(codec, outcomes_topic.get_topic_name(), faust_internals.RecordSender(app)),
    )
    report = backlog.BacklogReport(
        dispatcher.stores,
        configs.tenant_of,
        backlog.worker_id(),
        backlog.INTERVAL_S,
        dispatcher.pool.health,
    )
    backlog.COLLECTOR.track(report)
    # ready to take events: configurations read, the producer and the codec warmed
    ready = asyncio.Event()
    intake = Intake(app, dispatcher, settings.read_ahead, ready)
    due_intake = DueIntake(app, dispatcher, settings.read_ahead, ready, RETRIES_WAITING)
    parked_intake = DueIntake(app, dispatcher, settings.read_ahead, ready, PARKED_WAITING)
    # a stop or a rebalance waits only for the events whose sends have begun

    def abandon_waiting() -> None:
        due_intake.abandon_waiting()
        parked_intake.abandon_waiting()

    app.before_wait_empty = abandon_waiting

    async def read_configs() -> None:
        await configs.run()

    async def settle() -> None:
        await configs.ready.wait()
        # The first send to a topic waits for its metadata, and every event sending then
        # waited with it: 135-200 ms for the first ones, a second's backlog at 1,000/s.
        producer = faust_internals.producer_of(app)
        written = [outcomes_topic, backlog_topic, *record_topics, order_table.changelog_topic]
        try:
            for topic in written:
                await asyncio.wait_for(producer.partitions_for(topic.get_topic_name()), 10)
            await asyncio.to_thread(
                codec.prepare,
                writes=[
                    (outcomes_topic.get_topic_name(), schemas.DISPATCH_OUTCOME),
                    (backlog_topic.get_topic_name(), schemas.STORE_BACKLOG),
                ],
                reads=[(events_topic.get_topic_name(), schemas.ORDER_EVENT)],
            )
        except Exception:  # only a head start: the first events would ask the same
            log.warning("warming the producer and the codec failed", exc_info=True)
        freeze_start_up_heap()
        ready.set()
        worker_metrics.READY.set(1)

    async def report_backlog() -> None:
        snapshot = report.due()
        if snapshot is not None:
            name = backlog_topic.get_topic_name()
            value = await asyncio.to_thread(codec.encode, name, schemas.STORE_BACKLOG, snapshot)
            await backlog_topic.send(key=report.worker.encode(), value=value)

    # called, not as decorators: Faust's decorators are untyped
    app.task(read_configs)
    app.task(settle)
    app.timer(backlog.INTERVAL_S)(report_backlog)

    @app.agent(events_topic, name="route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        await intake.consume(stream)

    async def retry(stream: faust.StreamT[bytes]) -> None:
        await due_intake.consume(stream)

    for index, topic in enumerate(retry_topics, start=1):
        app.agent(topic, name=f"retry{index}")(retry)

    @app.agent(parked_topic, name="parked")
    async def parked(stream: faust.StreamT[bytes]) -> None:
        await parked_intake.consume(stream)

    start_web(
        app,
        web_api(settings, ready, configs, dispatcher, report),
        settings.bind_host,
        settings.worker_port,
    )
    return app


def web_api(
    settings: Settings,
    ready: asyncio.Event,
    configs: IntegrationConfigs,
    dispatcher: Dispatcher,
    report: backlog.BacklogReport,
) -> web.Application:
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

    async def store_backlog(request: web.Request) -> web.Response:
        """Per store: sends under way, events waiting and parked, the oldest wait."""
        principal = request[PRINCIPAL]
        rows = [row for row in report.rows() if principal.sees(row["tenant"])]
        return web.json_response({"worker": report.worker, "stores": rows})

    web_app.middlewares.append(api_middleware(Tokens.from_settings(settings.api_tokens)))
    web_app.router.add_get("/health", health)
    web_app.router.add_get("/metrics", metrics.metrics_view)
    web_app.router.add_get("/api/integrations", integrations)
    web_app.router.add_get("/api/sending", sending)
    web_app.router.add_get("/api/backlog", store_backlog)
    return web_app
