"""The offset Faust commits never passes an event no agent was handed."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from intervaltree import IntervalTree

from streams.kafka_transport import Consumer, ConsumerThread

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
