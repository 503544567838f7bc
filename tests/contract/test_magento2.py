"""Magento 2 connector against the Magento 2 emulator: request shapes, "already done", faults."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.emulators.base import Fault
from connectors.emulators.magento2 import Magento2Emulator
from connectors.magento2 import Magento2Connector
from streams.errors import DeliveryError, PermanentDeliveryError
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import ACCESS_KEY, AT, event

REST = "/rest/default/"
ORDER = "1001"
TOKEN = "test-secret-value"


def emulator(**order: Any) -> Magento2Emulator:
    emu = Magento2Emulator()
    emu.add_order(ORDER, **order)
    return emu


async def send(
    emu: Magento2Emulator,
    action: Action,
    event_type: EventType,
    platform_status: str | None = None,
    *,
    secret: str | None = TOKEN,
    **event_fields: Any,
) -> Any:
    async with connected(emu, Magento2Connector, secret=secret, path=REST) as (_, connector):
        try:
            return await connector.send(
                action, event(event_type, order=ORDER, **event_fields), platform_status
            )
        except DeliveryError as exc:
            return exc


def assert_auth(emu: Magento2Emulator) -> None:
    assert emu.calls, "no call reached the emulator"
    for call in emu.calls:
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"


# -- INVOICE ----------------------------------------------------------------------------
def test_invoice_creates_the_invoice_with_the_nfe_in_its_comment() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.calls
    assert (call.method, call.path, call.refused) == (
        "POST",
        f"{REST}V1/order/{ORDER}/invoice",
        None,
    )
    assert call.body["capture"] is True
    assert call.body["notify"] is True
    assert call.body["appendComment"] is True
    assert call.body["comment"]["is_visible_on_front"] == 1
    text = call.body["comment"]["comment"]
    assert "NF-e 1234 série 1" in text and ACCESS_KEY in text
    assert "27/11/2026 09:00" in text  # issued 12:00 UTC, shown in Brasília time
    assert_auth(emu)
    assert emu.invoices[0]["comments"][0]["comment"] == text
    assert emu.orders[ORDER]["state"] == "processing"


def test_invoice_sent_twice_is_already_done() -> None:
    emu = emulator()
    run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    delivery = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert delivery.already_done is True and delivery.http_status == 400
    refused = emu.calls[1]
    assert "does not allow an invoice" in (refused.refused or "")
    lookup = emu.accepted("invoices")[0]
    assert lookup.query == {
        "searchCriteria[filter_groups][0][filters][0][field]": "order_id",
        "searchCriteria[filter_groups][0][filters][0][value]": ORDER,
        "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq",
    }
    assert emu.accepted("comment") == []  # nothing written twice
    assert len(emu.invoices) == 1


def test_invoice_of_an_order_invoiced_by_the_payment_module_adds_the_nfe_comment() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)  # no NF-e on it
    other = emu.add_order("1002")
    emu.invoice_order("1002", comment=f"Chave de acesso: {ACCESS_KEY}")  # not this order's
    assert other["entity_id"] == 1002
    delivery = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert delivery.http_status == 200 and not delivery.already_done
    [comment] = emu.accepted("comment")
    assert comment.path == f"{REST}V1/orders/{ORDER}/comments"
    history = comment.body["statusHistory"]
    assert ACCESS_KEY in history["comment"]
    assert history["status"] == "processing"  # the current status, kept
    assert history["is_visible_on_front"] == 1 and history["parent_id"] == int(ORDER)
    assert emu.orders[ORDER]["status"] == "processing"
    # a retry finds the key in the history and writes nothing more
    again = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert again.already_done is True
    assert len(emu.accepted("comment")) == 1


def test_invoice_refused_for_a_held_order_is_rejected_not_already_done() -> None:
    emu = emulator(state="holded", status="holded")
    error = run(send(emu, Action.INVOICE, EventType.INVOICE_AUTHORIZED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and error.http_status == 400
    assert "An invoice cannot be created" in str(error)


# -- SHIP / SHIP_WITH_TRACKING ----------------------------------------------------------
SHIPMENT = {
    "carrier": "Correios",
    "service": "SEDEX",
    "tracking_code": "QB123456789BR",
    "tracking_url": "https://rastreamento.correios.com.br/app/index.php?objeto=QB123456789BR",
    "shipped_at": AT,
}


def shipment_event_fields() -> dict[str, Any]:
    return {"shipment": dict(SHIPMENT)}


def test_ship_with_tracking_creates_the_shipment_with_the_track() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    delivery = run(
        send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, **shipment_event_fields())
    )
    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.accepted("ship")
    assert call.method == "POST" and call.path == f"{REST}V1/order/{ORDER}/ship"
    assert call.body["notify"] is True
    assert call.body["tracks"] == [
        {"track_number": "QB123456789BR", "title": "Correios - SEDEX", "carrier_code": "custom"}
    ]
    assert call.body["appendComment"] is True
    assert SHIPMENT["tracking_url"] in call.body["comment"]["comment"]
    assert_auth(emu)
    assert emu.shipments[0]["tracks"][0]["track_number"] == "QB123456789BR"
    assert emu.orders[ORDER]["state"] == "complete"


def test_ship_with_tracking_already_on_the_shipment_is_already_done() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    emu.ship_order(ORDER, tracks=[{"track_number": "qb123456789br", "title": "x"}])
    delivery = run(
        send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, **shipment_event_fields())
    )
    assert delivery.already_done is True and delivery.http_status == 400
    assert "does not allow a shipment" in (emu.calls[0].refused or "")
    assert (
        emu.accepted("shipments")[0].query["searchCriteria[filter_groups][0][filters][0][value]"]
        == ORDER
    )
    assert emu.accepted("track") == []


def test_ship_with_tracking_of_an_order_shipped_without_it_adds_the_track() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    emu.ship_order(ORDER)
    delivery = run(
        send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, **shipment_event_fields())
    )
    assert delivery.http_status == 200 and not delivery.already_done
    [track] = emu.accepted("track")
    assert track.path == f"{REST}V1/shipment/track"
    assert track.body == {
        "entity": {
            "order_id": int(ORDER),
            "parent_id": emu.shipments[0]["entity_id"],
            "track_number": "QB123456789BR",
            "title": "Correios - SEDEX",
            "carrier_code": "custom",
        }
    }
    assert emu.shipments[0]["tracks"][0]["track_number"] == "QB123456789BR"


def test_ship_without_tracking_sends_no_tracks_and_repeats_as_already_done() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    delivery = run(send(emu, Action.SHIP, EventType.SHIPPED))
    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.accepted("ship")
    assert call.body == {"notify": True}
    assert emu.shipments[0]["tracks"] == []
    again = run(send(emu, Action.SHIP, EventType.SHIPPED))
    assert again.already_done is True
    assert len(emu.shipments) == 1


def test_ship_refused_without_any_shipment_is_rejected() -> None:
    emu = emulator(state="processing", status="processing", virtual=True)
    error = run(send(emu, Action.SHIP, EventType.SHIPPED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and error.http_status == 400


# -- DELIVER ----------------------------------------------------------------------------
def test_deliver_adds_a_history_comment_keeping_the_status() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    emu.ship_order(ORDER)
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200 and not delivery.already_done
    assert [c.route for c in emu.calls] == ["order", "comment"]
    [comment] = emu.accepted("comment")
    assert comment.method == "POST" and comment.path == f"{REST}V1/orders/{ORDER}/comments"
    assert comment.body == {
        "statusHistory": {
            "comment": "Pedido entregue em 27/11/2026 09:00 (recebido por Ana).",
            "status": "complete",
            "is_customer_notified": 0,
            "is_visible_on_front": 1,
            "parent_id": int(ORDER),
        }
    }
    assert_auth(emu)
    assert emu.orders[ORDER]["status"] == "complete"
    again = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert again.already_done is True and again.http_status == 200
    assert len(emu.accepted("comment")) == 1


# -- UPDATE_STATUS ----------------------------------------------------------------------
def test_update_status_sets_the_mapped_status() -> None:
    emu = emulator(state="processing", status="processing")
    delivery = run(send(emu, Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "pronto"))
    assert delivery.http_status == 200 and not delivery.already_done
    [comment] = emu.accepted("comment")
    history = comment.body["statusHistory"]
    assert history["status"] == "pronto"
    assert history["comment"] == "Situação atualizada pelo ERP: Pronto"
    assert history["is_customer_notified"] == 0 and history["is_visible_on_front"] == 0
    assert emu.orders[ORDER]["status"] == "pronto"
    assert_auth(emu)
    again = run(send(emu, Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "pronto"))
    assert again.already_done is True
    assert len(emu.accepted("comment")) == 1


def test_update_status_that_magento_keeps_is_rejected() -> None:
    emu = emulator(state="processing", status="processing")
    # "entregue" is assigned to the complete state only: Magento 2.4.7 answers true, keeps it
    error = run(send(emu, Action.UPDATE_STATUS, EventType.STATUS_CHANGED, "entregue"))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED"
    assert "kept status 'processing'" in str(error)


# -- CANCEL -----------------------------------------------------------------------------
def test_cancel_then_cancel_again_is_already_done() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.accepted("cancel")
    assert call.method == "POST" and call.path == f"{REST}V1/orders/{ORDER}/cancel"
    assert_auth(emu)
    assert emu.orders[ORDER]["state"] == "canceled"
    again = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert again.already_done is True and again.http_status == 200


def test_cancel_of_an_invoiced_order_is_rejected() -> None:
    emu = emulator(state="processing", status="processing")
    emu.invoice_order(ORDER)
    error = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and "credit memo" in str(error)


# -- errors -----------------------------------------------------------------------------
def test_fault_table() -> None:
    check_classification(
        emulator,
        Magento2Connector,
        Action.CANCEL,
        event(EventType.CANCELED, order=ORDER),
        path=REST,
    )


class DropsEveryAttempt(Magento2Emulator):
    """A connection that drops on every attempt, not once.

    The client's aiohttp transport retries an idempotent request (GET, PUT) once when the
    connection drops, so a single dropped GET is absorbed (see the next test); only a drop
    that repeats reaches the connector as CONNECTION_ERROR.
    """

    def fail_next(self, *faults: Fault) -> None:
        for fault in faults:
            super().fail_next(*([fault, fault] if fault.drop else [fault]))


def test_fault_table_on_a_multi_call_action() -> None:
    def make() -> Magento2Emulator:
        emu = DropsEveryAttempt()
        emu.add_order(ORDER, state="complete", status="complete")
        return emu

    check_classification(
        make, Magento2Connector, Action.DELIVER, event(EventType.DELIVERED, order=ORDER), path=REST
    )


def test_a_single_dropped_lookup_is_retried_by_the_transport() -> None:
    emu = emulator(state="complete", status="complete")
    emu.fail_next(Fault(drop=True))
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200
    assert [(c.route, c.refused) for c in emu.calls] == [
        ("order", "fault 503"),
        ("order", None),
        ("comment", None),
    ]


def test_unknown_order_is_order_not_found() -> None:
    emu = Magento2Emulator()
    error = run(send(emu, Action.CANCEL, EventType.CANCELED))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "ORDER_NOT_FOUND"


def test_an_order_id_that_is_not_an_entity_id_is_refused_before_any_call() -> None:
    emu = emulator()

    async def go() -> DeliveryError:
        async with connected(emu, Magento2Connector, path=REST) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.CANCEL, event(EventType.CANCELED, order="1/../2"))
            return caught.value

    assert run(go()).reason_code == "INVALID_EVENT"
    assert emu.calls == []


@pytest.mark.parametrize("order_exists", [True, False])
def test_the_token_never_appears_in_an_error(order_exists: bool) -> None:
    secret = "s3cr3t-magento-token-value"
    emu = emulator() if order_exists else Magento2Emulator(token=secret)
    error = run(send(emu, Action.CANCEL, EventType.CANCELED, secret=secret))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ("AUTH_REJECTED" if order_exists else "ORDER_NOT_FOUND")
    assert secret not in str(error)
    assert emu.calls[0].headers["Authorization"] == f"Bearer {secret}"


def test_missing_credentials_are_reported_without_a_call() -> None:
    emu = emulator()
    error = run(send(emu, Action.CANCEL, EventType.CANCELED, secret=None))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "CREDENTIALS_MISSING"
    assert emu.calls == []
