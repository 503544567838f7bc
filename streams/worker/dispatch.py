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
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import schemas
from connectors import CONNECTORS, Connector, Delivery
from streams import logs, topics
from streams.codec import Codec
from streams.decision import OrderState, Send, Skip, decide, update_kind
from streams.errors import (
    DecodeError,
    DeliveryError,
    KeyMismatchError,
    ValidationError,
)
from streams.headers import (
    Control,
    HeaderError,
    read_control,
)
from streams.reasons import ReasonCode
from streams.records import DispatchOutcome, OrderEvent, Outcome
from streams.settings import Settings
from streams.validation import business_errors
from streams.worker.configs import IntegrationConfigs
from streams.worker.followups import FollowUps, parse_key
from streams.worker.lanes import OrderLanes
from streams.worker.messages import Handled, SourceMessage
from streams.worker.orderstate import HeldMessage, OrderRecord, OrderStates
from streams.worker.pool import ConnectorPool
from streams.worker.risk import AtRisk
from streams.worker.stores import Stores

log = logging.getLogger(__name__)
EPOCH = datetime.fromtimestamp(0).astimezone()
CREDENTIALS_REFUSED = frozenset({ReasonCode.AUTH_REJECTED, ReasonCode.TOKEN_EXPIRED})
# answers that say the store takes too much: its limit halves
OVERLOADED = frozenset({ReasonCode.RATE_LIMITED, ReasonCode.TIMEOUT, ReasonCode.HTTP_SERVER_ERROR})


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
        self.follow = FollowUps(settings)
        self._events_topic = settings.topic(topics.EVENTS)
        # event id -> tenant, from its send until its order's state is written: what a
        # crash now could send again (the chaos run holds repeated deliveries to it)
        self.sending: dict[str, str] = {}
        self._lanes = OrderLanes()
        self.stores = Stores(settings.store_concurrency, settings.store_concurrency_max)
        # handlings with a send whose order's state is not yet written: a crash repeats
        # only these, and memory holds only these many sends under way
        self._at_risk = asyncio.Semaphore(settings.max_in_flight)
        self._tasks: set[asyncio.Task[Handled]] = set()
        self._risks: dict[asyncio.Task[object], AtRisk] = {}

    def submit(self, message: SourceMessage) -> asyncio.Task[Handled]:
        """Start handling ``message`` behind every earlier message of its order; at once.

        The route agent and the retry agents share an order's state: its lane orders them.
        """
        task = self._lanes.start(message.key, lambda: self._handle_safely(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def abandon_waiting(self) -> int:
        """Cancel every handling that has not begun a send: its event stays unacknowledged,
        and is read again by whoever holds its partition next. What is sending finishes.

        A stop or a rebalance waits for the events in flight; with thousands read ahead
        (a metered store's among them) that would be minutes, past the group's rebalance
        timeout. Only a handling with a send under way may not be cut short: the platform
        may already have the update, and its outcome and state must be written.
        """
        abandoned = 0
        for task in list(self._tasks):
            risk = self._risks.get(task)
            if not task.done() and (risk is None or not risk.holds):
                task.cancel()
                abandoned += 1
        return abandoned

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
            handled = self.follow.unreadable(
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
            return self.follow.unreadable(
                message, exc, ReasonCode(exc.reason_code), Outcome.INVALID, record
            )
        return replace(message, control=control)

    async def _handle(self, message: SourceMessage) -> Handled:
        tenant, integration, _ = parse_key(message.key)
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
            # pending in the report until its turn: outcome first, like every handling
            held = Handled([self._waiting(message, event, ReasonCode.ORDER_HELD, None)])
            await self.publish(held)
            await self.states.put(message.key, state)
            log.info(
                "event %s held behind %s (order %s)", event.event_id, state.blocked_by, event.key
            )
            return held
        park_id = message.control.park_id if message.control else None
        if park_id is not None and park_id == state.parked_id:
            state.parked_id = None  # back from the parking topic: it is its turn again
            self.stores.gate(event.integration).unpark(park_id)
        risk = AtRisk(self._at_risk, self.sending)
        task = asyncio.current_task()
        if task is not None:
            self._risks[task] = risk
        try:
            handled = await self._process(message, event, state, risk)
            released = False
            if state.blocked_by == event.event_id and not handled.waits:
                state.blocked_by = None  # resolved: sent, skipped or dead-lettered
                released = bool(state.held)
                await self._release_held(state, handled, risk)
            if _rebuilt_by_replay(message, handled, released):
                # one round trip to the broker instead of two: the state's record is queued
                # before the outcomes are waited for
                written = await self.states.write(message.key, state)
                await self.publish(handled)
                await self.states.confirmed(message.key, written)
            else:
                await self.publish(handled)
                await self.states.put(message.key, state)
        finally:
            risk.settle()  # the order's state is written: its sends are no longer at risk
            self._risks.pop(task, None)  # type: ignore[arg-type]
        return handled

    async def _release_held(self, state: OrderRecord, handled: Handled, risk: AtRisk) -> None:
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
            handled.extend(await self._process(message, event, state, risk))

    def _decode(self, message: SourceMessage) -> OrderEvent | Handled:
        try:
            record = self.codec.decode(message.value, schemas.ORDER_EVENT)
        except DecodeError as exc:
            return self.follow.unreadable(
                message, exc, ReasonCode(exc.reason_code), Outcome.INVALID
            )
        errors = business_errors(record)
        if errors:
            return self.follow.unreadable(
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
            return self.follow.unreadable(
                message, error, ReasonCode.KEY_MISMATCH, Outcome.INVALID, record
            )
        return event

    async def _process(
        self, message: SourceMessage, event: OrderEvent, state: OrderRecord, risk: AtRisk
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
                event,
                platform,
                outcome=outcome,
                reason_code=decision.reason.value,
                source=message,
            )
            dead = (
                [self.follow.dead_letter(message, "Skip", decision.reason.value, None, 0)]
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
                source=message,
            )
            return Handled([again])
        attempt = message.attempt
        gate = self.stores.gate(config.integration_id)
        if gate.full(self.settings.store_queue_s):
            return self._park(message, event, state, gate.next_turn_in())
        try:
            connector = self.pool.get(config)
            delivery = await self._send(connector, decision, event, risk)
        except DeliveryError as exc:
            if exc.reason_code in CREDENTIALS_REFUSED:
                self.pool.refused(config)
            return self.follow.failed(message, event, config, action, attempt, exc, state)
        if delivery.skipped is not None:
            # the platform's answer showed nothing was to be sent (Mercado Livre issues a
            # Full shipment's NF-e itself): recorded, not delivered, so a replay asks again
            outcome, reason = Outcome.SKIPPED, delivery.skipped
        else:
            state.record_delivery(
                event.event_id, action, update_kind(decision.action), event.sequence
            )
            outcome = Outcome.SENT
            reason = ReasonCode.ALREADY_DONE if delivery.already_done else ReasonCode.DELIVERED
        answered = DispatchOutcome.for_event(
            event,
            config.platform,
            action=action,
            outcome=outcome,
            reason_code=reason.value,
            attempt=attempt,
            http_status=delivery.http_status,
            latency_ms=round(delivery.latency_ms, 3),
            source=message,
        )
        return Handled([answered])

    def _park(
        self, message: SourceMessage, event: OrderEvent, state: OrderRecord, due_in_s: float
    ) -> Handled:
        """Set the event aside on the parking topic, its order held behind it as behind a
        retry: its store already has what it can send in the next seconds waiting."""
        park_id = uuid.uuid4().hex
        state.blocked_by = event.event_id
        state.blocked_attempt = message.attempt
        state.parked_id = park_id
        due_s = time.time() + due_in_s
        self.stores.gate(event.integration).park(park_id, due_s)
        parked = self.follow.parked_record(message, park_id, due_s)
        waiting = self._waiting(message, event, ReasonCode.STORE_QUEUED, due_s)
        return Handled([waiting], parked=parked)

    def _waiting(
        self, message: SourceMessage, event: OrderEvent, reason: ReasonCode, due_s: float | None
    ) -> DispatchOutcome:
        """The WAITING outcome of an event not sent yet, for the report's Pendentes tab."""
        config = self.configs.get(event.integration)
        return DispatchOutcome.for_event(
            event,
            config.platform if config is not None else "",
            outcome=Outcome.WAITING,
            reason_code=reason.value,
            attempt=message.attempt,
            due_at=None if due_s is None else datetime.fromtimestamp(due_s, UTC),
            source=message,
        )

    async def _send(
        self, connector: Connector, decision: Send, event: OrderEvent, risk: AtRisk
    ) -> Delivery:
        """The platform call, at the store's turn (``Stores``), counted at risk until the
        order's state is written."""
        gate = self.stores.gate(event.integration)
        await gate.enter(connector.limiter)
        started = time.perf_counter()
        answered: float | None = None
        overloaded = False
        try:
            await risk.add(event.event_id, event.tenant)
            delivery = await connector.send(decision.action, event, decision.platform_status)
            answered = time.perf_counter() - started
            return delivery
        except DeliveryError as exc:
            overloaded = exc.reason_code in OVERLOADED
            if exc.http_status is not None:
                answered = time.perf_counter() - started
            raise
        finally:
            gate.leave(answered, overloaded)


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
    return message.attempt == 1 and not released and not handled.waits and not handled.dead_letters


def _already_attempted(message: SourceMessage, event_id: str, state: OrderRecord) -> bool:
    """Whether ``message`` is an attempt made before, read again.

    While an event waits for its retry, only the attempt its retry record is for may run;
    while it is parked, only the parked copy its order's state names; a retry or parked
    record of an event that no longer waits was resolved already (sent, or dead-lettered:
    an operator resends those, not a stray replay).
    """
    park_id = message.control.park_id if message.control else None
    if state.blocked_by == event_id:
        if state.parked_id is not None:  # parked: only the copy the state names runs
            return park_id != state.parked_id
        return message.attempt < state.blocked_attempt
    return message.attempt > 1 or park_id is not None
