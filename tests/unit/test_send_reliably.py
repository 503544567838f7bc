"""``send_reliably``: every record reaches the broker, in order, or the event waits."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from streams.faust_app import send_reliably
from streams.headers import VALUE_DROPPED
from streams.worker.messages import OutgoingRecord


class Broker:
    """A producer whose answers are scripted per record value: an exception raised at
    queueing, or one set on the delivery; anything else is delivered."""

    def __init__(self, **script: list[BaseException]) -> None:
        self.script = script
        self.delivered: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = []
        self.queued: list[bytes | None] = []

    async def queue(
        self, topic: str, key: Any, value: bytes | None, headers: Any, partition: Any
    ) -> asyncio.Future[None]:
        self.queued.append(value)
        faults = self.script.get((value or b"marker").decode(), [])
        fault = faults.pop(0) if faults else None
        if isinstance(fault, MessageSizeTooLargeError):
            raise fault
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if fault is not None:
            future.set_exception(fault)
        else:
            self.delivered.append((topic, value, headers))
            future.set_result(None)
        return future


def records(*values: bytes) -> list[OutgoingRecord]:
    return [OutgoingRecord("outcomes", b"k", v, []) for v in values]


def test_every_record_is_queued_before_any_is_awaited_and_all_are_delivered() -> None:
    broker = Broker()
    asyncio.run(send_reliably(broker, records(b"a", b"b", b"c")))  # type: ignore[arg-type]
    assert [v for _, v, _ in broker.delivered] == [b"a", b"b", b"c"]


def test_a_failed_delivery_is_sent_again_until_the_broker_has_it() -> None:
    broker = Broker(b=[KafkaTimeoutError(), KafkaTimeoutError()])
    asyncio.run(send_reliably(broker, records(b"a", b"b")))  # type: ignore[arg-type]
    assert [v for _, v, _ in broker.delivered] == [b"a", b"b"]
    assert broker.queued == [b"a", b"b", b"b", b"b"]


def test_a_record_too_large_goes_as_a_marker_naming_its_size() -> None:
    broker = Broker(big=[MessageSizeTooLargeError()])
    asyncio.run(send_reliably(broker, records(b"big", b"after")))  # type: ignore[arg-type]
    assert broker.delivered == [
        ("outcomes", None, [(VALUE_DROPPED, b"3")]),
        ("outcomes", b"after", []),
    ]
