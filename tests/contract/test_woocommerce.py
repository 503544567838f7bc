"""WooCommerce connector against the WooCommerce emulator: request shapes, "already done", faults."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from connectors.emulators.base import Fault
from connectors.emulators.woocommerce import WooCommerceEmulator
from connectors.woocommerce import WooCommerceConnector
from streams.errors import DeliveryError, PermanentDeliveryError
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import ACCESS_KEY, AT, event

ORDER = "645"
SECRET = "ck_test:cs_test"
BASIC = "Basic " + base64.b64encode(SECRET.encode()).decode()
ORDER_PATH = f"/wp-json/wc/v3/orders/{ORDER}"
TRACKINGS = f"/wp-json/wc-shipment-tracking/v3/orders/{ORDER}/shipment-trackings"


def emulator(**options: Any) -> WooCommerceEmulator:
    emu = WooCommerceEmulator(**options)
    emu.add_order(ORDER)
    return emu


async def send(
    emu: WooCommerceEmulator,
    action: Action,
    event_type: EventType,
    platform_status: str | None = None,
    *,
    secret: str | None = SECRET,
    **event_fields: Any,
) -> Any:
    async with connected(emu, WooCommerceConnector, secret=secret) as (_, connector):
        try:
            return await connector.send(
                action, event(event_type, order=ORDER, **event_fields), platform_status
            )
        except DeliveryError as exc:
            return exc


def only_call(emu: WooCommerceEmulator, route: str) -> Any:
    [call] = emu.calls
    assert call.route == route and call.refused is None, call.refused
    assert call.headers["Authorization"] == BASIC
    return call


# -- INVOICE ----------------------------------------------------------------------------
def test_invoice_writes_the_nfe_into_order_meta() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert delivery.http_status == 200 and not delivery.already_done
    call = only_call(emu, "order")
    assert call.method == "PUT" and call.path == ORDER_PATH
    assert "status" not in call.body
    assert call.body["meta_data"] == [
        {"key": "nfe_number", "value": "1234"},
        {"key": "nfe_series", "value": "1"},
        {"key": "nfe_access_key", "value": ACCESS_KEY},
        {"key": "nfe_issued_at", "value": "2026-11-27T12:00:00+00:00"},
    ]
    assert emu.meta(ORDER)["nfe_access_key"] == ACCESS_KEY
    assert emu.orders[ORDER]["status"] == "processing"
    run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert len(emu.orders[ORDER]["meta_data"]) == 4  # updated by key, not duplicated


# -- statuses ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "event_type", "platform_status", "sent"),
    [
        (Action.CANCEL, EventType.CANCELED, None, "cancelled"),
        (Action.DELIVER, EventType.DELIVERED, None, "completed"),
        (Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "em-separacao", "em-separacao"),
        (Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "wc-on-hold", "on-hold"),
    ],
)
def test_status_updates(
    action: Action, event_type: EventType, platform_status: str | None, sent: str
) -> None:
    emu = emulator()
    delivery = run(send(emu, action, event_type, platform_status))
    assert delivery.http_status == 200 and not delivery.already_done
    call = only_call(emu, "order")
    assert call.method == "PUT" and call.path == ORDER_PATH
    assert call.body == {"status": sent}
    assert emu.orders[ORDER]["status"] == sent


def test_a_status_the_store_does_not_have_is_rejected() -> None:
    emu = emulator()
    error = run(send(emu, Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "despachado"))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and error.http_status == 400
    assert "rest_invalid_param" in str(error)


# -- SHIP_WITH_TRACKING -----------------------------------------------------------------
def shipment(**changes: Any) -> dict[str, Any]:
    value = {
        "carrier": "Correios",
        "service": "SEDEX",
        "tracking_code": "QB123456789BR",
        "tracking_url": None,
        "shipped_at": AT.replace(hour=1),  # 01:00 UTC is still the 26th in Brasília
    }
    return value | changes


def test_tracking_with_a_predefined_provider() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment()))
    assert delivery.http_status == 201 and not delivery.already_done
    listing, created = emu.calls
    assert (listing.method, listing.path, listing.refused) == ("GET", TRACKINGS, None)
    assert (created.method, created.path, created.refused) == ("POST", TRACKINGS, None)
    assert created.headers["Authorization"] == BASIC
    assert created.body == {
        "tracking_number": "QB123456789BR",
        "date_shipped": "2026-11-26",
        "tracking_provider": "Correios",
    }
    assert emu.orders[ORDER]["trackings"][0]["tracking_provider"] == "Correios"


def test_tracking_with_a_custom_provider_and_link() -> None:
    emu = emulator()
    url = "https://www.jadlog.com.br/tracking?cte=JD0001"
    event_shipment = shipment(carrier="Jadlog", tracking_code="JD0001", tracking_url=url)
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=event_shipment))
    assert delivery.http_status == 201
    created = emu.accepted("add_tracking")[0]
    assert created.body == {
        "tracking_number": "JD0001",
        "date_shipped": "2026-11-26",
        "custom_tracking_provider": "Jadlog",
        "custom_tracking_link": url,
    }


def test_the_same_tracking_number_again_is_already_done() -> None:
    emu = emulator()
    run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment()))
    again = run(
        send(
            emu,
            Action.SHIP_WITH_TRACKING,
            EventType.SHIPPED,
            shipment=shipment(tracking_code=" qb123456789br "),
        )
    )
    assert again.already_done is True and again.http_status == 200
    assert len(emu.accepted("add_tracking")) == 1
    assert len(emu.orders[ORDER]["trackings"]) == 1  # no duplicate item


def test_a_new_tracking_number_is_added_next_to_the_old_one() -> None:
    emu = emulator()
    run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment()))
    delivery = run(
        send(
            emu,
            Action.SHIP_WITH_TRACKING,
            EventType.SHIPPED,
            shipment=shipment(tracking_code="QB000000002BR"),
        )
    )
    assert not delivery.already_done
    assert [t["tracking_number"] for t in emu.orders[ORDER]["trackings"]] == [
        "QB123456789BR",
        "QB000000002BR",
    ]


def test_a_store_without_the_tracking_extension_is_action_unsupported() -> None:
    emu = emulator(tracking_extension=False)
    error = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment()))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "ACTION_UNSUPPORTED" and error.http_status == 404


def test_ship_without_tracking_is_not_offered() -> None:
    assert Action.SHIP not in WooCommerceConnector.actions
    assert Action.START_HANDLING not in WooCommerceConnector.actions


# -- errors -----------------------------------------------------------------------------
class DropsEveryAttempt(WooCommerceEmulator):
    """A connection that drops on every attempt, not once.

    The client's aiohttp transport resends an idempotent request (PUT, GET) once when the
    connection drops, so one drop is absorbed (next test); only a drop that repeats
    reaches the connector as CONNECTION_ERROR.
    """

    def fail_next(self, *faults: Fault) -> None:
        for fault in faults:
            super().fail_next(*([fault, fault] if fault.drop else [fault]))


def dropping() -> WooCommerceEmulator:
    emu = DropsEveryAttempt()
    emu.add_order(ORDER)
    return emu


def test_fault_table() -> None:
    check_classification(
        dropping,
        WooCommerceConnector,
        Action.CANCEL,
        event(EventType.CANCELED, order=ORDER),
        secret=SECRET,
        wrong_secret="ck_test:cs_wrong",
    )


def test_fault_table_on_the_tracking_lookup() -> None:
    check_classification(
        dropping,
        WooCommerceConnector,
        Action.SHIP_WITH_TRACKING,
        event(EventType.SHIPPED, order=ORDER),
        secret=SECRET,
        wrong_secret="ck_test:cs_wrong",
    )


def test_a_single_drop_is_resent_by_the_transport() -> None:
    emu = emulator()
    emu.fail_next(Fault(drop=True))
    delivery = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert delivery.http_status == 200
    assert [c.refused for c in emu.calls] == ["fault 503", None]


def test_unknown_order_is_order_not_found() -> None:
    emu = WooCommerceEmulator()
    error = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "ORDER_NOT_FOUND"


def test_an_order_id_that_is_not_numeric_is_refused_before_any_call() -> None:
    emu = emulator()

    async def go() -> DeliveryError:
        async with connected(emu, WooCommerceConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.CANCEL, event(EventType.CANCELED, order="645?x=1"))
            return caught.value

    assert run(go()).reason_code == "INVALID_EVENT"
    assert emu.calls == []


def test_the_secret_never_appears_in_an_error() -> None:
    wrong = "ck_live_1234567890abcdef:cs_live_fedcba0987654321"
    emu = emulator()
    error = run(send(emu, Action.CANCEL, EventType.CANCELED, secret=wrong))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "AUTH_REJECTED"
    text = str(error)
    for part in (wrong, "ck_live_1234567890abcdef", "cs_live_fedcba0987654321"):
        assert part not in text
    assert base64.b64encode(wrong.encode()).decode() not in text


def test_a_malformed_secret_is_reported_without_a_call_and_without_its_value() -> None:
    malformed = "cs_live_only_the_secret_part"
    emu = emulator()
    error = run(send(emu, Action.CANCEL, EventType.CANCELED, secret=malformed))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "CREDENTIALS_MISSING"
    assert malformed not in str(error)
    assert emu.calls == []
