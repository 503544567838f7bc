"""The offset Faust commits never passes an event no agent was handed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from intervaltree import IntervalTree

from streams import faust_internals
from streams.faust_internals import Consumer, ConsumerThread

PARTITION = TP("orders.events", 0)


def consumer(
    committed: int | None,
    acked: list[int],
    gap: tuple[int, int] | None,
    first: int | None = None,
) -> Consumer:
    # only the offset book-keeping is exercised: no broker, no service start
    bare = object.__new__(Consumer)
    bare.first_offsets = {} if first is None else {PARTITION: first}
    bare._acked = defaultdict(list, {PARTITION: list(acked)})
    bare._acked_index = defaultdict(set, {PARTITION: set(acked)})
    bare._committed_offset = defaultdict(lambda: None, {PARTITION: committed})
    bare._gap = defaultdict(IntervalTree)
    if gap:
        bare._gap[PARTITION].addi(*gap)
    return bare


@pytest.mark.parametrize(
    ("committed", "acked", "gap", "expected"),
    [
        (31, [31, 32, 33], None, 34),  # the head is the next offset to read
        (31, [32, 33], None, None),  # 31 was never handled: Faust alone would commit 34
        (None, [0, 1, 2], None, 3),  # nothing committed yet
        (31, [31, 32, 35], None, 33),  # stops at the first hole
        (31, [100, 101], (32, 100), 102),  # retention removed 32..99: a known gap
        # never committed, sought to its first offset: 0..4 still handled, 5..9 acked
        (None, [5, 6, 7, 8, 9], None, None),
        (None, [0, 1, 2], None, 3),
    ],
)
def test_new_offset(
    committed: int | None, acked: list[int], gap: tuple[int, int] | None, expected: int | None
) -> None:
    assert consumer(committed, acked, gap, first=0)._new_offset(PARTITION) == expected


class CommitProbe(ConsumerThread):
    """Only ``_commit`` is exercised: no broker, no thread."""

    COMMIT_TIMEOUT_S = 0.05

    def __init__(self) -> None:  # skips the service's set-up
        self.crashes: list[BaseException] = []

    async def crash(self, reason: BaseException) -> None:
        self.crashes.append(reason)


def test_a_commit_that_never_returns_stops_the_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(self: object, offsets: object) -> bool:
        await asyncio.Event().wait()
        return True

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_commit", never)
    probe = CommitProbe()
    assert asyncio.run(probe._commit({PARTITION: 5})) is False
    assert len(probe.crashes) == 1


def test_a_commit_that_returns_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def done(self: object, offsets: object) -> bool:
        return True

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_commit", done)
    probe = CommitProbe()
    assert asyncio.run(probe._commit({PARTITION: 5})) is True
    assert probe.crashes == []


def test_other_versions_of_faust_or_aiokafka_are_refused_by_name() -> None:
    from streams.errors import ConfigurationError
    from streams.faust_internals import WRITTEN_FOR, check_versions

    check_versions(lambda name: WRITTEN_FOR[name])  # the versions it was written for: fine
    newer = {"faust-streaming": "0.16.0", "aiokafka": WRITTEN_FOR["aiokafka"]}
    with pytest.raises(ConfigurationError, match=r"faust-streaming 0\.16\.0"):
        check_versions(newer.__getitem__)


def test_the_installed_versions_are_those_it_was_written_for() -> None:
    from streams.faust_internals import check_versions

    check_versions()  # the lock file installs them; a drift fails here, not in production


def test_fetches_wait_long_after_three_empty_ones_and_short_again_with_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiokafka.consumer import fetcher

    from streams.faust_internals import AdaptiveFetcher

    answers = iter([False, False, False, True])

    async def scripted(self: object, assignment: object, node_id: object, request: object) -> bool:
        return next(answers)

    monkeypatch.setattr(fetcher.Fetcher, "_proc_fetch_request", scripted)
    bare: Any = object.__new__(AdaptiveFetcher)
    bare._fetch_min_bytes, bare._fetch_max_wait_ms = 4096, 5
    bare._busy, bare._empty = (4096, 5), 0

    async def fetch() -> tuple[int, int]:
        await bare._proc_fetch_request(None, 0, None)
        return bare._fetch_min_bytes, bare._fetch_max_wait_ms

    seen = [asyncio.run(fetch()) for _ in range(4)]
    assert seen == [(4096, 5), (4096, 5), AdaptiveFetcher.IDLE, (4096, 5)]


def test_kafka_requests_are_counted_by_kind() -> None:
    from prometheus_client import REGISTRY

    class ProduceRequest_v7:  # named as aiokafka names its requests
        pass

    sent: list[object] = []

    def send(connection: object, request: object, expect_response: bool = True) -> str:
        sent.append(request)
        return "answer"

    def produced() -> float:
        value = REGISTRY.get_sample_value("ordersync_kafka_requests_total", {"api": "Produce"})
        return value or 0.0

    before = produced()
    counted = faust_internals._counted(send)
    request = ProduceRequest_v7()
    assert counted(object(), request) == "answer"
    assert counted(object(), request, False) == "answer"
    assert sent == [request, request]
    assert produced() == before + 2


def test_the_quiet_monitor_keeps_no_per_record_statistics() -> None:
    monitor = faust_internals.QuietMonitor()
    monitor.on_message_in(None, 0, None)
    monitor.on_table_set(None, b"k", b"v")
    assert monitor.messages_received_total == 0
    assert not monitor.tables


class OneBroker:
    """Every partition's leader is broker 0."""

    def leader_for_partition(self, tp: object) -> int:
        return 0


def test_records_of_every_partition_wait_for_the_pace_and_go_in_one_request() -> None:
    from aiokafka.structs import TopicPartition

    pace_s = 0.3

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        paced = faust_internals.PacedAccumulator(
            OneBroker(), 16384, 0, 30, loop=loop, linger_ms=pace_s * 1000
        )

        async def add(partition: int) -> None:
            await paced.add_message(TopicPartition("outcomes", partition), b"k", b"v", 5)

        # nothing sent for a while: the first record goes at once
        await add(0)
        first, _ = paced.drain_by_nodes(ignore_nodes=set())
        assert list(first[0]) == [TopicPartition("outcomes", 0)]
        drained_at = loop.time()
        # the next ones, of other partitions, wait for the pace, together
        await add(1)
        assert paced.waiter().done()  # a new batch wakes the sender...
        assert paced.drain_by_nodes(ignore_nodes=set()) == ({}, False)
        assert not paced.waiter().done()  # ...which sleeps again: too soon
        await add(2)
        assert paced.drain_by_nodes(ignore_nodes=set()) == ({}, False)
        await asyncio.wait_for(paced.waiter(), 10)
        assert loop.time() - drained_at >= pace_s * 0.9
        second, _ = paced.drain_by_nodes(ignore_nodes=set())
        assert sorted(second[0]) == [TopicPartition("outcomes", 1), TopicPartition("outcomes", 2)]

    asyncio.run(scenario())


def test_without_a_pace_every_record_goes_at_once() -> None:
    from aiokafka.structs import TopicPartition

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        paced = faust_internals.PacedAccumulator(OneBroker(), 16384, 0, 30, loop=loop)
        for partition in range(3):
            await paced.add_message(TopicPartition("outcomes", partition), b"k", b"v", 5)
            drained, _ = paced.drain_by_nodes(ignore_nodes=set())
            assert list(drained[0]) == [TopicPartition("outcomes", partition)]

    asyncio.run(scenario())
