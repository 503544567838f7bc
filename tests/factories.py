"""Builders of valid events and configs for tests; each test changes only what it checks."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from streams.local.harness import ACCESS_KEY, payload
from streams.records import EventType, IntegrationConfig, OrderEvent

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# the harness's payloads, as bench and chaos publish them, at a fixed time
__all__ = ["ACCESS_KEY", "AT", "PAYLOADS", "config", "event", "event_record", "jsonable"]
PAYLOADS: dict[EventType, dict[str, Any]] = {
    event_type: {k: v for k, v in payload(event_type, AT).items() if v is not None}
    for event_type in EventType
}


def event_record(
    event_type: EventType = EventType.INVOICE_AUTHORIZED,
    *,
    integration: str = "loja-1",
    tenant: str = "acme",
    order: str = "PED-1",
    sequence: int = 1,
    **overrides: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "tenant": tenant,
        "integration": integration,
        "erp_order_id": f"ERP-{order}",
        "platform_order_id": order,
        "sequence": sequence,
        "occurred_at": AT,
        "producer": "tests",
        "event_type": event_type.value,
        "invoice": None,
        "shipment": None,
        "delivery": None,
        "cancellation": None,
        "status": None,
    }
    record.update(copy.deepcopy(PAYLOADS[event_type]))
    record.update(overrides)
    return record


def event(event_type: EventType = EventType.INVOICE_AUTHORIZED, **kw: Any) -> OrderEvent:
    return OrderEvent.from_avro(event_record(event_type, **kw))


def config(**overrides: Any) -> IntegrationConfig:
    values: dict[str, Any] = {
        "integration_id": "loja-1",
        "tenant": "acme",
        "platform": "sandbox",
        "store_url": "http://127.0.0.1:1/stores/loja-1/",
        "send_order_updates": True,
        "send_cancellations": True,
        "send_delivery_info": True,
        "status_map": {"20": "handling", "30": "ready"},
    }
    values.update(overrides)
    return IntegrationConfig(**values)


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON line an ERP would write for this record."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    result: dict[str, Any] = convert(record)
    return result
