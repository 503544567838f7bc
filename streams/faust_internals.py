"""Every touch of Faust's and aiokafka's internals, in one place: their aiokafka transport
with four faults mended, each of which can skip, reorder or stop events; fetches that wait
long while nothing flows; a table that hands back its changelog writes; the producer asked
for ahead of the first send. Each relies on code that is not their public API, so
``check_versions`` refuses to start with any other version than those it was written and
tested for (``tests/unit/test_faust_internals.py`` covers each behaviour).

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
agent, e.g. dropped during a rebalance) would be committed past. And on a partition
nothing was ever committed for it commits any run at all: with 0..4 still being handled
and 5..9 acked, 10 — a stop then left 0..4 unhandled for good. Here the head must be the
committed offset itself (for a never-committed partition, its first offset, where it was
sought to), or covered by a known gap in the partition.

**A header name that is not UTF-8.** Kafka types a header's name as a string, but a
producer may write any bytes there (librdkafka does), and aiokafka's record parser then
raises ``UnicodeDecodeError`` for the whole fetch: the consumer stopped, and stopped again
at the same offset after every restart. Such a batch is read again by a parser that
decodes the names with U+FFFD in place of the bad bytes; its records reach the agents,
which judge their headers like any others.

**Waiting for a table's changelog write.** Faust sends a table's changelog in the background.
A worker killed after an order's update went to the store but before its state reached the
changelog would, once restarted, send that update again after later ones: the store would
see the order move backwards. ``ConfirmedTable.write`` stores a value and hands back its
changelog record's delivery, for the dispatcher to wait for.

**Records straight to the producer.** Faust's ``Topic.send`` builds a pending message, a
future message and their callbacks for each record, and a table's changelog goes through
its producer buffer and a task of its own: per event, more CPU than aiokafka's own send.
``RecordSender`` hands records to the app's aiokafka producer (its public ``send``) and
gives back aiokafka's delivery future, which aiokafka settles only if nobody cancelled it.

**Requests counted.** Every request aiokafka sends to a broker is counted by its kind
(``ordersync_kafka_requests_total{api="Produce"}``): how many produce and fetch round trips
an event costs is a figure of the bench and of monitoring, and aiokafka keeps no count.

**A monitor that counts nothing per record.** Faust's ``Monitor`` keeps statistics of every
record read, handled, acknowledged and sent, and of every table read and write, for its own
web views, which ordersync does not serve (its metrics are its own ``/metrics``):
``QuietMonitor`` leaves those per-record hooks empty.

**Idle fetches.** A fetch waits at most ``max wait`` for ``min bytes``: the short waits
that keep a busy worker's fetches near (5 ms) had an idle worker and its broker answer 200
empty fetches a second, a fifth of a core each. After three empty fetches in a row the
fetcher asks for any byte and waits up to 1.5 s (Faust's own default): a record arriving
then is returned at once; the first fetch with records brings the short waits back.

**Linger per broker, not per partition.** A broker's work on a produce request is mostly
per request and per partition in it, hardly per record (measured on one broker, acks=all:
0.64 ms of broker CPU per record at 2 records a request, 0.05 at 50). aiokafka's linger
holds each partition's batch apart, so the batches of a broker's partitions fall due at
different moments and go in as many requests: lingering that way made no fewer requests.
``PacedAccumulator`` takes ``linger_ms`` as the least time between two drains of the
producer's batches: every record waiting then goes to its broker in one request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, cast

import faust
from aiokafka import conn as aiokafka_conn
from aiokafka.consumer import consumer as aiokafka_consumer
from aiokafka.consumer import fetcher
from aiokafka.producer import message_accumulator
from aiokafka.producer import producer as aiokafka_producer
from aiokafka.record import default_records
from aiokafka.record.memory_records import MemoryRecords
from faust.sensors import Monitor
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT

from streams import metrics
from streams.errors import ConfigurationError

SCHEME = "ordersync-kafka"
log = logging.getLogger(__name__)
# the versions this module was written and tested for; an upgrade is made on purpose:
# the lock file, this table and the tests together
WRITTEN_FOR = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def check_versions(installed: Callable[[str], str] = metadata.version) -> None:
    """Refuse to run with other versions of Faust or aiokafka than ``WRITTEN_FOR``."""
    wrong = {
        name: found for name, wanted in WRITTEN_FOR.items() if (found := installed(name)) != wanted
    }
    if wrong:
        found_text = ", ".join(f"{name} {version}" for name, version in wrong.items())
        wanted_text = ", ".join(f"{name} {WRITTEN_FOR[name]}" for name in wrong)
        raise ConfigurationError(
            f"ordersync reaches into {wanted_text} (streams/faust_internals.py) and found "
            f"{found_text}: install the locked versions (make venv, requirements.lock), or "
            "check that module against the new release and update WRITTEN_FOR with it"
        )


class App(faust.App):
    """A Faust app that says how its consumer's fetches wait: ``(min bytes, max wait ms)``,
    and what to drop before a stop or a rebalance waits for the events in flight.

    Faust fixes both fetch waits when it builds the aiokafka consumer; ``None`` keeps its
    values. ``before_wait_empty`` is called as the consumer starts waiting for every event
    it handed out to be acknowledged: events dropped then (never acknowledged, and passed
    to ``forget``) are read again by the partition's next holder.
    """

    fetch_batching: tuple[int, int] | None = None
    before_wait_empty: Callable[[], None] | None = None


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
        sought: Mapping[TP, int] = await self.call_thread(self._seek_to_committed_or_start)
        return sought

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
                cast(Consumer, self.consumer).first_offsets[TP(tp.topic, tp.partition)] = offset
        return committed


def forget(app: faust.App, message: Any) -> None:
    """Let the consumer stop waiting for ``message``: it will not be acknowledged here."""
    consumer: Any = app.consumer
    consumer._unacked_messages.discard(message)


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # partition -> the offset a never-committed partition was sought to
        self.first_offsets: dict[TP, int] = {}

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_empty(self) -> None:
        hook = getattr(self.app, "before_wait_empty", None)
        if hook is not None:
            hook()
        await super().wait_empty()

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
        if committed is None:
            committed = self.first_offsets.get(tp)
        if acked and committed is not None:
            head = min(acked)
            if head > committed and not self._gap[tp].overlaps(committed, head):
                return None  # offset `committed` has not been handled yet
        return super()._new_offset(tp)


class QuietMonitor(Monitor):
    """Faust's monitor without its per-record statistics (nothing reads them)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class _LenientSlice(bytes):
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return super().decode(encoding, "replace")


class _LenientBuffer(bytearray):
    """Slices decode with U+FFFD for bad bytes: what the parser decodes is header names."""

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return _LenientSlice(item) if isinstance(index, slice) else item


class _LenientBatch(default_records._DefaultRecordBatchPy):  # type: ignore[misc]
    def __iter__(self) -> _LenientBatch:
        self._maybe_uncompress()
        self._buffer: bytearray = _LenientBuffer(self._buffer)
        return self


class _BatchReadAgain:
    """One record batch: read by aiokafka's parser, and again leniently if a header name
    in it is not UTF-8 (the records already handed out are not handed out twice)."""

    def __init__(self, batch: Any, raw: bytes) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __next__(self) -> Any:
        return next(self._batch)

    def __iter__(self) -> Any:
        last = -1
        try:
            for record in self._batch:
                last = record.offset
                yield record
        except UnicodeDecodeError:
            log.warning("a record header name is not UTF-8; reading its batch leniently")
            for record in _LenientBatch(self._raw):
                if record.offset > last:
                    yield record


class LenientMemoryRecords:
    """aiokafka's ``MemoryRecords``, whose batches survive a header name that is not UTF-8."""

    def __init__(self, data: bytes) -> None:
        self._records = MemoryRecords(data)
        self._data = memoryview(data)
        self._position = 0

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        # every batch format starts with its offset (8 bytes) and the size of the rest (4)
        start = self._position
        size = int.from_bytes(self._data[start + 8 : start + 12], "big", signed=True)
        self._position = start + 12 + size
        if getattr(batch, "magic", 2) < 2:
            return batch  # the legacy formats have no headers
        return _BatchReadAgain(batch, bytes(self._data[start : self._position]))


class AdaptiveFetcher(fetcher.Fetcher):  # type: ignore[misc]
    """aiokafka's fetcher, waiting long for its fetches while they come back empty."""

    IDLE = (1, 1500)  # (min bytes, max wait ms) while nothing flows
    EMPTY_BEFORE_IDLE = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner: Any = self  # aiokafka's fetcher is not typed
        self._busy: tuple[int, int] = (inner._fetch_min_bytes, inner._fetch_max_wait_ms)
        self._empty = 0

    async def _proc_fetch_request(self, assignment: Any, node_id: Any, request: Any) -> bool:
        got = bool(await super()._proc_fetch_request(assignment, node_id, request))
        if got:
            self._empty = 0
            self._set_waits(self._busy)
        else:
            self._empty += 1
            if self._empty >= self.EMPTY_BEFORE_IDLE:
                self._set_waits(self.IDLE)
        return got

    def _set_waits(self, waits: tuple[int, int]) -> None:
        inner: Any = self
        inner._fetch_min_bytes, inner._fetch_max_wait_ms = waits


class PacedAccumulator(message_accumulator.MessageAccumulator):  # type: ignore[misc]
    """aiokafka's accumulator whose linger is one pace for all partitions (see above)."""

    def __init__(self, *args: Any, linger_ms: float = 0, **kwargs: Any) -> None:
        super().__init__(*args, linger_ms=0, **kwargs)
        self._pace_s = linger_ms / 1000
        self._last_drain = -self._pace_s

    def drain_by_nodes(self, ignore_nodes: Any, muted_partitions: Any = frozenset()) -> Any:
        inner: Any = self  # aiokafka's accumulator is not typed
        loop = inner._loop
        wait = self._last_drain + self._pace_s - loop.time()
        if wait <= 0 or not inner._batches:
            if inner._batches:
                self._last_drain = loop.time()
            return super().drain_by_nodes(ignore_nodes, muted_partitions)
        # too soon after the last drain: the sender sleeps until the pace allows (a new
        # batch wakes it early; it comes back here and sleeps again)
        if inner._waiter_future.done():
            inner._waiter_future = loop.create_future()
        if inner._wakeup_handle is not None:
            inner._wakeup_handle.cancel()
        inner._wakeup_handle = loop.call_later(wait, inner._wakeup, inner._waiter_future)
        return {}, False


class RecordSender:
    """Records to the app's aiokafka producer, past Faust's per-record machinery."""

    def __init__(self, app: AppT) -> None:
        self.app = app
        self._producer: Any = None

    async def queue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one record; the future resolves when the broker has it. Raises what
        aiokafka raises for a record it cannot take (``MessageSizeTooLargeError``, a
        metadata timeout)."""
        producer = self._producer
        if producer is None:
            producer = self._producer = producer_of(self.app)
        delivery: asyncio.Future[Any] = await producer.send(
            topic, value, key=key, partition=partition, headers=headers
        )
        return delivery


class ConfirmedTable(faust.Table[bytes, bytes]):
    """A Faust table whose ``write`` hands back the changelog record's delivery."""

    sender: RecordSender | None = None

    async def write(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        """Store ``value`` and queue its changelog record, on the partition of the event
        being handled (Faust's own rule: tables are co-partitioned with their streams)."""
        partition = self.partition_for_key(key)
        self.data[key] = value  # the store alone: Faust's on_key_set would send it again
        sender = self.sender
        if sender is None:
            sender = self.sender = RecordSender(self.app)
        return await sender.queue(self.changelog_topic.get_topic_name(), key, value, [], partition)


def producer_of(app: AppT) -> Any:
    """The app's aiokafka producer, made now: the first send to a topic waits for its
    metadata, and every event sending then waited with it (Faust offers no public way to
    ask for it ahead)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def _counted(send: Callable[..., Any]) -> Callable[..., Any]:
    children: dict[type, Any] = {}

    def send_counted(self: Any, request: Any, expect_response: bool = True) -> Any:
        kind = type(request)
        child = children.get(kind)
        if child is None:  # "ProduceRequest_v7" -> "Produce"
            child = children[kind] = metrics.KAFKA_REQUESTS.labels(
                kind.__name__.split("Request")[0]
            )
        child.inc()
        return send(self, request, expect_response)

    return send_counted


def register() -> None:
    """Make ``ordersync-kafka://host:port`` name this transport, with lenient header names
    and adaptive fetch waits; refuse versions this module was not written for."""
    check_versions()
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
    fetcher.MemoryRecords = LenientMemoryRecords
    aiokafka_consumer.Fetcher = AdaptiveFetcher
    aiokafka_producer.MessageAccumulator = PacedAccumulator
    if not hasattr(aiokafka_conn.AIOKafkaConnection.send, "__wrapped__"):
        counted = _counted(aiokafka_conn.AIOKafkaConnection.send)
        counted.__wrapped__ = aiokafka_conn.AIOKafkaConnection.send  # type: ignore[attr-defined]
        aiokafka_conn.AIOKafkaConnection.send = counted
