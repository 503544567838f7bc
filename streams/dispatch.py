"""One event in, its outcomes out: decode, validate, decide, send. Never raises.

The Faust agent stays thin: it hands each message to ``Dispatcher.handle`` and
publishes what comes back. Everything that can go wrong becomes an outcome (and a
dead-letter record where an operator must act), so no event is acknowledged silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import schemas
from connectors import CONNECTORS, Connector
from connectors.http import make_client
from streams.codec import Codec
from streams.configs import IntegrationConfigs
from streams.decision import OrderState, Send, Skip, decide
from streams.errors import (
    DecodeError,
    DeliveryError,
    FieldError,
    PermanentDeliveryError,
    ValidationError,
)
from streams.reasons import ReasonCode
from streams.records import (
    DispatchOutcome,
    IntegrationConfig,
    OrderEvent,
    Outcome,
    now_utc,
)
from streams.redact import redact
from streams.settings import Secret, Settings
from streams.validation import business_errors

log = logging.getLogger(__name__)
EPOCH = datetime.fromtimestamp(0).astimezone()


@dataclass(frozen=True, slots=True)
class SourceMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None
    resend_of: str | None = None  # set when an operator resent the event


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class Handled:
    outcomes: list[DispatchOutcome] = field(default_factory=list)
    dead_letter: DeadLetter | None = None


class ConnectorPool:
    """One connector, and so one HTTP client with its connection pool, per integration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: dict[str, tuple[IntegrationConfig, Connector]] = {}

    def get(self, config: IntegrationConfig) -> Connector:
        held = self._pool.get(config.integration_id)
        if held is not None and held[0] == config:
            return held[1]
        credentials: Secret | None = None
        if config.credentials_ref:
            credentials = self.settings.secret(config.credentials_ref)
            if credentials is None:
                raise PermanentDeliveryError(
                    f"secret {config.credentials_ref!r} is not set "
                    f"(ORDERSYNC_SECRET_{config.credentials_ref} or the secrets directory)",
                    reason_code=ReasonCode.CREDENTIALS_MISSING,
                )
        client = make_client(
            config.store_url,
            timeout_s=self.settings.http_timeout_s,
            allowed=self.settings.allowed_networks,
        )
        connector = CONNECTORS[config.platform](config, credentials, client)
        self._pool[config.integration_id] = (config, connector)
        return connector

    def secrets(self) -> list[str]:
        return [c.credentials.reveal() for _, c in self._pool.values() if c.credentials]

    async def close(self) -> None:
        for _, connector in self._pool.values():
            await connector.client.aclose()
        self._pool.clear()


class Dispatcher:
    def __init__(
        self, settings: Settings, codec: Codec, configs: IntegrationConfigs, pool: ConnectorPool
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.configs = configs
        self.pool = pool

    async def handle(self, message: SourceMessage) -> Handled:
        handled = await self._handle_safely(message)
        if message.resend_of:
            handled.outcomes = [replace(o, resend_of=message.resend_of) for o in handled.outcomes]
        return handled

    async def _handle_safely(self, message: SourceMessage) -> Handled:
        try:
            return await self._handle(message)
        except Exception as exc:  # the last line of defence: never lose the event
            log.exception(
                "unexpected error handling %s[%d]@%d",
                message.topic,
                message.partition,
                message.offset,
            )
            return self._invalid_or_failed(
                message, exc, ReasonCode.INTERNAL_ERROR, Outcome.DEAD_LETTERED
            )

    async def _handle(self, message: SourceMessage) -> Handled:
        try:
            record = self.codec.decode(message.value, schemas.ORDER_EVENT)
        except DecodeError as exc:
            return self._invalid_or_failed(
                message, exc, ReasonCode(exc.reason_code), Outcome.INVALID
            )
        errors = business_errors(record)
        if errors:
            return self._invalid_or_failed(
                message, ValidationError(errors), ReasonCode.INVALID_EVENT, Outcome.INVALID, record
            )
        event = OrderEvent.from_avro(record)
        config = self.configs.get(event.integration)
        platform = config.platform if config else ""
        connector_cls = CONNECTORS.get(platform)
        supported = connector_cls.actions if connector_cls else None
        decision = decide(event, config, OrderState(), supported)
        if isinstance(decision, Skip):
            outcome = DispatchOutcome.for_event(
                event,
                platform,
                outcome=Outcome.DEAD_LETTERED if decision.is_error else Outcome.SKIPPED,
                reason_code=decision.reason.value,
            ).with_source(message.topic, message.partition, message.offset)
            dead = (
                self._dead_letter(message, type(decision).__name__, decision.reason.value, None, 0)
                if decision.is_error
                else None
            )
            return Handled([outcome], dead)
        assert config is not None
        return await self._send(message, event, config, decision)

    async def _send(
        self, message: SourceMessage, event: OrderEvent, config: IntegrationConfig, decision: Send
    ) -> Handled:
        attempt = 1
        try:
            connector = self.pool.get(config)
            delivery = await connector.send(decision.action, event, decision.platform_status)
        except DeliveryError as exc:
            text = redact(str(exc), self.pool.secrets())
            outcome = DispatchOutcome.for_event(
                event,
                config.platform,
                action=decision.action.value,
                outcome=Outcome.DEAD_LETTERED,
                reason_code=exc.reason_code,
                attempt=attempt,
                http_status=exc.http_status,
                error=text,
            ).with_source(message.topic, message.partition, message.offset)
            return Handled(
                [outcome],
                self._dead_letter(
                    message, type(exc).__name__, exc.reason_code, exc.http_status, attempt, text
                ),
            )
        outcome = DispatchOutcome.for_event(
            event,
            config.platform,
            action=decision.action.value,
            outcome=Outcome.SENT,
            reason_code=(
                ReasonCode.ALREADY_DONE if delivery.already_done else ReasonCode.DELIVERED
            ).value,
            attempt=attempt,
            http_status=delivery.http_status,
            latency_ms=round(delivery.latency_ms, 3),
        ).with_source(message.topic, message.partition, message.offset)
        return Handled([outcome])

    def _invalid_or_failed(
        self,
        message: SourceMessage,
        exc: Exception,
        reason: ReasonCode,
        outcome: Outcome,
        record: Mapping[str, object] | None = None,
    ) -> Handled:
        tenant, integration, order = _parse_key(message.key)
        text = redact(f"{type(exc).__name__}: {exc}", self.pool.secrets())
        occurred = record.get("occurred_at") if record else None
        result = DispatchOutcome(
            event_id=str(record.get("event_id", "")) if record else "",
            tenant=str(record.get("tenant", tenant)) if record else tenant,
            integration=str(record.get("integration", integration)) if record else integration,
            platform="",
            erp_order_id=str(record.get("erp_order_id", "")) if record else "",
            platform_order_id=str(record.get("platform_order_id", order)) if record else order,
            sequence=int(record.get("sequence", -1)) if record else -1,  # type: ignore[call-overload]
            event_type=str(record.get("event_type", "")) if record else "",
            action="",
            outcome=outcome,
            reason_code=reason.value,
            attempt=0,
            occurred_at=occurred if isinstance(occurred, datetime) else EPOCH,
            decided_at=now_utc(),
            error=text[:2000],
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
        )
        return Handled(
            [result], self._dead_letter(message, type(exc).__name__, reason.value, None, 0, text)
        )

    def _dead_letter(
        self,
        message: SourceMessage,
        error_class: str,
        reason: str,
        http_status: int | None,
        attempts: int,
        text: str = "",
    ) -> DeadLetter:
        when = now_utc().isoformat()
        headers = [
            ("ordersync.original.topic", message.topic.encode()),
            ("ordersync.original.partition", str(message.partition).encode()),
            ("ordersync.original.offset", str(message.offset).encode()),
            ("ordersync.error.class", error_class.encode()),
            ("ordersync.error.reason", reason.encode()),
            ("ordersync.error.message", text[:2000].encode()),
            ("ordersync.attempts", str(attempts).encode()),
            ("ordersync.failure.first", when.encode()),
            ("ordersync.failure.last", when.encode()),
        ]
        if http_status is not None:
            headers.append(("ordersync.http.status", str(http_status).encode()))
        return DeadLetter(message.key, message.value, headers)


def _parse_key(key: bytes | None) -> tuple[str, str, str]:
    parts = (key or b"").decode("utf-8", errors="replace").split("/", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def field_errors_text(errors: list[FieldError]) -> str:
    return "; ".join(str(e) for e in errors)


__all__ = ["ConnectorPool", "Dispatcher", "Handled", "SourceMessage"]
