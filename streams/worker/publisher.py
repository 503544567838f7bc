"""Puts a handling's results on the broker: outcomes, then dead letters, a retry or parked
record.

The dispatcher calls it and waits: it returns once the broker has every record, so an
order's state is never written ahead of the outcomes it follows from.
"""

from __future__ import annotations

import faust

import schemas
from streams.codec import Codec
from streams.faust_app import send_reliably
from streams.worker.messages import Handled


class OutcomePublisher:
    def __init__(
        self, codec: Codec, outcomes: faust.TopicT, records: dict[str, faust.TopicT]
    ) -> None:
        """``records``: the topics of retry records, parked records and dead letters, by name."""
        self.codec = codec
        self.outcomes = outcomes
        self.records = records

    async def __call__(self, handled: Handled) -> None:
        name = self.outcomes.get_topic_name()
        for outcome in handled.outcomes:
            value = self.codec.encode(name, schemas.DISPATCH_OUTCOME, outcome.to_avro())
            await send_reliably(self.outcomes, outcome.key.encode(), value, [])
        for record in handled.records():
            await send_reliably(
                self.records[record.topic],
                record.key,
                record.value,
                record.headers,
                record.partition,
            )
