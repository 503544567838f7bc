"""One message in, its outcomes out: decode, validate, order, decide, send. Never raises.

The Faust agents stay thin: they hand each message (from ``orders.events`` or a retry
topic) to ``Dispatcher.handle`` and publish what comes back — outcomes, at most one
retry record and at most one dead letter. Everything that can go wrong becomes an
outcome, so no event is acknowledged silently (faust acks even when an agent raises).

Per order, one event at a time: while an event waits in a retry topic, later events of
the order are held in the order's state and released, in order, when it resolves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

import schemas
from connectors import CONNECTORS
from streams import logs, topics
from streams.codec import Codec
from streams.decision import OrderState, Skip, decide, update_kind
from streams.errors import (
    DecodeError,
    DeliveryError,
    KeyMismatchError,
    ValidationError,
)
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
    RESEND_FORCE,
    RESEND_OF,
    Control,
    HeaderError,
    Headers,
    read_control,
)
from streams.reasons import ReasonCode
from streams.records import DispatchOutcome, IntegrationConfig, OrderEvent, Outcome, now_utc
from streams.redact import redact
from streams.settings import Settings
from streams.validation import business_errors
from streams.worker.configs import IntegrationConfigs
from streams.worker.lanes import OrderLanes, SendingSlots
from streams.worker.orderstate import HeldMessage, OrderRecord, OrderStates
from streams.worker.pool import ConnectorPool

log = logging.getLogger(__name__)
EPOCH = datetime.fromtimestamp(0).astimezone()
CREDENTIALS_REFUSED = frozenset({ReasonCode.AUTH_REJECTED, ReasonCode.TOKEN_EXPIRED})


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """A record as read, and, once the dispatcher has read them, its control headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: float | None = None  # when it was published (Kafka record time, seconds)
    control: Control | None = None  # None until read (and trusted) by the dispatcher

    @property
    def attempt(self) -> int:
        """The attempt this message is for: 1 from orders.events, n from a retry topic."""
        return self.control.attempt if self.control else 1

    @property
    def resend_of(self) -> str | None:
        return self.control.resend_of if self.control else None

    @property
    def forced(self) -> bool:
        """An operator's ``--force`` resend: sent even past no-regression and dedupe."""
        return self.control.force if self.control else False

    @property
    def origin(self) -> tuple[str, int, int]:
        """Where the event was first read, carried through the retry topics."""
        if self.control is not None and self.control.origin is not None:
            return self.control.origin
        return self.topic, self.partition, self.offset


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None = None
    due_s: float = 0.0  # for retries: when the next attempt may start (epoch seconds)


@dataclass(slots=True)
class Handled:
    outcomes: list[DispatchOutcome] = field(default_factory=list)
    retry: OutgoingRecord | None = None
    dead_letters: list[OutgoingRecord] = field(default_factory=list)

    def extend(self, other: Handled) -> None:
        self.outcomes += other.outcomes
        self.dead_letters += other.dead_letters
        if other.retry is not None:
            self.retry = other.retry


Publish = Callable[[Handled], Awaitable[None]]


async def _discard(handled: Handled) -> None:
    return None


class Dispatcher:
    """``publish`` must return only once the broker has the records: the order's state is
    written after it, so a crash can never leave "delivered" state without its outcome."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        configs: IntegrationConfigs,
        pool: ConnectorPool,
        states: OrderStates,
        publish: Publish = _discard,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.configs = configs
        self.pool = pool
        self.states = states
        self.publish = publish
        self._events_topic = settings.topic(topics.EVENTS)
        # event id -> tenant, from its send until its order's state is written: what a
        # crash now could send again (the chaos run holds repeated deliveries to it)
        self.sending: dict[str, str] = {}
        self._lanes = OrderLanes()
        self._slots = SendingSlots(settings.dispatch_concurrency, settings.store_concurrency)

    def submit(self, message: SourceMessage) -> asyncio.Task[Handled]:
        """Start handling ``message`` behind every earlier message of its order; at once.

        The route agent and the retry agents share an order's state: its lane orders them.
        """
        return self._lanes.start(message.key, lambda: self._handle_safely(message))

    async def handle(self, message: SourceMessage) -> Handled:
        """Decide, send, publish the results, then record the order's state; never raises."""
        return await self.submit(message)

    async def _handle_safely(self, message: SourceMessage) -> Handled:
        try:
            return await self._handle(message)
        except Exception as exc:  # the last line of defence: never lose the event
            log.exception(
                "unexpected error on %s[%d]@%d", message.topic, message.partition, message.offset
            )
            handled = self._unreadable(
                message, exc, ReasonCode.INTERNAL_ERROR, Outcome.DEAD_LETTERED
            )
            await self.publish(handled)
            return handled

    def _read_control(self, message: SourceMessage) -> SourceMessage | Handled:
        """``message`` with its control headers read, or its INVALID outcome."""
        if message.control is not None:
            return message
        try:
            control = read_control(
                message.key,
                message.value,
                message.headers,
                internal=message.topic != self._events_topic,
                signing_key=self.settings.signing_key,
            )
        except HeaderError as exc:
            try:  # the event's own ids, when it decodes, for the report
                record = self.codec.decode(message.value, schemas.ORDER_EVENT)
            except DecodeError:
                record = None
            return self._unreadable(
                message, exc, ReasonCode(exc.reason_code), Outcome.INVALID, record
            )
        return replace(message, control=control)

    async def _handle(self, message: SourceMessage) -> Handled:
        tenant, integration, _ = _parse_key(message.key)
        logs.about(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            order=message.key.decode("utf-8", "replace") if message.key else None,
            integration=integration,
            tenant=tenant,
        )
        read = self._read_control(message)
        if isinstance(read, Handled):
            await self.publish(read)
            return read
        message = read
        event = self._decode(message)
        if isinstance(event, Handled):
            await self.publish(event)
            return event
        state = self.states.get(message.key)
        if _already_attempted(message, event.event_id, state):
            # read again after a crash or rebalance: its retry record carries it on, and
            # a second chain of attempts could end differently and send it twice
            log.info(
                "attempt %d of event %s was already made; its retry owns it (order %s)",
                message.attempt,
                event.event_id,
                event.key,
            )
            return Handled()
        first_attempt = message.attempt == 1
        if first_attempt and state.blocked_by is not None and state.blocked_by != event.event_id:
            state.held.append(
                HeldMessage(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    message.resend_of,
                    message.forced,
                )
            )
            await self.states.put(message.key, state)
            log.info(
                "event %s held behind %s (order %s)", event.event_id, state.blocked_by, event.key
            )
            return Handled()
        # the slot is held until the state is written: a crash can repeat only what holds one
        # a paused store waits for the end of its pause before it takes a shared slot
        ready = partial(self.pool.wait_until_resumed, event.integration)
        async with self._slots.hold(event.integration, ready):
            handled = await self._process(message, event, state)
            released = False
            if state.blocked_by == event.event_id and handled.retry is None:
                state.blocked_by = None  # resolved: sent, skipped or dead-lettered
                released = bool(state.held)
                await self._release_held(state, handled)
            if _rebuilt_by_replay(message, handled, released):
                # one round trip to the broker instead of two, while the slot is held
                await asyncio.gather(self.publish(handled), self.states.put(message.key, state))
            else:
                await self.publish(handled)
                await self.states.put(message.key, state)
            for outcome in handled.outcomes:  # their states are written: no longer at risk
                self.sending.pop(outcome.event_id, None)
        return handled

    async def _release_held(self, state: OrderRecord, handled: Handled) -> None:
        """Handle the events held behind the resolved one."""
        while state.held and state.blocked_by is None:
            held = state.held.pop(0)
            # read, and trusted, when it was held
            control = Control(resend_of=held.resend_of, force=held.force)
            message = SourceMessage(
                held.topic, held.partition, held.offset, held.key, held.value, control=control
            )
            event = self._decode(message)
            if isinstance(event, Handled):
                handled.extend(event)
                continue
            handled.extend(await self._process(message, event, state))

    def _decode(self, message: SourceMessage) -> OrderEvent | Handled:
        try:
            record = self.codec.decode(message.value, schemas.ORDER_EVENT)
        except DecodeError as exc:
            return self._unreadable(message, exc, ReasonCode(exc.reason_code), Outcome.INVALID)
        errors = business_errors(record)
        if errors:
            return self._unreadable(
                message, ValidationError(errors), ReasonCode.INVALID_EVENT, Outcome.INVALID, record
            )
        event = OrderEvent.from_avro(record)
        logs.about(
            event_id=event.event_id,
            order=event.key,
            integration=event.integration,
            tenant=event.tenant,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        expected = event.key.encode()
        if message.key != expected:
            # the key places the order's state and its lane: another order's, or none
            given = "no key" if message.key is None else f"key {message.key[:120]!r}"
            error = KeyMismatchError(f"{given}, but the event is of order {expected!r}")
            return self._unreadable(
                message, error, ReasonCode.KEY_MISMATCH, Outcome.INVALID, record
            )
        return event

    async def _process(
        self, message: SourceMessage, event: OrderEvent, state: OrderRecord
    ) -> Handled:
        config = self.configs.get(event.integration)
        platform = config.platform if config else ""
        connector_cls = CONNECTORS.get(platform)
        forced = message.forced
        order_state = OrderState() if forced else OrderState(state.delivered)
        decision = decide(
            event, config, order_state, connector_cls.actions if connector_cls else None
        )
        if isinstance(decision, Skip):
            outcome = (
                Outcome.DEAD_LETTERED if decision.is_error
                else Outcome.SUPERSEDED if decision.reason is ReasonCode.SUPERSEDED_BY_NEWER
                else Outcome.SKIPPED
            )  # fmt: skip
            result = DispatchOutcome.for_event(
                event, platform, outcome=outcome, reason_code=decision.reason.value
            ).stamped(message)
            dead = (
                [self._dead_letter(message, "Skip", decision.reason.value, None, 0)]
                if decision.is_error
                else []
            )
            return Handled([result], dead_letters=dead)
        assert config is not None
        action = decision.action.value
        if not forced and state.was_delivered(event.event_id, action):
            # Read again after a crash or rebalance, or resent: it went out already. Its
            # outcome is recorded again, in case only the state reached the broker (the
            # history keeps the first record of a terminal outcome, so a repeat is dropped
            # there). A resend gets it too: a worker stopped after a last attempt's dead
            # letter, before its state, makes that attempt again; the history keeps the
            # dead letter, and resending it would deliver the update twice.
            log.info("event %s (%s) already delivered; not sent again", event.event_id, action)
            again = DispatchOutcome.for_event(
                event,
                config.platform,
                action=action,
                outcome=Outcome.SENT,
                reason_code=ReasonCode.ALREADY_DELIVERED.value,
                attempt=message.attempt,
            ).stamped(message)
            return Handled([again])
        attempt = message.attempt
        self.sending[event.event_id] = event.tenant
        try:
            connector = self.pool.get(config)
            delivery = await connector.send(decision.action, event, decision.platform_status)
        except DeliveryError as exc:
            if exc.reason_code in CREDENTIALS_REFUSED:
                self.pool.refused(config)
            return self._failed(message, event, config, action, attempt, exc, state)
        state.record_delivery(event.event_id, action, update_kind(decision.action), event.sequence)
        sent = DispatchOutcome.for_event(
            event,
            config.platform,
            action=action,
            outcome=Outcome.SENT,
            reason_code=(
                ReasonCode.ALREADY_DONE if delivery.already_done else ReasonCode.DELIVERED
            ).value,
            attempt=attempt,
            http_status=delivery.http_status,
            latency_ms=round(delivery.latency_ms, 3),
        ).stamped(message)
        return Handled([sent])

    def _failed(
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
        outcome = DispatchOutcome.for_event(
            event,
            config.platform,
            action=action,
            outcome=Outcome.RETRY_SCHEDULED if retry else Outcome.DEAD_LETTERED,
            reason_code=exc.reason_code,
            attempt=attempt,
            http_status=exc.http_status,
            error=text[:2000],
        ).stamped(message)
        if retry:
            state.blocked_by = event.event_id
            state.blocked_attempt = attempt + 1
            return Handled(
                [outcome], retry=self._retry_record(message, attempt + 1, exc.retry_after_s)
            )
        dead = self._dead_letter(
            message, type(exc).__name__, exc.reason_code, exc.http_status, attempt, text
        )
        return Handled([outcome], dead_letters=[dead])

    def _retry_record(
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

    def _unreadable(
        self,
        message: SourceMessage,
        exc: Exception,
        reason: ReasonCode,
        outcome: Outcome,
        record: Mapping[str, object] | None = None,
    ) -> Handled:
        tenant, integration, order = _parse_key(message.key)
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
        dead = self._dead_letter(
            message, type(exc).__name__, reason.value, None, message.attempt - 1, text
        )
        return Handled([result], dead_letters=[dead])

    def _dead_letter(
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


def _rebuilt_by_replay(message: SourceMessage, handled: Handled, released: bool) -> bool:
    """Whether ``handled`` can go to the broker together with the order's state.

    If the worker stops with the state written and the outcomes not, the message is read
    again (it is acknowledged only after both) and its outcomes come out again: a
    delivered event's SENT is re-recorded, not re-sent. That holds for a first attempt
    whose handling left nothing else behind. A retry record, or a dead letter, would be
    pointed past by the state, and so would events released from the order's hold (read
    long ago); a retry attempt read again defers to the state, which says it is
    resolved. Those records land before the state.
    """
    return (
        message.attempt == 1 and not released and handled.retry is None and not handled.dead_letters
    )


def _already_attempted(message: SourceMessage, event_id: str, state: OrderRecord) -> bool:
    """Whether ``message`` is an attempt made before, read again.

    While an event waits for its retry, only the attempt its retry record is for may run;
    a retry record of an event that no longer waits was resolved already (sent, or
    dead-lettered: an operator resends those, not a stray replay).
    """
    if state.blocked_by == event_id:
        return message.attempt < state.blocked_attempt
    return message.attempt > 1


def _parse_key(key: bytes | None) -> tuple[str, str, str]:
    parts = (key or b"").decode("utf-8", errors="replace").split("/", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


__all__ = ["ConnectorPool", "Dispatcher", "Handled", "OutgoingRecord", "SourceMessage"]
