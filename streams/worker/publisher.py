"""Puts a handling's results on the broker: outcomes, then dead letters, a retry or parked
record.

The dispatcher calls it and waits: it returns once the broker has every record, so an
order's state is never written ahead of the outcomes it follows from.
"""

from __future__ import annotations

import schemas
from streams import faust_internals
from streams.codec import Codec
from streams.faust_app import send_reliably
from streams.worker.messages import Handled, OutgoingRecord


class OutcomePublisher:
    def __init__(
        self, codec: Codec, outcomes_topic: str, sender: faust_internals.RecordSender
    ) -> None:
        self.codec = codec
        self.outcomes_topic = outcomes_topic
        self.sender = sender

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
        await send_reliably(self.sender, [*records, *handled.records()])
