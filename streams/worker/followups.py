"""What follows a handling besides its outcome: the retry record of a failed attempt, the
parked record of an event set aside, the dead letter of one an operator must see."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from streams import topics
from streams.errors import DeliveryError
from streams.headers import (
    ATTEMPT,
    ATTEMPTS,
    DUE,
    ERROR_CLASS,
    ERROR_MESSAGE,
    ERROR_REASON,
    FIRST_FAILURE,
    HTTP_STATUS,
    LAST_FAILURE,
    ORIGIN_OFFSET,
    ORIGIN_PARTITION,
    ORIGIN_TOPIC,
    PARKED_ID,
    RESEND_FORCE,
    RESEND_OF,
    Control,
)
from streams.reasons import ReasonCode
from streams.records import DispatchOutcome, IntegrationConfig, OrderEvent, Outcome, now_utc
from streams.redact import redact
from streams.settings import Settings
from streams.worker.messages import Handled, OutgoingRecord, SourceMessage
from streams.worker.orderstate import OrderRecord

EPOCH = datetime.fromtimestamp(0).astimezone()


def parse_key(key: bytes | None) -> tuple[str, str, str]:
    """(tenant, integration, platform order id) of an order key, as far as it goes."""
    parts = (key or b"").decode("utf-8", errors="replace").split("/", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


class FollowUps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def failed(
        self,
        message: SourceMessage,
        event: OrderEvent,
        config: IntegrationConfig,
        action: str,
        attempt: int,
        exc: DeliveryError,
        state: OrderRecord,
    ) -> Handled:
        text = redact(str(exc))
        retry = exc.retryable and attempt < self.settings.max_attempts
        if retry:
            ends = Outcome.RETRY_SCHEDULED
        else:
            ends = Outcome.INVALID if exc.invalid_input else Outcome.DEAD_LETTERED
        record = self.retry_record(message, attempt + 1, exc.retry_after_s) if retry else None
        outcome = DispatchOutcome.for_event(
            event,
            config.platform,
            action=action,
            outcome=ends,
            reason_code=exc.reason_code,
            attempt=attempt,
            http_status=exc.http_status,
            error=text[:2000],
            due_at=None if record is None else datetime.fromtimestamp(record.due_s, UTC),
            source=message,
        )
        if record is not None:
            state.blocked_by = event.event_id
            state.blocked_attempt = attempt + 1
            return Handled([outcome], retry=record)
        dead = self.dead_letter(
            message, type(exc).__name__, exc.reason_code, exc.http_status, attempt, text
        )
        return Handled([outcome], dead_letters=[dead])

    def retry_record(
        self, message: SourceMessage, next_attempt: int, retry_after_s: float | None
    ) -> OutgoingRecord:
        delays = self.settings.retry_delays_s
        delay = delays[min(next_attempt - 2, len(delays) - 1)]
        delay = min(max(delay, retry_after_s or 0.0), self.settings.retry_max_delay_s)
        due = time.time() + delay
        topic, partition, offset = message.origin
        control = message.control or Control()
        headers = {
            ATTEMPT: str(next_attempt).encode(),
            DUE: str(int(due * 1000)).encode(),
            FIRST_FAILURE: (control.first_failure or now_utc().isoformat()).encode(),
            ORIGIN_TOPIC: topic.encode(),
            ORIGIN_PARTITION: str(partition).encode(),
            ORIGIN_OFFSET: str(offset).encode(),
        }
        if control.resend_of:
            headers[RESEND_OF] = control.resend_of.encode()
        if control.force:
            headers[RESEND_FORCE] = b"1"
        retry_topic = topics.RETRY_1 if next_attempt == 2 else topics.RETRY_2
        return OutgoingRecord(
            self.settings.topic(retry_topic),
            message.key,
            message.value,
            list(headers.items()),
            # same partition number as the order's events: its state lives there
            partition=message.partition,
            due_s=due,
        )

    def parked_record(self, message: SourceMessage, park_id: str, due_s: float) -> OutgoingRecord:
        """The event set aside until ``due_s``: its store was over its budget. The same
        attempt, consumed by none; the order's state names ``park_id``, so only this copy
        of the event runs when it comes back."""
        topic, partition, offset = message.origin
        control = message.control or Control()
        headers = {
            ATTEMPT: str(message.attempt).encode(),
            DUE: str(int(due_s * 1000)).encode(),
            PARKED_ID: park_id.encode(),
            ORIGIN_TOPIC: topic.encode(),
            ORIGIN_PARTITION: str(partition).encode(),
            ORIGIN_OFFSET: str(offset).encode(),
        }
        if control.first_failure:
            headers[FIRST_FAILURE] = control.first_failure.encode()
        if control.resend_of:
            headers[RESEND_OF] = control.resend_of.encode()
        if control.force:
            headers[RESEND_FORCE] = b"1"
        return OutgoingRecord(
            self.settings.topic(topics.PARKED),
            message.key,
            message.value,
            list(headers.items()),
            partition=message.partition,  # the order's state lives there
            due_s=due_s,
        )

    def unreadable(
        self,
        message: SourceMessage,
        exc: Exception,
        reason: ReasonCode,
        outcome: Outcome,
        record: Mapping[str, object] | None = None,
    ) -> Handled:
        tenant, integration, order = parse_key(message.key)
        text = redact(f"{type(exc).__name__}: {exc}")
        fields = record or {}
        occurred = fields.get("occurred_at")
        sequence = fields.get("sequence")
        result = DispatchOutcome(
            event_id=str(fields.get("event_id", "")),
            tenant=str(fields.get("tenant", tenant)),
            integration=str(fields.get("integration", integration)),
            platform="",
            erp_order_id=str(fields.get("erp_order_id", "")),
            platform_order_id=str(fields.get("platform_order_id", order)),
            sequence=sequence if isinstance(sequence, int) else -1,
            event_type=str(fields.get("event_type", "")),
            action="",
            outcome=outcome,
            reason_code=reason.value,
            attempt=0,
            occurred_at=occurred if isinstance(occurred, datetime) else EPOCH,
            decided_at=now_utc(),
            error=text[:2000],
        ).stamped(message)
        dead = self.dead_letter(
            message, type(exc).__name__, reason.value, None, message.attempt - 1, text
        )
        return Handled([result], dead_letters=[dead])

    def dead_letter(
        self,
        message: SourceMessage,
        error_class: str,
        reason: str,
        http_status: int | None,
        attempts: int,
        text: str = "",
    ) -> OutgoingRecord:
        topic, partition, offset = message.origin
        now = now_utc().isoformat()
        first = message.control.first_failure if message.control else None
        headers = [
            (ORIGIN_TOPIC, topic.encode()),
            (ORIGIN_PARTITION, str(partition).encode()),
            (ORIGIN_OFFSET, str(offset).encode()),
            (ERROR_CLASS, error_class.encode()),
            (ERROR_REASON, reason.encode()),
            (ERROR_MESSAGE, text[:2000].encode()),
            (ATTEMPTS, str(attempts).encode()),
            (FIRST_FAILURE, (first or now).encode()),
            (LAST_FAILURE, now.encode()),
        ]
        if http_status is not None:
            headers.append((HTTP_STATUS, str(http_status).encode()))
        return OutgoingRecord(self.settings.topic(topics.DLT), message.key, message.value, headers)
