"""Putting an original event back on ``orders.events``: what a resend and a DLT replay share.

Each republished record is the original key and bytes with the control headers that link
it to its RESENT outcome, signed (``streams.headers``) so the worker honours them; the
RESENT outcome goes to ``orders.outcomes`` beside it. Nothing is confirmed until ``flush``.
"""

from __future__ import annotations

from confluent_kafka import Producer

import schemas
from streams import topics
from streams.codec import Codec
from streams.headers import RESEND_BY, RESEND_FORCE, RESEND_OF, require_signing_key, signed
from streams.records import DispatchOutcome
from streams.settings import Settings

CONFIRM_S = 30.0


class Republisher:
    def __init__(self, settings: Settings, codec: Codec) -> None:
        self.signing_key = require_signing_key(settings.signing_key)  # before anything goes
        self.codec = codec
        self.events_topic = settings.topic(topics.EVENTS)
        self.outcomes_topic = settings.topic(topics.OUTCOMES)
        self.producer = Producer(topics.kafka_config(settings, {"enable.idempotence": True}))

    def republish(
        self,
        key: bytes | None,
        value: bytes | None,
        resent: DispatchOutcome,
        operator: str,
        force: bool = False,
    ) -> None:
        """The original record again, linked to ``resent``; ``force``: sent even if a newer
        update of its kind already went out."""
        control = [
            (RESEND_OF, resent.outcome_id.encode()),
            (RESEND_BY, operator[:200].encode()),
            *([(RESEND_FORCE, b"1")] if force else []),
        ]
        self.producer.produce(
            self.events_topic,
            key=key,
            value=value,
            headers=signed(key, value, control, self.signing_key),
        )
        outcome = self.codec.encode(self.outcomes_topic, schemas.DISPATCH_OUTCOME, resent.to_avro())
        self.producer.produce(self.outcomes_topic, key=resent.key.encode(), value=outcome)
        self.producer.poll(0)

    def flush(self, what: str) -> None:
        """Return once the broker has every record, or raise naming ``what`` was not."""
        if self.producer.flush(CONFIRM_S):
            raise TimeoutError(
                f"{what} were not all confirmed by the broker within {CONFIRM_S:.0f}s"
            )
