"""Puts a handling's results on the broker: outcomes, then dead letters, a retry or parked
record.

The dispatcher calls it and waits: it returns once the broker has every record, so an
order's state is never written ahead of the outcomes it follows from. The records of one
handling go out together and are waited for together (librdkafka keeps each partition's
order); a record the broker refuses is sent again until it is taken.
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaError, KafkaException

import schemas
from streams.codec import Codec
from streams.headers import VALUE_DROPPED
from streams.producer import ConfirmedProducer
from streams.worker.messages import Handled, OutgoingRecord

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE})


class OutcomePublisher:
    def __init__(self, codec: Codec, producer: ConfirmedProducer, outcomes_topic: str) -> None:
        self.codec = codec
        self.producer = producer
        self.outcomes_topic = outcomes_topic

    async def __call__(self, handled: Handled) -> None:
        name = self.outcomes_topic
        records = [
            OutgoingRecord(
                name,
                outcome.key.encode(),
                self.codec.encode(name, schemas.DISPATCH_OUTCOME, outcome.to_avro()),
                [],
            )
            for outcome in handled.outcomes
        ]
        records += handled.records()
        # all handed to librdkafka first, in order, then waited for: one linger for all
        sent = [self._send(record, record.value, record.headers) for record in records]
        for record, future in zip(records, sent, strict=True):
            await self._confirmed(record, future)

    def _send(
        self, record: OutgoingRecord, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        return self.producer.send(record.topic, record.key, value, headers, record.partition)

    async def _confirmed(self, record: OutgoingRecord, sent: asyncio.Future[None]) -> None:
        """Wait until the broker has ``record``, sending it again while it is refused.

        A record too large for the broker can never go; it is replaced by a marker that
        names its size, so the loss is visible instead of silent.
        """
        value, headers = record.value, record.headers
        backoff = 0.1
        while True:
            try:
                # shielded: a cancelled handling leaves the delivery to the producer
                await asyncio.shield(sent)
                return
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() in TOO_LARGE and value:
                    size = len(value)
                    log.error(
                        "record of %d bytes too large for %s; sending a marker", size, record.topic
                    )
                    value, headers = None, [*headers, (VALUE_DROPPED, str(size).encode())]
                else:
                    log.error(
                        "could not send to %s (%s); again in %.1fs", record.topic, exc, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
            sent = self._send(record, value, headers)
