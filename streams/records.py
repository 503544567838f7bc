"""The records that flow through the topics, as typed Python values.

Avro (``schemas/``) is the wire contract; these dataclasses are what the code handles.
Conversion is explicit (``from_avro`` / ``to_avro``) so the hot path stays cheap and
the mapping is readable in one place.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    INVOICE_AUTHORIZED = "INVOICE_AUTHORIZED"
    PICKING_STARTED = "PICKING_STARTED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELED = "CANCELED"
    STATUS_CHANGED = "STATUS_CHANGED"


class Action(StrEnum):
    """What ordersync asks a platform to do."""

    INVOICE = "INVOICE"  # attach the NF-e / invoice the order
    START_HANDLING = "START_HANDLING"  # picking/separation started
    SHIP = "SHIP"  # mark shipped, tracking withheld (automation 3 off or Fulfillment)
    SHIP_WITH_TRACKING = "SHIP_WITH_TRACKING"  # mark shipped with carrier and tracking code
    DELIVER = "DELIVER"  # mark delivered
    CANCEL = "CANCEL"  # cancel the order
    UPDATE_STATUS = "UPDATE_STATUS"  # set the platform status mapped from the ERP status


class Outcome(StrEnum):
    SENT = "SENT"
    SKIPPED = "SKIPPED"
    SUPERSEDED = "SUPERSEDED"
    RETRY_SCHEDULED = "RETRY_SCHEDULED"
    DEAD_LETTERED = "DEAD_LETTERED"
    INVALID = "INVALID"
    RESENT = "RESENT"
    WAITING = "WAITING"  # held behind its order's earlier event, or parked behind its store


# Outcomes after which nothing more happens to the event (until an operator resends it).
TERMINAL_OUTCOMES = frozenset(
    {Outcome.SENT, Outcome.SKIPPED, Outcome.SUPERSEDED, Outcome.DEAD_LETTERED, Outcome.INVALID}
)


def order_key(tenant: str, integration: str, platform_order_id: str) -> str:
    return f"{tenant}/{integration}/{platform_order_id}"


def now_utc() -> datetime:
    return datetime.now(UTC)


TERMINAL_NAMESPACE = uuid.UUID("6f1d3c1e-8a52-4d0b-9d4e-2f6b8c0a7e15")


def terminal_outcome_id(tenant: str, event_key: str, resend_of: str | None) -> str:
    """The id of an event's terminal outcome: the same however often it is decided.

    A crash can make a worker decide an event twice (its outcome reached Kafka, its order
    state had not); both records carry this id and the history keeps the first. The
    tenant is part of it: event ids come from each tenant's ERP, and two tenants' events
    with the same id are two events.
    """
    return _uuid5_text(f"{tenant}|{event_key}|{resend_of or ''}")


_NAMESPACE_BYTES = TERMINAL_NAMESPACE.bytes


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(TERMINAL_NAMESPACE, name))`` without the two ``UUID`` objects it
    builds on the way (a third of an outcome's cost to build)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    event_id: str
    tenant: str
    integration: str
    erp_order_id: str
    platform_order_id: str
    sequence: int
    occurred_at: datetime
    event_type: EventType
    producer: str = "erp"
    invoice: Mapping[str, Any] | None = None
    shipment: Mapping[str, Any] | None = None
    delivery: Mapping[str, Any] | None = None
    cancellation: Mapping[str, Any] | None = None
    status: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        return order_key(self.tenant, self.integration, self.platform_order_id)

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> OrderEvent:
        return cls(
            event_id=str(record["event_id"]),
            tenant=record["tenant"],
            integration=record["integration"],
            erp_order_id=record["erp_order_id"],
            platform_order_id=record["platform_order_id"],
            sequence=record["sequence"],
            occurred_at=record["occurred_at"],
            event_type=EventType(record["event_type"]),
            producer=record.get("producer", "erp"),
            invoice=record.get("invoice"),
            shipment=record.get("shipment"),
            delivery=record.get("delivery"),
            cancellation=record.get("cancellation"),
            status=record.get("status"),
        )

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "tenant": self.tenant,
            "integration": self.integration,
            "erp_order_id": self.erp_order_id,
            "platform_order_id": self.platform_order_id,
            "sequence": self.sequence,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
            "event_type": self.event_type.value,
            "invoice": self.invoice,
            "shipment": self.shipment,
            "delivery": self.delivery,
            "cancellation": self.cancellation,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class IntegrationConfig:
    integration_id: str
    tenant: str
    platform: str
    store_url: str
    platform_version: str | None = None
    credentials_ref: str | None = None
    fulfillment_mode: bool = False
    send_order_updates: bool = False
    send_cancellations: bool = False
    send_delivery_info: bool = False
    enabled: bool = True
    rate_limit_per_s: float | None = None
    status_map: Mapping[str, str] = field(default_factory=dict)
    # the ERP's own hosts: the only ones an event's invoice.xml_url is fetched from
    nfe_xml_hosts: tuple[str, ...] = ()
    nfe_attach_to_pack: bool = False  # Mercado Livre: the buyer sees the NF-e on the pack
    seller_issues_nfe: bool = True  # False: a seller on the DC-e flow (no NF-e to import)

    def __post_init__(self) -> None:
        # a list from YAML or Avro; a tuple keeps configs comparable and hashable
        hosts = self.nfe_xml_hosts
        listed = (hosts,) if isinstance(hosts, str) else tuple(hosts)
        object.__setattr__(self, "nfe_xml_hosts", tuple(str(h).strip().lower() for h in listed))

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> IntegrationConfig:
        return cls(**{name: record[name] for name in _CONFIG_FIELDS if name in record})

    def to_avro(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CONFIG_FIELDS} | {
            "status_map": dict(self.status_map),
            "nfe_xml_hosts": list(self.nfe_xml_hosts),
        }


_CONFIG_FIELDS = tuple(IntegrationConfig.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class DispatchOutcome:
    event_id: str
    tenant: str
    integration: str
    platform: str
    erp_order_id: str
    platform_order_id: str
    sequence: int
    event_type: str
    action: str
    outcome: Outcome
    reason_code: str
    attempt: int
    occurred_at: datetime
    decided_at: datetime
    http_status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    resend_of: str | None = None
    source_topic: str = ""
    source_partition: int = -1
    source_offset: int = -1
    outcome_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    due_at: datetime | None = None  # when the next attempt is due, if one is scheduled

    @property
    def key(self) -> str:
        return order_key(self.tenant, self.integration, self.platform_order_id)

    @property
    def terminal(self) -> bool:
        return self.outcome in TERMINAL_OUTCOMES

    @classmethod
    def for_event(
        cls, event: OrderEvent, platform: str, *, source: Any = None, **fields: Any
    ) -> DispatchOutcome:
        """The outcome of ``event``; with ``source`` (a ``SourceMessage``), stamped as by
        ``stamped``, built once: each event's outcome was built twice, with a random id
        made only to be replaced."""
        values: dict[str, Any] = {
            "event_id": event.event_id,
            "tenant": event.tenant,
            "integration": event.integration,
            "platform": platform,
            "erp_order_id": event.erp_order_id,
            "platform_order_id": event.platform_order_id,
            "sequence": event.sequence,
            "event_type": event.event_type.value,
            "action": "",
            "attempt": 0,
            "occurred_at": event.occurred_at,
            "decided_at": now_utc(),
            **fields,
        }
        if source is not None:
            _stamp(values, source)
        if "outcome_id" not in values:
            values["outcome_id"] = str(uuid.uuid4())
        return cls(**values)

    def stamped(self, message: Any) -> DispatchOutcome:
        """Where the event was first read, the resend it answers (from a ``SourceMessage``),
        and, when it is terminal, its idempotent id."""
        values = {"event_id": self.event_id, "tenant": self.tenant, "outcome": self.outcome}
        return replace(self, **_stamp(values, message, self.resend_of))

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> DispatchOutcome:
        values = {name: record[name] for name in _OUTCOME_FIELDS if name in record}
        values["outcome"] = Outcome(values["outcome"])
        # fastavro reads the uuid logical type as uuid.UUID; ids are compared as text
        values["outcome_id"] = str(values["outcome_id"])
        return cls(**values)

    def to_avro(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in _OUTCOME_FIELDS}
        values["outcome"] = self.outcome.value
        return values


_OUTCOME_FIELDS = tuple(DispatchOutcome.__dataclass_fields__)


def _stamp(values: dict[str, Any], message: Any, resend_of: str | None = None) -> dict[str, Any]:
    """Add to an outcome's ``values`` where its event was first read and the resend it
    answers; a terminal outcome gets its idempotent id."""
    topic, partition, offset = message.origin
    resend_of = message.resend_of or values.get("resend_of") or resend_of
    values["source_topic"] = topic
    values["source_partition"] = partition
    values["source_offset"] = offset
    values["resend_of"] = resend_of
    if values["outcome"] in TERMINAL_OUTCOMES:
        key = values["event_id"] or f"{topic}:{partition}:{offset}"
        values["outcome_id"] = terminal_outcome_id(values["tenant"], key, resend_of)
    return values
