"""Mercado Livre connector against the Mercado Livre emulator: ME1 notices, "already done", faults."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.emulators.base import Fault
from connectors.emulators.mercadolivre import MercadoLivreEmulator
from connectors.mercadolivre import MercadoLivreConnector
from streams.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import AT, event

ORDER = "2000003508419013"
SHIPMENT = 28264263908
TOKEN = "test-secret-value"
LOOKUP = f"/orders/{ORDER}/shipments"
NOTIFY = f"/shipments/{SHIPMENT}/seller_notifications"


def emulator(**shipment: Any) -> MercadoLivreEmulator:
    emu = MercadoLivreEmulator()
    emu.add_order(ORDER, shipment_id=SHIPMENT, **shipment)
    return emu


async def send(
    emu: MercadoLivreEmulator,
    action: Action,
    event_type: EventType,
    *,
    secret: str | None = TOKEN,
    **event_fields: Any,
) -> Any:
    async with connected(emu, MercadoLivreConnector, secret=secret) as (_, connector):
        try:
            return await connector.send(action, event(event_type, order=ORDER, **event_fields))
        except DeliveryError as exc:
            return exc


def assert_lookup_then_notice(emu: MercadoLivreEmulator) -> Any:
    lookup, notice = emu.calls
    assert (lookup.method, lookup.path, lookup.refused) == ("GET", LOOKUP, None)
    assert (notice.method, notice.path, notice.refused) == ("POST", NOTIFY, None)
    for call in emu.calls:
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    return notice


def test_ship_with_tracking_notifies_shipped_with_the_tracking() -> None:
    emu = emulator()
    url = "https://rastreamento.correios.com.br/app/index.php?objeto=QB123456789BR"
    shipment = {
        "carrier": "Correios",
        "service": "SEDEX",
        "tracking_code": "QB123456789BR",
        "tracking_url": url,
        "shipped_at": AT,
    }
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment))
    assert delivery.http_status == 200 and not delivery.already_done
    notice = assert_lookup_then_notice(emu)
    assert notice.body == {
        "status": "shipped",
        "substatus": None,
        "tracking_number": "QB123456789BR",
        "tracking_url": url,
        "payload": {
            "comment": "Enviado por Correios (SEDEX)",
            "date": "2026-11-27T12:00:00.000+00:00",
        },
    }
    state = emu.shipments[ORDER]
    assert (state["status"], state["tracking_number"]) == ("shipped", "QB123456789BR")


def test_the_same_tracking_again_is_already_done() -> None:
    emu = emulator(status="shipped", tracking_number="QB123456789BR")
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED))
    assert delivery.already_done is True and delivery.http_status == 200
    assert [c.route for c in emu.calls] == ["shipment"]  # nothing posted


def test_a_corrected_tracking_number_is_sent() -> None:
    emu = emulator(status="shipped", tracking_number="QB000000000BR")
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED))
    assert not delivery.already_done
    assert emu.shipments[ORDER]["tracking_number"] == "QB123456789BR"


def test_deliver_notifies_delivered() -> None:
    emu = emulator(status="shipped", tracking_number="QB123456789BR")
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200 and not delivery.already_done
    notice = assert_lookup_then_notice(emu)
    assert notice.body == {
        "status": "delivered",
        "substatus": None,
        "payload": {"comment": "Entregue a Ana", "date": "2026-11-27T12:00:00.000+00:00"},
    }
    assert emu.shipments[ORDER]["status"] == "delivered"


def test_deliver_of_a_delivered_shipment_is_already_done() -> None:
    emu = emulator(status="delivered")
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.already_done is True
    assert emu.accepted("notify") == []


@pytest.mark.parametrize("mode", ["me2", "custom"])
def test_a_shipment_that_is_not_me1_is_action_unsupported(mode: str) -> None:
    emu = emulator(mode=mode)
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "ACTION_UNSUPPORTED" and mode in str(error)
    assert emu.accepted("notify") == []


def test_unsupported_actions_are_left_out() -> None:
    assert MercadoLivreConnector.actions == {
        Action.INVOICE,
        Action.SHIP_WITH_TRACKING,
        Action.DELIVER,
    }


# -- errors -----------------------------------------------------------------------------
class DropsEveryAttempt(MercadoLivreEmulator):
    """A connection that drops on every attempt: the aiohttp transport resends a dropped
    GET once by itself, so only a repeated drop reaches the connector (next test)."""

    def fail_next(self, *faults: Fault) -> None:
        for fault in faults:
            super().fail_next(*([fault, fault] if fault.drop else [fault]))


def dropping() -> MercadoLivreEmulator:
    emu = DropsEveryAttempt()
    emu.add_order(ORDER, shipment_id=SHIPMENT, status="shipped")
    return emu


@pytest.mark.parametrize(
    ("action", "event_type"),
    [(Action.DELIVER, EventType.DELIVERED), (Action.SHIP_WITH_TRACKING, EventType.SHIPPED)],
)
def test_fault_table(action: Action, event_type: EventType) -> None:
    check_classification(
        dropping,
        MercadoLivreConnector,
        action,
        event(event_type, order=ORDER),
        refused=(RetryableDeliveryError, "TOKEN_EXPIRED"),
    )


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (401, RetryableDeliveryError, "TOKEN_EXPIRED"),  # expires every 6 hours
        (403, PermanentDeliveryError, "AUTH_REJECTED"),  # another seller's order
    ],
)
def test_an_expired_token_is_retried_and_a_forbidden_order_is_not(
    status: int, error_type: type[DeliveryError], reason: str
) -> None:
    emu = emulator(status="shipped")
    emu.fail_next(Fault(status, body={"message": "refused", "status": status, "cause": []}))
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, error_type) and error.reason_code == reason


def test_a_single_dropped_lookup_is_resent_by_the_transport() -> None:
    emu = emulator(status="shipped")
    emu.fail_next(Fault(drop=True))
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200
    assert [(c.route, c.refused) for c in emu.calls] == [
        ("shipment", "fault 503"),
        ("shipment", None),
        ("notify", None),
    ]


def test_a_refused_notice_is_rejected() -> None:
    emu = emulator(status="not_delivered")  # final: Mercado Livre refuses any notice
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and error.http_status == 400


def test_unknown_order_is_order_not_found() -> None:
    emu = MercadoLivreEmulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "ORDER_NOT_FOUND"


def test_an_order_id_that_is_not_numeric_is_refused_before_any_call() -> None:
    emu = emulator()

    async def go() -> DeliveryError:
        async with connected(emu, MercadoLivreConnector) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(
                    Action.DELIVER, event(EventType.DELIVERED, order="../users/me")
                )
            return caught.value

    assert run(go()).reason_code == "INVALID_EVENT"
    assert emu.calls == []


def test_the_token_never_appears_in_an_error() -> None:
    secret = "APP_USR-1234567890123456-112712-abcdef0123456789abcdef0123456789-123456789"
    emu = emulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED, secret=secret))
    assert isinstance(error, RetryableDeliveryError) and error.reason_code == "TOKEN_EXPIRED"
    assert secret not in str(error)
    assert emu.calls[0].headers["Authorization"] == f"Bearer {secret}"


def test_missing_credentials_are_reported_without_a_call() -> None:
    emu = emulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED, secret=None))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "CREDENTIALS_MISSING"
    assert emu.calls == []
