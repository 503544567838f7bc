from __future__ import annotations

import pytest

from streams.records import EventType
from streams.validation import business_errors, parse_event
from tests.factories import event_record, jsonable


def messages(obj: object) -> list[str]:
    _, errors = parse_event(obj)
    return [str(e) for e in errors]


def test_valid_event_parses_with_timestamps() -> None:
    record, errors = parse_event(jsonable(event_record()))
    assert errors == []
    assert record["occurred_at"].tzinfo is not None
    assert record["invoice"]["issued_at"].year == 2026


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda e: e["invoice"].update(access_key="1" * 43),
            "invoice.access_key: expected 44 digits, got 43",
        ),
        (
            lambda e: e["invoice"].update(access_key="A" * 44),
            "invoice.access_key: expected 44 digits, got non-digits",
        ),
        (lambda e: e.update(event_id="nope"), "event_id: expected a UUID, got 'nope'"),
        (lambda e: e.pop("platform_order_id"), "platform_order_id: is required"),
        (lambda e: e.update(sequence="7"), "sequence: expected an integer, got '7'"),
        (
            lambda e: e.update(occurred_at="yesterday"),
            "occurred_at: expected an ISO-8601 date-time, got 'yesterday'",
        ),
        (
            lambda e: e["invoice"].update(items=[]),
            "invoice.items: expected at least 1 item(s), got 0",
        ),
        (
            lambda e: e["invoice"]["items"][0].update(quantity=0),
            "invoice.items[0].quantity: expected at least 1, got 0",
        ),
        (lambda e: e.update(invoice=None), "invoice: is required for INVOICE_AUTHORIZED"),
        (lambda e: e.update(colour="red"), "colour: unknown field"),
        (lambda e: e.update(event_type="REFUNDED"), "event_type: expected one of"),
        (lambda e: e.update(integration="a/b"), "integration: must not contain '/'"),
    ],
)
def test_each_problem_names_its_field(change: object, expected: str) -> None:
    obj = jsonable(event_record())
    change(obj)  # type: ignore[operator]
    found = messages(obj)
    assert any(m.startswith(expected) for m in found), found


def test_payload_of_another_type_is_refused() -> None:
    record = event_record(EventType.CANCELED)
    record["shipment"] = event_record(EventType.SHIPPED)["shipment"]
    assert [str(e) for e in business_errors(record)] == ["shipment: must be empty for CANCELED"]


def test_picking_may_carry_a_status() -> None:
    assert business_errors(event_record(EventType.PICKING_STARTED)) == []
    assert business_errors(event_record(EventType.PICKING_STARTED, status=None)) == []


def test_not_an_object() -> None:
    assert messages([1, 2]) == ["expected an object, got [1, 2]"]
