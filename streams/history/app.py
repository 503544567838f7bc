"""The history process's Faust app: the sink agent and the report's HTTP API."""

from __future__ import annotations

import logging
from typing import cast

import faust
from aiohttp import web

from streams import compacted, metrics, topics
from streams.auth import Tokens
from streams.codec import Codec
from streams.faust_app import faust_app, freeze_start_up_heap, raw_topic, start_web
from streams.history.api import HistoryApi
from streams.history.backlog import BacklogView
from streams.history.resend import Resender
from streams.history.sink import HistorySink
from streams.history.store import HistoryStore
from streams.settings import Settings

log = logging.getLogger(__name__)


def build_history(settings: Settings) -> faust.App:
    # The sink writes batches anyway: fetches that wait for 64 KiB (or 100 ms) instead of
    # returning each record as it lands cost the history process and the broker far less.
    app = faust_app(settings, "history", fetch_batching=(64 * 1024, 100))
    codec = Codec(settings)
    store = HistoryStore(settings.clickhouse_url)
    applied = store.migrate()
    if applied:
        log.info("history migrations applied: %s", applied)
    sink = HistorySink(store, codec, settings.sink_refuse_file)
    outcomes_topic = raw_topic(app, settings.topic(topics.OUTCOMES))

    backlog = BacklogView(codec)

    async def settle() -> None:
        freeze_start_up_heap()

    async def follow_backlog() -> None:
        name = settings.topic(topics.BACKLOG)
        await compacted.follow(settings.kafka_bootstrap, name, backlog.apply, lambda: None)

    app.task(settle)  # called, not as decorators: Faust's decorators are untyped
    app.task(follow_backlog)

    @app.agent(outcomes_topic, name="sink")
    async def write_history(stream: faust.StreamT[bytes]) -> None:
        batches = cast("faust.Stream[bytes]", stream).take_events  # StreamT omits it
        async for batch in batches(settings.sink_batch_size, within=settings.sink_flush_interval_s):
            await sink.write_events(batch)

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
    HistoryApi(store, Resender(settings, store, codec), tokens, backlog).routes(web_app)
    start_web(app, web_app, settings.bind_host, settings.history_port)
    return app
