"""From a Faust stream to the dispatcher, and back to an acknowledgement.

``Intake`` reads on while earlier events are handled: each event is handed to the
dispatcher (which runs it behind the earlier events of its order) and acknowledged when
its own handling has ended — its outcomes at the broker, its order's state written — so
the committed offset of a partition never passes an event still in flight. A read-ahead
bound keeps what waits in memory finite.

``DueIntake`` is the intake of the retry topics: each record waits for its due time apart
from the stream, which reads on, so one with a long ``Retry-After`` delays no record
behind it. An order has one retry pending at a time, so records started out of their
topic's order never reorder an order's events (a stale attempt read again is dropped by
the dispatcher whenever it runs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import Any, cast

import faust
from faust.types import TP, EventT

from streams import faust_internals
from streams.headers import Headers, due_seconds
from streams.worker import metrics
from streams.worker.dispatch import Dispatcher
from streams.worker.messages import Handled, SourceMessage

log = logging.getLogger(__name__)


def source_message(event: EventT[bytes]) -> SourceMessage:
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


def _headers(raw: Any) -> Headers:
    """Every header as written: repeated names and empty values are the dispatcher's to judge."""
    items = raw.items() if isinstance(raw, dict) else (raw or [])
    return tuple((str(k), None if v is None else bytes(v)) for k, v in items)


class Intake:
    def __init__(
        self,
        app: faust.App,
        dispatcher: Dispatcher,
        read_ahead: int,
        ready: asyncio.Event,
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.ready = ready
        # events read ahead of the sends: they wait in their order's lane or for their
        # store without holding the consumer back
        self._read_ahead = asyncio.Semaphore(read_ahead)
        self._stopping: set[asyncio.Future[None]] = set()

    async def consume(self, stream: faust.StreamT[bytes]) -> None:
        await self.ready.wait()
        manual = cast("faust.Stream[bytes]", stream).noack()  # StreamT omits it
        async for event in manual.events():
            await self.take(event, source_message(event))

    async def take(self, event: EventT[bytes], message: SourceMessage) -> None:
        """Hand ``message`` to the dispatcher once the read-ahead has room for it."""
        await self._read_ahead.acquire()
        self._observe(message)
        task = self.dispatcher.submit(message)
        task.add_done_callback(partial(self._finished, event, message))

    def abandon_waiting(self) -> None:
        """Partitions are being revoked, or the worker stops: drop what has not begun."""
        abandoned = self.dispatcher.abandon_waiting()
        if abandoned:
            log.info("%d events not yet sending left to be read again", abandoned)

    def _finished(
        self, event: EventT[bytes], message: SourceMessage, task: asyncio.Task[Handled]
    ) -> None:
        self._read_ahead.release()
        if task.cancelled():
            # abandoned: not acknowledged, so read again; the consumer must not wait for it
            faust_internals.forget(self.app, event.message)
            return
        error = task.exception()
        if error is not None:
            # even its dead letter could not be published: stop rather than pass over it
            log.error("could not record the handling of %s[%d]@%d", *message.origin)
            self._stopping.add(asyncio.ensure_future(self.app.crash(error)))
            return
        metrics.observe_handled(task.result(), message.timestamp)
        event.ack()

    def _observe(self, message: SourceMessage) -> None:
        metrics.child(metrics.EVENTS_IN, message.topic).inc()
        with suppress(Exception):  # highwater is unknown until the first fetch
            end = self.app.consumer.highwater(TP(message.topic, message.partition))
            behind = max(0, end - message.offset - 1)
            metrics.child(metrics.CONSUMER_LAG, message.topic, str(message.partition)).set(behind)


class DueIntake(Intake):
    """Starts each record at its own due time; at most ``waiting`` records wait at once."""

    def __init__(
        self,
        app: faust.App,
        dispatcher: Dispatcher,
        read_ahead: int,
        ready: asyncio.Event,
        waiting: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(app, dispatcher, read_ahead, ready)
        self._waiting = asyncio.Semaphore(waiting)
        self._timers: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._sleep = sleep

    async def take(self, event: EventT[bytes], message: SourceMessage) -> None:
        await self._waiting.acquire()
        timer = asyncio.ensure_future(self._when_due(event, message))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _when_due(self, event: EventT[bytes], message: SourceMessage) -> None:
        try:
            wait = due_seconds(message.headers) - self._clock()
            if wait > 0:
                await self._sleep(wait)
            await super().take(event, message)
        except asyncio.CancelledError:
            faust_internals.forget(self.app, event.message)  # read again when due
            raise
        finally:
            self._waiting.release()

    def abandon_waiting(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        super().abandon_waiting()

    @property
    def waiting(self) -> int:
        return len(self._timers)
