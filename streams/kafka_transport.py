"""Faust's aiokafka transport with three faults mended, each of which can skip or reorder events.

**Seeking a never-committed partition.**
After a rebalance Faust lets the fetcher run while tables recover, drops what it fetched,
then "seeks every partition to its committed offset". aiokafka's ``seek_to_committed``
skips a partition whose committed offset is missing (or 0), so such a partition stays
wherever the dropped fetch left it, often at its end: its events are never handed to
an agent and no offset is ever committed for it. Here such a partition is sent back to
the start, which is what ``auto_offset_reset=earliest`` promises.

Changelog partitions are left alone: table recovery positions them itself.

**Handing out events while seeking.** After a rebalance Faust resumes the stream
partitions, and only then seeks them to their committed offsets, with the flow running:
events fetched from the old position reach the agents first, then the seek reads the
earlier ones again, and an order's updates go out of sequence. Here the flow is held,
and what was queued dropped (it is read again), until the seek is done.

**Committing past an unhandled head.** Faust commits the first run of consecutive acked
offsets unless it starts "more than one" after the committed offset, but the committed
offset is the next one to read: with 31 committed and 32.. acked, 31 (never handed to an
agent, e.g. dropped during a rebalance) would be committed past. Here the head must be
the committed offset itself, or covered by a known gap in the partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

SCHEME = "ordersync-kafka"
log = logging.getLogger(__name__)


class App(faust.App):
    """A Faust app that says how its consumer's fetches wait: ``(min bytes, max wait ms)``.

    Faust fixes both when it builds the aiokafka consumer; ``None`` keeps its values.
    """

    fetch_batching: tuple[int, int] | None = None


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    #: longer than a broker restart takes; a commit still waiting then never returns
    COMMIT_TIMEOUT_S = 120.0

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        # A commit sent as the broker went down once waited for a coordinator that aiokafka
        # never looked up again: the commit never returned, and the consumer stopped handing
        # out records (a chaos run, 13 minutes). Stopping lets the worker's supervisor start
        # a fresh consumer; what was not committed is read again, and the order state's
        # dedupe keeps that from repeating deliveries.
        try:
            return await asyncio.wait_for(super()._commit(offsets), self.COMMIT_TIMEOUT_S)
        except TimeoutError as exc:
            log.error("offset commit still waiting after %.0fs; stopping", self.COMMIT_TIMEOUT_S)
            await self.crash(exc)
            return False

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        batching = self.app.fetch_batching if isinstance(self.app, App) else None
        if batching is not None:
            # aiokafka takes these only in its constructor, which Faust calls for us; the
            # fetcher is built from them when the consumer starts
            consumer._fetch_min_bytes, consumer._fetch_max_wait_ms = batching
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed_or_start)

    async def _seek_to_committed_or_start(self) -> Mapping[TP, int]:
        consumer: Any = self._ensure_consumer()
        committed: Mapping[TP, int] = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        never_committed = [
            tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
        ]
        if never_committed:
            # seek_to_beginning would wait for the fetcher's next round (up to its long
            # poll) while the flow runs; ask the broker and seek at once instead
            starts = await consumer.beginning_offsets(never_committed)
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
        return committed


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        flowing = self.flow_active
        if flowing:
            self.stop_flow()
            self.app.flow_control.suspend()
            self.app.flow_control.clear()
        try:
            await super().perform_seek()
        finally:
            if flowing:
                self.app.flow_control.resume()
                self.resume_flow()

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None:
            head = min(acked)
            if head > committed and not self._gap[tp].overlaps(committed, head):
                return None  # offset `committed` has not been handled yet
        return super()._new_offset(tp)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


def register() -> None:
    """Make ``ordersync-kafka://host:port`` name this transport."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
