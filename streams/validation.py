"""Checks an order event field by field, before it is published and after it is decoded.

``parse_event`` turns one JSON object (a line of ``ordersync publish``) into the Avro
record, collecting every problem with its field path. ``business_errors`` holds the
rules that the Avro types cannot express; the worker applies them to decoded records.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from streams.errors import FieldError
from streams.records import EventType

ACCESS_KEY = re.compile(r"\d{44}")
# an inline NF-e XML leaves the rest of the event room within the broker's 1,000,000 bytes
INLINE_XML_MAX_BYTES = 950_000
PAYLOAD_OF = {
    EventType.INVOICE_AUTHORIZED: "invoice",
    EventType.SHIPPED: "shipment",
    EventType.DELIVERED: "delivery",
    EventType.CANCELED: "cancellation",
    EventType.STATUS_CHANGED: "status",
    EventType.PICKING_STARTED: None,  # status optional
}
PAYLOADS = ("invoice", "shipment", "delivery", "cancellation", "status")

Check = Callable[[Any, str, list[FieldError]], Any]


def _string(required: bool = True) -> Check:
    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            errors.append(FieldError(path, f"expected a non-empty string, got {_show(value)}"))
        return value

    return check


def _integer(minimum: int | None = None) -> Check:
    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(path, f"expected an integer, got {_show(value)}"))
        elif minimum is not None and value < minimum:
            errors.append(FieldError(path, f"expected at least {minimum}, got {value}"))
        return value

    return check


def _timestamp(value: Any, path: str, errors: list[FieldError]) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    errors.append(FieldError(path, f"expected an ISO-8601 date-time, got {_show(value)}"))
    return value


def _uuid(value: Any, path: str, errors: list[FieldError]) -> Any:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        errors.append(FieldError(path, f"expected a UUID, got {_show(value)}"))
        return value


def _record(fields: Mapping[str, Check], optional: Mapping[str, Any] | None = None) -> Check:
    defaults = dict(optional or {})

    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        if not isinstance(value, Mapping):
            errors.append(FieldError(path, f"expected an object, got {_show(value)}"))
            return value
        out: dict[str, Any] = {}
        for name, field_check in fields.items():
            sub = f"{path}.{name}" if path else name
            if name not in value:
                if name in defaults:
                    out[name] = defaults[name]
                    continue
                errors.append(FieldError(sub, "is required"))
                continue
            out[name] = field_check(value[name], sub, errors)
        for extra in sorted(set(value) - set(fields)):
            errors.append(FieldError(f"{path}.{extra}" if path else extra, "unknown field"))
        return out

    return check


def _array(item: Check, min_items: int = 0) -> Check:
    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        if not isinstance(value, list):
            errors.append(FieldError(path, f"expected a list, got {_show(value)}"))
            return value
        if len(value) < min_items:
            errors.append(
                FieldError(path, f"expected at least {min_items} item(s), got {len(value)}")
            )
        return [item(v, f"{path}[{i}]", errors) for i, v in enumerate(value)]

    return check


def _enum(names: frozenset[str]) -> Check:
    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        if value not in names:
            errors.append(
                FieldError(path, f"expected one of {', '.join(sorted(names))}, got {_show(value)}")
            )
        return value

    return check


def _nullable(inner: Check) -> Check:
    def check(value: Any, path: str, errors: list[FieldError]) -> Any:
        return None if value is None else inner(value, path, errors)

    return check


INVOICE = _record(
    {
        "number": _string(),
        "series": _string(),
        "access_key": _string(),
        "issued_at": _timestamp,
        "total_cents": _integer(0),
        "items": _array(
            _record({"sku": _string(), "quantity": _integer(1), "unit_price_cents": _integer(0)}),
            min_items=1,
        ),
        "xml_url": _string(required=False),
        "xml": _string(required=False),
    },
    optional={"xml_url": None, "xml": None},
)
SHIPMENT = _record(
    {
        "carrier": _string(),
        "service": _string(required=False),
        "tracking_code": _string(),
        "tracking_url": _string(required=False),
        "shipped_at": _timestamp,
    },
    optional={"service": None, "tracking_url": None},
)
DELIVERY = _record(
    {
        "delivered_at": _timestamp,
        "receiver": _string(required=False),
        "tracking_events": _array(
            _record(
                {
                    "at": _timestamp,
                    "city": _string(required=False),
                    "state": _string(required=False),
                    "description": _string(),
                },
                optional={"city": None, "state": None},
            )
        ),
    },
    optional={"receiver": None, "tracking_events": []},
)
CANCELLATION = _record({"reason": _string(), "cancelled_at": _timestamp})
STATUS = _record({"code": _string(), "name": _string()})

EVENT = _record(
    {
        "event_id": _uuid,
        "tenant": _string(),
        "integration": _string(),
        "erp_order_id": _string(),
        "platform_order_id": _string(),
        "sequence": _integer(0),
        "occurred_at": _timestamp,
        "producer": _string(),
        "event_type": _enum(frozenset(EventType)),
        "invoice": _nullable(INVOICE),
        "shipment": _nullable(SHIPMENT),
        "delivery": _nullable(DELIVERY),
        "cancellation": _nullable(CANCELLATION),
        "status": _nullable(STATUS),
    },
    optional={"producer": "erp"} | dict.fromkeys(PAYLOADS),
)


def parse_event(obj: Any) -> tuple[dict[str, Any], list[FieldError]]:
    """Parse one JSON event into its Avro record; errors are empty when it is valid."""
    errors: list[FieldError] = []
    record = EVENT(obj, "", errors)
    if not errors:
        errors.extend(business_errors(record))
    return record, errors


def business_errors(record: Mapping[str, Any]) -> list[FieldError]:
    """Rules the Avro schema cannot express; applied by publishers and by the worker."""
    errors: list[FieldError] = []
    for name in ("tenant", "integration", "erp_order_id", "platform_order_id"):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(FieldError(name, "is required and must not be blank"))
        elif "/" in value and name != "erp_order_id":
            errors.append(FieldError(name, "must not contain '/' (it separates the order key)"))
    if record.get("sequence", 0) < 0:
        errors.append(FieldError("sequence", f"expected at least 0, got {record.get('sequence')}"))
    try:
        event_type = EventType(str(record.get("event_type")))
    except ValueError:
        errors.append(
            FieldError("event_type", f"unknown event type {_show(record.get('event_type'))}")
        )
        return errors
    expected = PAYLOAD_OF[event_type]
    if expected and record.get(expected) is None:
        errors.append(FieldError(expected, f"is required for {event_type.value}"))
    for payload in PAYLOADS:
        if payload != expected and record.get(payload) is not None:
            if event_type is EventType.PICKING_STARTED and payload == "status":
                continue
            errors.append(FieldError(payload, f"must be empty for {event_type.value}"))
    invoice = record.get("invoice")
    if isinstance(invoice, Mapping):
        key = invoice.get("access_key")
        if isinstance(key, str) and not ACCESS_KEY.fullmatch(key):
            detail = f"got {len(key)}" if key.isdigit() else "got non-digits"
            errors.append(FieldError("invoice.access_key", f"expected 44 digits, {detail}"))
        xml = invoice.get("xml")
        if isinstance(xml, str) and len(xml) > INLINE_XML_MAX_BYTES // 4:
            size = len(xml.encode("utf-8", errors="surrogatepass"))
            if size > INLINE_XML_MAX_BYTES:
                errors.append(
                    FieldError(
                        "invoice.xml",
                        f"{size:,} bytes, over the {INLINE_XML_MAX_BYTES:,} an event may carry "
                        "(a record is at most 1,000,000 bytes): give invoice.xml_url instead",
                    )
                )
    return errors


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
