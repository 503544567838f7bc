"""Tray connector against the Tray store-API emulator: each supported action's calls,
the "already done" NF-e, the shared fault table and the access token kept out of errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import Delivery
from connectors.emulators.base import Call, Fault
from connectors.emulators.tray import TrayEmulator, TrayOrder
from connectors.tray import TrayConnector
from streams.decision import OrderState, Send, Skip, decide
from streams.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, EventType, OrderEvent
from tests.contract.harness import check_classification, connected, run
from tests.factories import ACCESS_KEY, config, event

TOKEN = "APP_ID-4321-STORE_ID-1234-tray-secret-token-value"
ORDER = "5678"
PATH = "/web_api/"
STATUSES = (("11", "AGUARDANDO PAGAMENTO"), ("12", "A ENVIAR"), ("13", "Em separação"))


def emulator(**kw: Any) -> TrayEmulator:
    emu = TrayEmulator(TOKEN, **kw)
    emu.add_order(ORDER)
    return emu


def order_event(event_type: EventType = EventType.INVOICE_AUTHORIZED, **kw: Any) -> OrderEvent:
    return event(event_type, order=ORDER, **kw)


async def send(
    emu: TrayEmulator,
    action: Action,
    ev: OrderEvent,
    platform_status: str | None = None,
    secret: str = TOKEN,
) -> Delivery:
    async with connected(emu, TrayConnector, secret=secret, path=PATH) as (_, connector):
        return await connector.send(action, ev, platform_status)


async def failure(
    emu: TrayEmulator, action: Action, ev: OrderEvent, platform_status: str | None = None
) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await send(emu, action, ev, platform_status)
    return caught.value


def accepted(call: Call, method: str, path: str) -> None:
    assert (call.method, call.path, call.refused) == (method, path, None)
    assert call.query["access_token"] == TOKEN


def the_order(emu: TrayEmulator) -> TrayOrder:
    return emu.orders[ORDER]


def test_rate_limit_is_180_per_minute_per_app() -> None:
    async def go() -> float:
        async with connected(emulator(), TrayConnector, secret=TOKEN, path=PATH) as (_, c):
            assert c.limiter.rate is not None
            return c.limiter.rate

    assert TrayConnector.default_rate_per_s == 3.0
    assert run(go()) == pytest.approx(3.0)


# -- INVOICE ---------------------------------------------------------------------------
def test_invoice_posts_the_nfe_wrapped_in_invoice() -> None:
    emu = emulator()
    ev = order_event()
    delivery = run(send(emu, Action.INVOICE, ev))

    assert delivery.http_status == 201 and not delivery.already_done
    [call] = emu.calls
    accepted(call, "POST", f"/web_api/orders/{ORDER}/invoices")
    assert ev.invoice is not None
    assert call.body == {
        "Invoice": {
            "issue_date": "2026-11-27",
            "number": "1234",
            "serie": "1",
            "value": "259.90",  # total_cents 25990
            "key": ACCESS_KEY,
        }
    }
    assert ev.invoice["total_cents"] == 25990
    assert [i["key"] for i in the_order(emu).invoices] == [ACCESS_KEY]


def test_invoice_dates_are_brasilia_dates_and_the_danfe_link_is_sent() -> None:
    emu = emulator()
    invoice = {
        "number": "77",
        "series": "2",
        "access_key": ACCESS_KEY,
        "issued_at": datetime(2026, 11, 28, 1, 30, tzinfo=UTC),  # 22:30 on the 27th in BRT
        "total_cents": 5,
        "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 5}],
        "xml_url": "https://erp.example/nfe/77.xml",
    }
    run(send(emu, Action.INVOICE, order_event(invoice=invoice)))

    body = emu.calls[0].body["Invoice"]
    assert body["issue_date"] == "2026-11-27"
    assert body["value"] == "0.05"
    assert body["serie"] == "2"
    assert body["link"] == "https://erp.example/nfe/77.xml"


def test_an_nfe_already_on_the_order_is_already_done() -> None:
    async def go() -> tuple[Delivery, Delivery]:
        emu = emulator()
        async with connected(emu, TrayConnector, secret=TOKEN, path=PATH) as (_, connector):
            first = await connector.send(Action.INVOICE, order_event())
            second = await connector.send(Action.INVOICE, order_event())
        assert [c.route for c in emu.calls] == ["invoice", "invoice", "order_complete"]
        assert len(the_order(emu).invoices) == 1
        return first, second

    first, second = run(go())
    assert first.already_done is False
    assert second.already_done is True and second.http_status == 400


def test_a_refused_nfe_that_is_not_on_the_order_stays_rejected() -> None:
    emu = emulator()
    emu.fail_next(Fault(422, body={"message": "Unprocessable", "causes": ["value"]}))
    error = run(failure(emu, Action.INVOICE, order_event()))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.HTTP_REJECTED and error.http_status == 422
    assert [c.route for c in emu.calls] == ["invoice", "order_complete"]


def test_invoice_to_an_unknown_order_is_order_not_found() -> None:
    emu = TrayEmulator(TOKEN)
    error = run(failure(emu, Action.INVOICE, order_event()))
    assert error.reason_code == ReasonCode.ORDER_NOT_FOUND and error.http_status == 404


def test_fault_table_on_invoice() -> None:
    # (INVOICE, a POST: the aiohttp client re-sends an idempotent PUT once when the
    # connection drops, so the table's dropped-connection case cannot apply to the PUTs)
    check_classification(
        emulator,
        TrayConnector,
        Action.INVOICE,
        order_event(),
        secret=TOKEN,
        wrong_secret="expired-tray-token",
        refused=(RetryableDeliveryError, "TOKEN_EXPIRED"),
        path=PATH,
    )


# -- SHIP_WITH_TRACKING ----------------------------------------------------------------
def test_tracking_code_and_date_are_put_on_the_order() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, order_event(EventType.SHIPPED)))

    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.calls
    accepted(call, "PUT", f"/web_api/orders/{ORDER}")
    assert call.body == {"Order": {"sending_code": "QB123456789BR", "sending_date": "2026-11-27"}}
    assert the_order(emu).sending_code == "QB123456789BR"


@pytest.mark.parametrize(
    ("fault", "reason", "retryable"),
    [
        (Fault(429, retry_after="20"), ReasonCode.RATE_LIMITED, True),
        (Fault(502), ReasonCode.HTTP_SERVER_ERROR, True),
        (Fault(400), ReasonCode.HTTP_REJECTED, False),
        (Fault(401), ReasonCode.AUTH_REJECTED, False),
        (Fault(401, body={"code": 401, "error_code": 1000}), ReasonCode.TOKEN_EXPIRED, True),
        (Fault(401, body={"code": 401, "error_code": 1001}), ReasonCode.AUTH_REJECTED, False),
    ],
)
def test_a_failed_tracking_update_is_classified(
    fault: Fault, reason: ReasonCode, retryable: bool
) -> None:
    emu = emulator()
    emu.fail_next(fault)
    error = run(failure(emu, Action.SHIP_WITH_TRACKING, order_event(EventType.SHIPPED)))
    assert error.reason_code == reason and error.retryable is retryable
    if fault.retry_after:
        assert error.retry_after_s == 20.0


@pytest.mark.parametrize(
    ("valid_token", "store_error_code", "reason", "retryable"),
    [
        ("renewed-token", None, ReasonCode.TOKEN_EXPIRED, True),  # ours expired (3 hours)
        (TOKEN, 1001, ReasonCode.AUTH_REJECTED, False),  # store blocked
        (TOKEN, 1003, ReasonCode.AUTH_REJECTED, False),  # store cancelled
    ],
)
def test_an_expired_token_is_retried_and_a_refused_store_is_not(
    valid_token: str, store_error_code: int | None, reason: ReasonCode, retryable: bool
) -> None:
    emu = emulator()
    emu.access_token = valid_token
    emu.store_error_code = store_error_code
    error = run(failure(emu, Action.CANCEL, order_event(EventType.CANCELED)))
    assert error.reason_code == reason and error.retryable is retryable
    assert emu.calls[0].refused is not None


# -- UPDATE_STATUS ---------------------------------------------------------------------
def test_a_status_name_is_resolved_to_the_store_status_id() -> None:
    emu = emulator(statuses=STATUSES)
    ev = order_event(EventType.STATUS_CHANGED)
    delivery = run(send(emu, Action.UPDATE_STATUS, ev, platform_status="em SEPARAÇÃO "))

    assert delivery.http_status == 200 and not delivery.already_done
    lookup, put = emu.calls
    accepted(lookup, "GET", "/web_api/orders/statuses")
    assert (lookup.query["limit"], lookup.query["page"]) == ("50", "1")
    accepted(put, "PUT", f"/web_api/orders/{ORDER}")
    assert put.body == {"Order": {"status_id": 13}}
    assert the_order(emu).status_id == "13"


def test_the_status_list_is_paged_and_read_once_per_store() -> None:
    statuses = tuple((str(100 + n), f"STATUS {n}") for n in range(60))

    async def go(emu: TrayEmulator) -> None:
        async with connected(emu, TrayConnector, secret=TOKEN, path=PATH) as (_, connector):
            ev = order_event(EventType.STATUS_CHANGED)
            await connector.send(Action.UPDATE_STATUS, ev, "STATUS 55")
            await connector.send(Action.UPDATE_STATUS, ev, "STATUS 3")

    emu = emulator(statuses=statuses)
    run(go(emu))
    pages = [c.query["page"] for c in emu.calls if c.route == "statuses"]
    assert pages == ["1", "2"]
    assert [c.body for c in emu.calls if c.route == "update_order"] == [
        {"Order": {"status_id": 155}},
        {"Order": {"status_id": 103}},
    ]


def test_a_numeric_status_is_the_id_itself() -> None:
    emu = emulator(statuses=STATUSES)
    run(send(emu, Action.UPDATE_STATUS, order_event(EventType.STATUS_CHANGED), "12"))
    [call] = emu.calls
    assert call.body == {"Order": {"status_id": 12}}


def test_a_status_the_store_does_not_have_is_unmapped_and_nothing_is_put() -> None:
    emu = emulator(statuses=STATUSES)
    error = run(failure(emu, Action.UPDATE_STATUS, order_event(EventType.STATUS_CHANGED), "PRONTO"))

    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == ReasonCode.STATUS_UNMAPPED
    assert [c.route for c in emu.calls] == ["statuses"]


# -- CANCEL ----------------------------------------------------------------------------
def test_cancel_puts_the_cancel_call() -> None:
    emu = emulator()
    delivery = run(send(emu, Action.CANCEL, order_event(EventType.CANCELED)))

    assert delivery.http_status == 200 and not delivery.already_done
    [call] = emu.calls
    accepted(call, "PUT", f"/web_api/orders/cancel/{ORDER}")
    assert the_order(emu).status_id == emu.cancelled_status


# -- what Tray cannot do ---------------------------------------------------------------
def test_picking_becomes_a_mapped_status_and_the_rest_is_unsupported() -> None:
    supported = TrayConnector.actions
    assert Action.START_HANDLING not in supported
    assert Action.SHIP not in supported and Action.DELIVER not in supported
    cfg = config(platform="tray", status_map={"20": "Em separação"})
    assert decide(event(EventType.PICKING_STARTED), cfg, OrderState(), supported) == Send(
        Action.UPDATE_STATUS, platform_status="Em separação"
    )
    assert decide(event(EventType.DELIVERED), cfg, OrderState(), supported) == Skip(
        ReasonCode.ACTION_UNSUPPORTED
    )
    no_tracking = config(platform="tray", send_delivery_info=False)
    assert decide(event(EventType.SHIPPED), no_tracking, OrderState(), supported) == Skip(
        ReasonCode.ACTION_UNSUPPORTED
    )


# -- the access token ------------------------------------------------------------------
def test_the_token_goes_in_the_query_string_only() -> None:
    emu = emulator()
    run(send(emu, Action.CANCEL, order_event(EventType.CANCELED)))
    [call] = emu.calls
    assert call.query == {"access_token": TOKEN}
    assert all(TOKEN not in value for value in call.headers.values())


@pytest.mark.parametrize(
    ("fault", "action", "event_type"),
    [
        (
            Fault(
                400,
                body={
                    "message": "Bad Request",
                    "url": f"/web_api/orders/{ORDER}?access_token={TOKEN}",
                },
            ),
            Action.SHIP_WITH_TRACKING,
            EventType.SHIPPED,
        ),
        (Fault(409, body={"echo": f"token {TOKEN}"}), Action.INVOICE, EventType.INVOICE_AUTHORIZED),
        (Fault(503, body={"echo": TOKEN}), Action.CANCEL, EventType.CANCELED),
        (Fault(drop=True), Action.INVOICE, EventType.INVOICE_AUTHORIZED),
    ],
)
def test_the_token_never_appears_in_an_error_message(
    fault: Fault, action: Action, event_type: EventType
) -> None:
    emu = emulator()
    emu.fail_next(fault)
    error = run(failure(emu, action, order_event(event_type)))

    text = str(error)
    assert TOKEN not in text
    # the base names the call by method and path, without the query string
    assert "access_token=" not in text or "access_token=***" in text
    if fault.body:
        assert ORDER in text and "answered" in text and "***" in text


def test_a_token_cut_by_the_error_excerpt_does_not_leak_its_first_characters() -> None:
    body = "x" * (300 - len('{"echo": "') - 12) + TOKEN
    emu = emulator()
    emu.fail_next(Fault(400, body={"echo": body}))
    error = run(failure(emu, Action.SHIP_WITH_TRACKING, order_event(EventType.SHIPPED)))

    assert TOKEN[:12] not in str(error)
    assert str(error).endswith("***")
