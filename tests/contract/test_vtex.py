"""VTEX connector against the VTEX OMS emulator: each supported action's calls, the
"already done" answers, the shared fault table and credentials kept out of errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from connectors.base import Delivery
from connectors.emulators.base import Call, Fault
from connectors.emulators.vtex import VtexEmulator, VtexOrder, package
from connectors.vtex import VtexConnector
from streams.decision import OrderState, Send, Skip, decide
from streams.errors import DeliveryError, DocumentError, PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, EventType, OrderEvent
from tests.contract.harness import check_classification, connected, run
from tests.factories import ACCESS_KEY, AT, config, event
from tests.nfe import OTHER_KEY, nfe_xml

APP_KEY = "vtexappkey-acme-KQXPTB"
APP_TOKEN = "TKNvtexSECRETvalue0123456789"
SECRET = f"{APP_KEY}:{APP_TOKEN}"
ORDER = "1172452900788-01"
BASE = f"/api/oms/pvt/orders/{ORDER}"


def emulator(status: str = "ready-for-handling", **kw: Any) -> VtexEmulator:
    emu = VtexEmulator(APP_KEY, APP_TOKEN)
    emu.add_order(ORDER, status, **kw)
    return emu


def order_event(event_type: EventType = EventType.INVOICE_AUTHORIZED, **kw: Any) -> OrderEvent:
    return event(event_type, order=ORDER, **kw)


async def send(
    emu: VtexEmulator,
    action: Action,
    ev: OrderEvent,
    secret: str = SECRET,
) -> Delivery:
    async with connected(emu, VtexConnector, secret=secret) as (_, connector):
        return await connector.send(action, ev)


async def failure(
    emu: VtexEmulator, action: Action, ev: OrderEvent, secret: str = SECRET
) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await send(emu, action, ev, secret)
    return caught.value


def assert_authenticated(call: Call) -> None:
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert headers["x-vtex-api-appkey"] == APP_KEY
    assert headers["x-vtex-api-apptoken"] == APP_TOKEN
    assert headers["accept"] == "application/json"


def the_order(emu: VtexEmulator) -> VtexOrder:
    return emu.orders[ORDER]


# -- INVOICE ---------------------------------------------------------------------------
def test_invoice_posts_the_nfe_with_the_fields_vtex_requires() -> None:
    emu = emulator()
    ev = order_event()
    delivery = run(send(emu, Action.INVOICE, ev))

    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.calls
    assert call.refused is None and call.route == "invoice"
    assert (call.method, call.path) == ("POST", f"{BASE}/invoice")
    assert_authenticated(call)
    assert ev.invoice is not None
    body = call.body
    assert body["type"] == "Output"
    assert body["invoiceNumber"] == "1234"
    assert body["invoiceValue"] == str(ev.invoice["total_cents"]) == "25990"
    assert body["invoiceKey"] == ACCESS_KEY
    assert datetime.fromisoformat(body["issuanceDate"]) == AT
    assert "invoiceUrl" not in body  # the ERP gave no XML URL: left out, never null
    assert body["items"] == [{"id": "SKU-1", "quantity": 2, "price": 12995}]
    assert the_order(emu).status == "invoiced"
    assert [p["invoiceNumber"] for p in the_order(emu).packages] == ["1234"]


def test_a_resent_invoice_number_is_accepted_and_changes_nothing() -> None:
    """VTEX answers a repeated invoiceNumber with 200 and a new receipt (documented);
    the base reports every 2xx as delivered, so this is not an "already done"."""

    async def go() -> list[str]:
        emu = emulator()
        async with connected(emu, VtexConnector, secret=SECRET) as (_, connector):
            answers = []
            call = connector.call

            async def recorded(request: Any, **options: Any) -> Any:
                answers.append(await call(request, **options))
                return answers[-1]

            connector.call = recorded  # type: ignore[method-assign]
            first = await connector.perform(Action.INVOICE, order_event(), None)
            second = await connector.perform(Action.INVOICE, order_event(), None)
            assert not first.already_done and not second.already_done
            again = await connector.send(Action.INVOICE, order_event())
        assert (first.http_status, second.http_status, again.http_status) == (200, 200, 200)
        assert len(emu.accepted("invoice")) == 3
        assert [p["invoiceNumber"] for p in the_order(emu).packages] == ["1234"]
        return [answers[0].json()["receipt"], answers[1].json()["receipt"]]

    first_receipt, second_receipt = run(go())
    assert first_receipt != second_receipt


def test_invoice_to_an_unknown_order_is_order_not_found() -> None:
    emu = VtexEmulator(APP_KEY, APP_TOKEN)
    error = run(failure(emu, Action.INVOICE, order_event()))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.ORDER_NOT_FOUND and error.http_status == 404


def test_fault_table_on_invoice() -> None:
    check_classification(
        emulator,
        VtexConnector,
        Action.INVOICE,
        order_event(),
        secret=SECRET,
        wrong_secret=f"{APP_KEY}:not-the-token",
    )


# -- START_HANDLING --------------------------------------------------------------------
def test_start_handling_posts_to_the_order() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.START_HANDLING, order_event(EventType.PICKING_STARTED)))

    assert delivery.http_status == 204 and not delivery.already_done
    [call] = emu.calls
    assert (call.method, call.path, call.refused) == ("POST", f"{BASE}/start-handling", None)
    assert_authenticated(call)
    assert the_order(emu).status == "handling"


@pytest.mark.parametrize("status", ["handling", "invoiced"])
def test_start_handling_on_an_order_already_in_handling_is_already_done(status: str) -> None:
    emu = emulator(status)
    delivery = run(send(emu, Action.START_HANDLING, order_event(EventType.PICKING_STARTED)))

    assert delivery.already_done is True and delivery.http_status == 409
    assert [(c.method, c.route) for c in emu.calls] == [
        ("POST", "start_handling"),
        ("GET", "get_order"),
    ]


def test_start_handling_on_a_cancelled_order_stays_rejected() -> None:
    emu = emulator("canceled")
    error = run(failure(emu, Action.START_HANDLING, order_event(EventType.PICKING_STARTED)))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.HTTP_REJECTED and error.http_status == 409
    assert "OMS003" in str(error) and "'canceled'" in str(error)


def test_fault_table_on_start_handling() -> None:
    check_classification(
        emulator,
        VtexConnector,
        Action.START_HANDLING,
        order_event(EventType.PICKING_STARTED),
        secret=SECRET,
        wrong_secret=f"{APP_KEY}:not-the-token",
    )


# -- SHIP_WITH_TRACKING ----------------------------------------------------------------
def test_tracking_goes_on_the_newest_output_invoice_found_on_the_order() -> None:
    emu = emulator(
        "invoiced",
        packages=[package("NF-OLD"), package("NF-9"), package("DEV-1", kind="Input")],
    )
    ev = order_event(EventType.SHIPPED)
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, ev))

    assert delivery.http_status == 200 and not delivery.already_done
    lookup, patch = emu.calls
    assert (lookup.method, lookup.path, lookup.refused) == ("GET", BASE, None)
    assert (patch.method, patch.path, patch.refused) == ("PATCH", f"{BASE}/invoice/NF-9", None)
    assert_authenticated(lookup)
    assert_authenticated(patch)
    assert patch.body == {
        "trackingNumber": "QB123456789BR",
        "trackingUrl": "",  # required by the reference; the event has none
        "courier": "Correios",
        "dispatchedDate": AT.isoformat(),
    }
    tracked = the_order(emu).package("NF-9")
    assert tracked is not None and tracked["trackingNumber"] == "QB123456789BR"


def test_tracking_without_an_invoice_on_the_order_is_rejected_without_a_patch() -> None:
    emu = emulator("handling", packages=[package("DEV-1", kind="Input")])
    error = run(failure(emu, Action.SHIP_WITH_TRACKING, order_event(EventType.SHIPPED)))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.HTTP_REJECTED
    assert "no output invoice" in str(error)
    assert [c.method for c in emu.calls] == ["GET"]


@pytest.mark.parametrize(
    ("fault", "reason", "retryable"),
    [
        (Fault(429, retry_after="3"), ReasonCode.RATE_LIMITED, True),
        (Fault(503), ReasonCode.HTTP_SERVER_ERROR, True),
        (Fault(404), ReasonCode.ORDER_NOT_FOUND, False),
        (Fault(403), ReasonCode.AUTH_REJECTED, False),
    ],
)
def test_a_failed_invoice_lookup_is_classified_and_nothing_is_patched(
    fault: Fault, reason: ReasonCode, retryable: bool
) -> None:
    # (check_classification's dropped-connection case cannot apply to the GET: the aiohttp
    # client re-sends an idempotent request once when the server drops the connection)
    emu = emulator("invoiced", packages=[package("NF-9")])
    emu.fail_next(fault)
    error = run(failure(emu, Action.SHIP_WITH_TRACKING, order_event(EventType.SHIPPED)))

    assert error.reason_code == reason and error.retryable is retryable
    assert [c.method for c in emu.calls] == ["GET"]
    if fault.retry_after:
        assert error.retry_after_s == 3.0


# -- DELIVER ---------------------------------------------------------------------------
def test_delivery_is_put_on_the_tracked_invoice() -> None:
    emu = emulator(
        "invoiced",
        packages=[package("NF-1", tracking_number="QB1BR"), package("NF-2")],
    )
    steps = [
        {
            "at": AT - timedelta(days=1),
            "city": "Campinas",
            "state": "SP",
            "description": "Em trânsito",
        },
        {"at": AT, "city": None, "state": None, "description": "Entregue"},
    ]
    ev = order_event(
        EventType.DELIVERED,
        delivery={"delivered_at": AT, "receiver": "Ana", "tracking_events": steps},
    )
    delivery = run(send(emu, Action.DELIVER, ev))

    assert delivery.http_status == 200 and not delivery.already_done
    lookup, put = emu.calls
    assert lookup.method == "GET"
    assert (put.method, put.path, put.refused) == ("PUT", f"{BASE}/invoice/NF-1/tracking", None)
    assert_authenticated(put)
    assert put.body == {
        "isDelivered": True,
        "deliveredDate": "2026-11-27 12:00",
        "events": [
            {"city": "Campinas", "state": "SP", "description": "Em trânsito", "date": "2026-11-26"},
            {"city": "", "state": "", "description": "Entregue", "date": "2026-11-27"},
        ],
    }
    tracked = the_order(emu).package("NF-1")
    assert tracked is not None and tracked["courierStatus"]["finished"] is True


# -- CANCEL ----------------------------------------------------------------------------
def test_cancel_posts_the_reason() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.CANCEL, order_event(EventType.CANCELED)))

    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.calls
    assert (call.method, call.path, call.refused) == ("POST", f"{BASE}/cancel", None)
    assert_authenticated(call)
    assert call.body == {"reason": "cliente desistiu"}
    assert the_order(emu).status == "canceled"


def test_cancelling_a_cancelled_order_is_already_done() -> None:
    emu = emulator("canceled")
    delivery = run(send(emu, Action.CANCEL, order_event(EventType.CANCELED)))

    assert delivery.already_done is True and delivery.http_status == 409
    assert [c.route for c in emu.calls] == ["cancel", "get_order"]


def test_cancelling_an_invoiced_order_stays_rejected() -> None:
    emu = emulator("invoiced", packages=[package("NF-1")])
    error = run(failure(emu, Action.CANCEL, order_event(EventType.CANCELED)))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.HTTP_REJECTED and error.http_status == 400
    assert "'invoiced'" in str(error)


def test_fault_table_on_cancel() -> None:
    check_classification(
        emulator,
        VtexConnector,
        Action.CANCEL,
        order_event(EventType.CANCELED),
        secret=SECRET,
        wrong_secret=f"{APP_KEY}:not-the-token",
    )


# -- what VTEX cannot do ---------------------------------------------------------------
def test_status_changes_and_ship_without_tracking_are_unsupported() -> None:
    assert Action.UPDATE_STATUS not in VtexConnector.actions
    assert Action.SHIP not in VtexConnector.actions
    cfg = config(platform="vtex", send_delivery_info=False)
    supported = VtexConnector.actions
    assert decide(event(EventType.STATUS_CHANGED), cfg, OrderState(), supported) == Skip(
        ReasonCode.ACTION_UNSUPPORTED
    )
    # automation 3 off: a shipment would be status-only, which VTEX has no call for
    assert decide(event(EventType.SHIPPED), cfg, OrderState(), supported) == Skip(
        ReasonCode.ACTION_UNSUPPORTED
    )
    assert decide(event(EventType.PICKING_STARTED), cfg, OrderState(), supported) == Send(
        Action.START_HANDLING
    )


# -- credentials -----------------------------------------------------------------------
@pytest.mark.parametrize("secret", ["no-colon-in-this-secret", ":token-only", "key-only:"])
def test_a_secret_that_is_not_key_colon_token_is_credentials_missing(secret: str) -> None:
    emu = emulator()
    error = run(failure(emu, Action.INVOICE, order_event(), secret=secret))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.CREDENTIALS_MISSING
    assert secret.strip(":") not in str(error)
    assert emu.calls == []


def test_the_token_is_split_on_the_first_colon_only() -> None:
    emu = VtexEmulator(APP_KEY, "tok:with:colons")
    emu.add_order(ORDER)
    run(send(emu, Action.INVOICE, order_event(), secret=f"{APP_KEY}:tok:with:colons"))
    assert emu.calls[0].refused is None


ECHO = {
    "error": {"code": "1", "message": "Bad request"},
    "request": {"headers": {"X-VTEX-API-AppKey": APP_KEY, "X-VTEX-API-AppToken": APP_TOKEN}},
    "raw": f"key {APP_KEY} token {APP_TOKEN} secret {SECRET}",
}


@pytest.mark.parametrize(
    ("fault", "action", "make_event"),
    [
        (Fault(400, body=ECHO), Action.INVOICE, order_event),
        (Fault(503, body=ECHO), Action.INVOICE, order_event),
        (Fault(409, body=ECHO), Action.CANCEL, lambda: order_event(EventType.CANCELED)),
        (Fault(drop=True), Action.INVOICE, order_event),
    ],
)
def test_credentials_never_appear_in_an_error_message(
    fault: Fault, action: Action, make_event: Callable[[], OrderEvent]
) -> None:
    emu = emulator()
    emu.fail_next(fault)
    error = run(failure(emu, action, make_event()))

    text = str(error)
    assert APP_KEY not in text and APP_TOKEN not in text
    if fault.body:
        assert "answered" in text and "***" in text  # the echo was kept, masked


def test_a_token_cut_by_the_error_excerpt_does_not_leak_its_first_characters() -> None:
    # the base keeps the first 300 characters of the body; pad so the token is cut in two
    body = "x" * (300 - len('{"echo": "') - 10) + APP_TOKEN
    emu = emulator()
    emu.fail_next(Fault(400, body={"echo": body}))
    error = run(failure(emu, Action.INVOICE, order_event()))

    assert APP_TOKEN[:10] not in str(error)
    assert str(error).endswith("***")


def test_an_invoice_with_its_xml_url_sends_it() -> None:
    emu = emulator()
    ev = order_event()
    assert ev.invoice is not None
    ev = replace(ev, invoice={**ev.invoice, "xml_url": "https://nfe.example/1234.xml"})
    run(send(emu, Action.INVOICE, ev))
    [call] = emu.calls
    assert call.refused is None and call.body["invoiceUrl"] == "https://nfe.example/1234.xml"


def test_an_invoice_with_its_xml_embeds_the_checked_document() -> None:
    emu = emulator()
    ev = order_event()
    assert ev.invoice is not None
    xml = nfe_xml()
    ev = replace(ev, invoice={**ev.invoice, "xml": xml, "xml_url": "https://nfe.example/1.xml"})
    run(send(emu, Action.INVOICE, ev))
    [call] = emu.calls
    assert call.refused is None
    assert call.body["embeddedInvoice"] == xml and call.body["invoiceKey"] == ACCESS_KEY
    assert call.body["invoiceUrl"] == "https://nfe.example/1.xml"
    assert emu.orders[ORDER].packages[-1]["embeddedInvoice"] == xml


def test_an_invoice_with_only_its_url_embeds_nothing_and_fetches_nothing() -> None:
    emu = emulator()
    ev = order_event()
    assert ev.invoice is not None
    ev = replace(ev, invoice={**ev.invoice, "xml_url": "https://nfe.example/1.xml"})
    run(send(emu, Action.INVOICE, ev))
    [call] = emu.calls
    assert "embeddedInvoice" not in call.body


@pytest.mark.parametrize(
    ("xml", "reason"),
    [(nfe_xml(key=OTHER_KEY), "NFE_KEY_MISMATCH"), (nfe_xml(status="110"), "NFE_NOT_AUTHORIZED")],
)
def test_a_wrong_embedded_document_is_invalid_and_nothing_is_sent(xml: str, reason: str) -> None:
    emu = emulator()
    ev = order_event()
    assert ev.invoice is not None
    error = run(failure(emu, Action.INVOICE, replace(ev, invoice={**ev.invoice, "xml": xml})))
    assert isinstance(error, DocumentError) and error.reason_code == reason
    assert emu.calls == []


@pytest.mark.parametrize(
    ("route", "body", "says"),
    [
        ("invoice", {"invoiceValue": 25990}, "invoiceValue: expected a str"),
        ("invoice", {"items": [{"id": 1, "price": 1, "quantity": 1}]}, "items[0].id"),
        ("invoice", {"items": [{"id": "a", "price": "1", "quantity": 1}]}, "items[0].price"),
        ("delivered", {"events": [{"description": "x", "date": "2026-11-27"}]}, "city, state"),
        ("delivered", {"isDelivered": "yes"}, "isDelivered: expected a bool"),
        ("delivered", {"deliveredDate": "2026-11-27T12:00:00Z"}, "yyyy-mm-dd hh:mm"),
        ("tracking", {"trackingUrl": 7}, "trackingUrl: expected a str"),
        ("any", {"invoiceUrl": None}, "null at invoiceUrl"),
    ],
)
def test_the_emulator_holds_requests_to_the_specs_types(
    route: str, body: dict[str, Any], says: str
) -> None:
    """What the connector must never send, refused as VTEX's published contract says."""
    valid = {
        "invoice": {
            "type": "Output", "issuanceDate": AT.isoformat(), "invoiceNumber": "1",
            "invoiceValue": "100", "items": [{"id": "a", "price": 1, "quantity": 1}],
        },
        "tracking": {
            "trackingNumber": "QB1BR", "trackingUrl": "", "courier": "Correios",
            "dispatchedDate": AT.isoformat(),
        },
        "delivered": {"isDelivered": True, "deliveredDate": "2026-11-27 12:00", "events": []},
    }  # fmt: skip
    paths = {"invoice": ("POST", "/invoice"), "tracking": ("PATCH", "/invoice/NF-1"),
             "delivered": ("PUT", "/invoice/NF-1/tracking")}  # fmt: skip
    name = "invoice" if route == "any" else route

    async def go() -> tuple[int, str]:
        emu = emulator("invoiced", packages=[package("NF-1", tracking_number="QB1BR")])
        base = await emu.start()
        method, path = paths[name]
        key, token = SECRET.split(":")
        headers = {"X-VTEX-API-AppKey": key, "X-VTEX-API-AppToken": token}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    method, f"{base}{BASE}{path}", json=valid[name] | body, headers=headers
                ) as answer,
            ):
                return answer.status, await answer.text()
        finally:
            await emu.stop()

    status, text = run(go())
    assert status == 400 and says in text, text
