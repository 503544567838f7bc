"""Nuvemshop connector against its emulator: calls, "already done", errors, rate headers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from connectors.emulators.nuvemshop import NuvemshopEmulator
from connectors.nuvemshop import NuvemshopConnector
from streams.errors import PermanentDeliveryError
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import ACCESS_KEY, AT, event

STORE = "123456"
STORE_PATH = f"/v1/{STORE}"
ORDER = 450789469
SECRET = "nuvem-contract-secret-9876"
XML_URL = "https://nfe.example/35261112345678000199550010000012341000012345.xml"


def emulator(**order: Any) -> NuvemshopEmulator:
    emu = NuvemshopEmulator(token=SECRET, store_id=STORE)
    emu.add_order(ORDER, **order)
    return emu


def nuvemshop(emu: NuvemshopEmulator, **kw: Any) -> Any:
    return connected(emu, NuvemshopConnector, secret=kw.pop("secret", SECRET), path=STORE_PATH)


def header(call: Any, name: str) -> str | None:
    return {k.lower(): v for k, v in call.headers.items()}.get(name.lower())


def shipped(**kw: Any) -> Any:
    return event(EventType.SHIPPED, order=str(ORDER), **kw)


def assert_identified(call: Any) -> None:
    assert header(call, "Authentication") == f"bearer {SECRET}"
    assert header(call, "User-Agent") == "ordersync (suporte@ordersync.example)"


def test_ship_with_tracking_fulfills_the_order() -> None:
    async def go() -> None:
        emu = emulator()
        payload = {
            "carrier": "Correios",
            "service": "SEDEX",
            "tracking_code": "QB123456789BR",
            "tracking_url": "https://rastreamento.correios.com.br/QB123456789BR",
            "shipped_at": AT,
        }
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(Action.SHIP_WITH_TRACKING, shipped(shipment=payload))
        assert delivery.http_status == 200 and not delivery.already_done
        (call,) = emu.calls
        assert call.refused is None
        assert (call.method, call.path) == ("POST", f"{STORE_PATH}/orders/{ORDER}/fulfill")
        assert_identified(call)
        assert header(call, "Content-Type") == "application/json"
        assert call.body == {
            "notify_customer": True,
            "shipping_tracking_number": "QB123456789BR",
            "shipping_tracking_url": "https://rastreamento.correios.com.br/QB123456789BR",
        }
        order = emu.orders[ORDER]
        assert order["shipping_status"] == "shipped"
        assert order["shipping_tracking_number"] == "QB123456789BR"

    run(go())


def test_ship_without_tracking_sends_only_the_notification_flag() -> None:
    async def go() -> None:
        emu = emulator()
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(Action.SHIP, shipped())
        assert not delivery.already_done
        (call,) = emu.accepted("fulfill")
        assert call.body == {"notify_customer": True}
        assert emu.orders[ORDER]["shipping_status"] == "shipped"
        assert emu.orders[ORDER]["shipping_tracking_number"] is None

    run(go())


def test_cancel_sends_reason_email_and_restock() -> None:
    async def go() -> None:
        emu = emulator()
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(
                Action.CANCEL, event(EventType.CANCELED, order=str(ORDER))
            )
        assert not delivery.already_done
        (call,) = emu.accepted("cancel")
        assert (call.method, call.path) == ("POST", f"{STORE_PATH}/orders/{ORDER}/cancel")
        assert_identified(call)
        assert call.body == {"reason": "other", "email": True, "restock": True}
        assert emu.orders[ORDER]["status"] == "cancelled"

    run(go())


def test_invoice_creates_the_nfe_list_metafield() -> None:
    async def go() -> None:
        emu = emulator()
        invoice = {
            "number": "1234",
            "series": "1",
            "access_key": ACCESS_KEY,
            "issued_at": AT,
            "total_cents": 25990,
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 12995}],
            "xml_url": XML_URL,
        }
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(
                Action.INVOICE, event(order=str(ORDER), invoice=invoice)
            )
        assert delivery.http_status == 201 and not delivery.already_done
        lookup, create = emu.calls
        assert all(c.refused is None for c in emu.calls)
        assert (lookup.method, lookup.path) == ("GET", f"{STORE_PATH}/metafields/orders")
        assert lookup.query == {"owner_id": str(ORDER), "namespace": "nfe", "key": "list"}
        assert (create.method, create.path) == ("POST", f"{STORE_PATH}/metafields")
        assert_identified(create)
        value = create.body.pop("value")
        assert create.body == {
            "namespace": "nfe",
            "key": "list",
            "description": "Lista de NFes",
            "owner_resource": "Order",
            "owner_id": ORDER,
        }
        assert json.loads(value) == [{"key": ACCESS_KEY, "link": XML_URL}]

    run(go())


def test_invoice_is_appended_to_an_existing_nfe_list() -> None:
    async def go() -> None:
        emu = emulator()
        other = {"key": "1" * 44, "link": "https://nfe.example/1.xml"}
        metafield = emu.add_metafield(ORDER, json.dumps([other]))
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(Action.INVOICE, event(order=str(ORDER)))
        assert not delivery.already_done
        (update,) = emu.accepted("update_metafield")
        assert (update.method, update.path) == ("PUT", f"{STORE_PATH}/metafields/{metafield['id']}")
        assert json.loads(update.body["value"]) == [other, {"key": ACCESS_KEY}]
        assert emu.accepted("create_metafield") == []
        assert json.loads(metafield["value"]) == [other, {"key": ACCESS_KEY}]

    run(go())


def test_invoice_already_listed_is_already_done_without_writing() -> None:
    async def go() -> None:
        emu = emulator()
        emu.add_metafield(ORDER, json.dumps([{"key": ACCESS_KEY}]))
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(Action.INVOICE, event(order=str(ORDER)))
        assert delivery.already_done is True
        assert [c.route for c in emu.calls] == ["metafields"]

    run(go())


def test_an_unreadable_nfe_list_is_not_overwritten() -> None:
    async def go() -> None:
        emu = emulator()
        emu.add_metafield(ORDER, "NFE 1234 (texto livre)")
        async with nuvemshop(emu) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.INVOICE, event(order=str(ORDER)))
        assert caught.value.reason_code == "HTTP_REJECTED"
        assert [c.route for c in emu.calls] == ["metafields"]

    run(go())


@pytest.mark.parametrize(
    ("action", "kind", "state", "route"),
    [
        (
            Action.SHIP_WITH_TRACKING,
            EventType.SHIPPED,
            {"shipping_status": "shipped", "tracking": "QB123456789BR"},
            "fulfill",
        ),
        (Action.SHIP, EventType.SHIPPED, {"shipping_status": "fulfilled"}, "fulfill"),
        (Action.CANCEL, EventType.CANCELED, {"status": "cancelled"}, "cancel"),
    ],
)
def test_refusal_of_an_update_the_order_already_shows_is_already_done(
    action: Action, kind: EventType, state: dict[str, Any], route: str
) -> None:
    async def go() -> None:
        emu = emulator(**state)
        async with nuvemshop(emu) as (_, connector):
            delivery = await connector.send(action, event(kind, order=str(ORDER)))
        assert delivery.already_done is True and delivery.http_status == 422
        assert [c.route for c in emu.calls] == [route, "order"]
        assert emu.calls[0].refused is not None  # the vendor refused; the order shows it done

    run(go())


def test_sending_the_same_shipment_twice_is_already_done_the_second_time() -> None:
    async def go() -> None:
        emu = emulator()
        async with nuvemshop(emu) as (_, connector):
            first = await connector.send(Action.SHIP_WITH_TRACKING, shipped())
            second = await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert (first.already_done, second.already_done) == (False, True)

    run(go())


def test_shipped_with_another_tracking_number_is_rejected() -> None:
    async def go() -> None:
        emu = emulator(shipping_status="shipped", tracking="OTHER123BR")
        async with nuvemshop(emu) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        error = caught.value
        assert error.reason_code == "HTTP_REJECTED" and error.http_status == 422
        assert f"orders/{ORDER}/fulfill answered 422" in str(error)

    run(go())


def test_fulfilling_a_cancelled_order_is_rejected() -> None:
    async def go() -> None:
        emu = emulator(status="cancelled")
        async with nuvemshop(emu) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP, shipped())
        assert caught.value.reason_code == "HTTP_REJECTED"

    run(go())


def test_fault_table() -> None:
    check_classification(
        lambda: emulator(),
        NuvemshopConnector,
        Action.CANCEL,
        event(EventType.CANCELED, order=str(ORDER)),
        secret=SECRET,
        path=STORE_PATH,
    )


def test_the_buckets_account_sets_the_stores_budget() -> None:
    """3 of 40 left, emptying in 18.5 s: 3 calls may go at once, 2 per second after."""

    async def go() -> None:
        emu = emulator()
        emu.force_remaining = 3  # of 40
        async with nuvemshop(emu) as (_, connector):
            await connector.send(Action.SHIP, shipped())
            limiter = connector.limiter
            assert limiter.burst == 40 and limiter.tokens <= 3
            assert limiter.rate is not None and 1.9 < limiter.rate < 2.1
        assert emu.calls[0].refused is None

    run(go())


def test_a_plan_that_drains_faster_raises_the_rate_again() -> None:
    """Nuvemshop's Next plans drain ten times faster: the reset says so, the rate follows."""

    async def go() -> None:
        emu = emulator()
        emu.leak_per_s = 20.0
        emu.force_remaining = 20
        async with nuvemshop(emu) as (_, connector):
            await connector.send(Action.SHIP, shipped())
            assert connector.limiter.rate is not None and connector.limiter.rate > 15

    run(go())


def test_unknown_order_is_order_not_found() -> None:
    async def go() -> None:
        emu = NuvemshopEmulator(token=SECRET, store_id=STORE)
        async with nuvemshop(emu) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP, shipped())
            assert caught.value.reason_code == "ORDER_NOT_FOUND"
            with pytest.raises(PermanentDeliveryError) as not_numeric:
                await connector.send(Action.SHIP, event(EventType.SHIPPED, order="PED-1"))
            assert not_numeric.value.reason_code == "ORDER_NOT_FOUND"
        assert len(emu.calls) == 1

    run(go())


def test_credential_never_appears_in_a_failed_call_error() -> None:
    async def go() -> None:
        emu = NuvemshopEmulator(token="the-right-token", store_id=STORE)
        emu.add_order(ORDER)
        async with nuvemshop(emu) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert caught.value.reason_code == "AUTH_REJECTED"
        assert header(emu.calls[0], "Authentication") == f"bearer {SECRET}"  # it was sent...
        assert SECRET not in str(caught.value)  # ...and never written into the error
        assert SECRET not in repr(caught.value.args)

    run(go())


def test_delivered_and_generic_status_are_not_offered() -> None:
    assert Action.DELIVER not in NuvemshopConnector.actions
    assert Action.UPDATE_STATUS not in NuvemshopConnector.actions
    assert Action.START_HANDLING not in NuvemshopConnector.actions


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authentication": f"bearer {SECRET}"}, 400),  # no app User-Agent
        (
            {"Authorization": f"Bearer {SECRET}", "User-Agent": "ordersync (a@b.example)"},
            401,
        ),
        ({"Authentication": f"bearer {SECRET}", "User-Agent": "ordersync (a@b.example)"}, 200),
    ],
)
def test_emulator_holds_the_header_contract(headers: dict[str, str], status: int) -> None:
    async def go() -> None:
        emu = emulator()
        base = await emu.start()
        try:
            async with httpx.AsyncClient(base_url=base, headers={"User-Agent": ""}) as client:
                answer = await client.get(f"{STORE_PATH}/orders/{ORDER}", headers=headers)
        finally:
            await emu.stop()
        assert answer.status_code == status
        assert answer.headers["x-rate-limit-limit"] == "40"
        assert (emu.calls[0].refused is None) == (status == 200)

    run(go())
