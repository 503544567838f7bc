"""Shopify connector against its GraphQL emulator: calls, "already done", errors, rate."""

from __future__ import annotations

import time
from typing import Any, cast

import httpx
import pytest

from connectors.emulators.shopify import ShopifyEmulator
from connectors.shopify import API_VERSION, ShopifyConnector
from streams.errors import PermanentDeliveryError, RetryableDeliveryError
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import AT, event

ORDER = 450789469
GID = f"gid://shopify/Order/{ORDER}"
GRAPHQL = f"/admin/api/{API_VERSION}/graphql.json"
SECRET = "shpat_contract-secret-1234"


def emulator(**order: Any) -> ShopifyEmulator:
    emu = ShopifyEmulator(token=SECRET)
    emu.add_order(ORDER, **order)
    return emu


def shipped(**kw: Any) -> Any:
    return event(EventType.SHIPPED, order=str(ORDER), **kw)


def header(call: Any, name: str) -> str | None:
    return {k.lower(): v for k, v in call.headers.items()}.get(name.lower())


def operations(emu: ShopifyEmulator) -> list[str]:
    return [c.body["operationName"] for c in emu.calls]


def test_ship_with_tracking_reads_fulfillment_orders_then_creates_a_fulfillment() -> None:
    async def go() -> None:
        emu = emulator()
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert delivery.http_status == 200 and not delivery.already_done
        assert operations(emu) == ["OrdersyncOrder", "OrdersyncFulfillmentCreate"]
        assert all(c.refused is None for c in emu.calls)
        for call in emu.calls:
            assert call.method == "POST" and call.path == GRAPHQL
            assert header(call, "X-Shopify-Access-Token") == SECRET
        assert emu.calls[0].body["variables"] == {"id": GID}
        (variables,) = emu.mutations("fulfillmentCreate")
        node = emu.orders[ORDER].fulfillment_orders[0]
        assert variables["fulfillment"] == {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{node.id}"}
            ],
            "notifyCustomer": True,
            "trackingInfo": {"company": "Correios", "number": "QB123456789BR"},
        }
        assert node.status == "CLOSED"
        assert emu.orders[ORDER].fulfillments[0].tracking == {
            "company": "Correios",
            "number": "QB123456789BR",
        }

    run(go())


def test_tracking_url_is_sent_when_the_erp_has_one() -> None:
    async def go() -> None:
        emu = emulator()
        payload = {
            "carrier": "Correios",
            "service": "SEDEX",
            "tracking_code": "QB1BR",
            "tracking_url": "https://rastreamento.correios.com.br/QB1BR",
            "shipped_at": AT,
        }
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            await connector.send(Action.SHIP_WITH_TRACKING, shipped(shipment=payload))
        (variables,) = emu.mutations("fulfillmentCreate")
        assert variables["fulfillment"]["trackingInfo"] == {
            "company": "Correios",
            "number": "QB1BR",
            "url": "https://rastreamento.correios.com.br/QB1BR",
        }

    run(go())


def test_ship_without_tracking_sends_no_tracking_info() -> None:
    async def go() -> None:
        emu = emulator()
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(Action.SHIP, shipped())
        assert not delivery.already_done
        (variables,) = emu.mutations("fulfillmentCreate")
        assert "trackingInfo" not in variables["fulfillment"]
        assert variables["fulfillment"]["notifyCustomer"] is True
        assert emu.orders[ORDER].fulfillments[0].tracking is None

    run(go())


def test_one_fulfillment_per_location() -> None:
    async def go() -> None:
        emu = emulator(locations=(1, 2))
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        calls = emu.mutations("fulfillmentCreate")
        ids = [c["fulfillment"]["lineItemsByFulfillmentOrder"] for c in calls]
        nodes = emu.orders[ORDER].fulfillment_orders
        assert ids == [
            [{"fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{n.id}"}] for n in nodes
        ]
        assert all(n.status == "CLOSED" for n in nodes)

    run(go())


def test_deliver_creates_a_delivered_event_on_the_fulfillment() -> None:
    async def go() -> None:
        emu = emulator(fulfilled=True, tracking="QB123456789BR")
        fulfillment = emu.orders[ORDER].fulfillments[0]
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(
                Action.DELIVER, event(EventType.DELIVERED, order=str(ORDER))
            )
        assert not delivery.already_done
        assert operations(emu) == ["OrdersyncOrder", "OrdersyncFulfillmentEventCreate"]
        (variables,) = emu.mutations("fulfillmentEventCreate")
        assert variables["fulfillmentEvent"] == {
            "fulfillmentId": f"gid://shopify/Fulfillment/{fulfillment.id}",
            "status": "DELIVERED",
            "happenedAt": AT.isoformat(),
        }
        assert fulfillment.display_status == "DELIVERED"

    run(go())


def test_cancel_sends_reason_restock_and_no_refund() -> None:
    async def go() -> None:
        emu = emulator()
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(
                Action.CANCEL, event(EventType.CANCELED, order=str(ORDER))
            )
        assert not delivery.already_done
        assert operations(emu) == ["OrdersyncOrder", "OrdersyncOrderCancel"]
        (variables,) = emu.mutations("orderCancel")
        assert variables == {
            "orderId": GID,
            "reason": "OTHER",
            "restock": True,
            "notifyCustomer": True,
            "refundMethod": {"originalPaymentMethodsRefund": False},
            "staffNote": "ordersync: cliente desistiu",
        }
        assert emu.orders[ORDER].cancelled_at is not None

    run(go())


def test_start_handling_reports_progress_on_the_fulfillment_order() -> None:
    async def go() -> None:
        emu = emulator()
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(
                Action.START_HANDLING, event(EventType.PICKING_STARTED, order=str(ORDER))
            )
        assert not delivery.already_done
        node = emu.orders[ORDER].fulfillment_orders[0]
        (variables,) = emu.mutations("fulfillmentOrderReportProgress")
        assert variables == {
            "id": f"gid://shopify/FulfillmentOrder/{node.id}",
            "progressReport": {"reasonNotes": "Em separação"},
        }
        assert node.status == "IN_PROGRESS" and node.progress_notes == ["Em separação"]

    run(go())


@pytest.mark.parametrize(
    ("action", "state", "kind"),
    [
        (Action.SHIP_WITH_TRACKING, {"fulfilled": True, "tracking": "QB123456789BR"}, "SHIPPED"),
        (Action.SHIP, {"fulfilled": True}, "SHIPPED"),
        (Action.DELIVER, {"fulfilled": True, "delivered": True}, "DELIVERED"),
        (Action.CANCEL, {"cancelled": True}, "CANCELED"),
        (Action.START_HANDLING, {"fulfilled": True}, "PICKING_STARTED"),
    ],
)
def test_already_done_is_read_from_the_order_and_sends_no_mutation(
    action: Action, state: dict[str, Any], kind: str
) -> None:
    async def go() -> None:
        delivered = state.pop("delivered", False)
        emu = emulator(**state)
        if delivered:
            emu.orders[ORDER].fulfillments[0].display_status = "DELIVERED"
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            delivery = await connector.send(action, event(EventType(kind), order=str(ORDER)))
        assert delivery.already_done is True
        assert operations(emu) == ["OrdersyncOrder"]

    run(go())


def test_second_send_of_the_same_shipment_is_already_done() -> None:
    async def go() -> None:
        emu = emulator()
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            first = await connector.send(Action.SHIP_WITH_TRACKING, shipped())
            second = await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert (first.already_done, second.already_done) == (False, True)
        assert len(emu.mutations("fulfillmentCreate")) == 1

    run(go())


def test_fulfilled_with_other_tracking_is_rejected_not_already_done() -> None:
    async def go() -> None:
        emu = emulator(fulfilled=True, tracking="OTHER123BR")
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert caught.value.reason_code == "HTTP_REJECTED"
        assert "no fulfillment order that can be fulfilled" in str(caught.value)

    run(go())


def test_fault_table() -> None:
    check_classification(
        lambda: emulator(),
        ShopifyConnector,
        Action.SHIP_WITH_TRACKING,
        shipped(),
        secret=SECRET,
    )


def test_throttled_answer_is_retryable_rate_limited_and_pauses_the_store() -> None:
    async def go() -> None:
        emu = emulator()
        emu.currently_available = 5.0  # the lookup needs 12 points: Shopify throttles it
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(RetryableDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped())
            paused_for = connector.limiter._paused_until - time.monotonic()
        error = caught.value
        assert error.reason_code == "RATE_LIMITED" and error.http_status == 200
        assert error.retry_after_s == 1.0  # (12 - 5) / 100 per second, at least a second
        assert 0.5 < paused_for <= 1.0  # the store waits for the bucket before the next call
        assert emu.calls[0].refused == "throttled"
        assert emu.mutations("fulfillmentCreate") == []

    run(go())


def test_user_error_is_permanent_http_rejected() -> None:
    async def go() -> None:
        emu = emulator(cancel_blocked="Cannot cancel an order with an active return")
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.CANCEL, event(EventType.CANCELED, order=str(ORDER)))
        error = caught.value
        assert error.reason_code == "HTTP_REJECTED"
        assert "active return" in str(error) and "INVALID" in str(error)
        # refused, so the order was read again before giving up
        assert operations(emu) == ["OrdersyncOrder", "OrdersyncOrderCancel", "OrdersyncOrder"]

    run(go())


def test_invalid_tracking_url_user_error_is_permanent() -> None:
    async def go() -> None:
        emu = emulator()
        bad = {"carrier": "X", "tracking_code": "T1", "tracking_url": "nope", "shipped_at": AT}
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped(shipment=bad))
        assert caught.value.reason_code == "HTTP_REJECTED"
        assert "fulfillment.trackingInfo.url: Url is invalid" in str(caught.value)

    run(go())


@pytest.mark.parametrize(
    ("code", "error_type", "reason"),
    [
        ("ACCESS_DENIED", PermanentDeliveryError, "AUTH_REJECTED"),
        ("INTERNAL_SERVER_ERROR", RetryableDeliveryError, "HTTP_SERVER_ERROR"),
        ("MAX_COST_EXCEEDED", PermanentDeliveryError, "HTTP_REJECTED"),
    ],
)
def test_top_level_graphql_errors_are_classified(
    code: str, error_type: type[Exception], reason: str
) -> None:
    async def go() -> None:
        emu = emulator()
        emu.inject_errors = [{"message": f"{code} happened", "extensions": {"code": code}}]
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(error_type) as caught:
                await connector.send(Action.SHIP, shipped())
        assert cast(Any, caught.value).reason_code == reason

    run(go())


def test_the_query_cost_sets_the_stores_budget_in_calls() -> None:
    """300 of 2,000 points left, restored at 100/s: the budget is counted in calls of the
    cost the emulator charged, as its own answers said."""

    async def go() -> None:
        emu = emulator()
        emu.currently_available = 300.0
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            await connector.send(Action.SHIP, shipped())
            limiter = connector.limiter
        assert len(emu.costs) == len(emu.calls) >= 2 and emu.currently_available < 300.0
        charged = [answer["actualQueryCost"] for answer in emu.costs]
        assert all(cost > 1 for cost in charged) and len(set(charged)) > 1  # not one per call
        last = emu.costs[-1]
        cost = last["actualQueryCost"]
        assert limiter.burst == pytest.approx(emu.maximum_available / cost)
        assert limiter.rate == pytest.approx(emu.restore_rate / cost)
        # never more calls than any answer left room for (in that answer's cost)
        room = min(
            a["throttleStatus"]["currentlyAvailable"] / a["actualQueryCost"] for a in emu.costs
        )
        assert 0 < limiter.tokens <= room + 1e-9

    run(go())


def test_missing_order_is_order_not_found() -> None:
    async def go() -> None:
        emu = ShopifyEmulator(token=SECRET)
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP, shipped())
            assert caught.value.reason_code == "ORDER_NOT_FOUND"
            with pytest.raises(PermanentDeliveryError) as not_numeric:
                await connector.send(Action.SHIP, event(EventType.SHIPPED, order="PED-1"))
            assert not_numeric.value.reason_code == "ORDER_NOT_FOUND"
        assert len(emu.calls) == 1  # the non-numeric id never left ordersync

    run(go())


def test_credential_never_appears_in_a_failed_call_error() -> None:
    async def go() -> None:
        emu = ShopifyEmulator(token="the-right-token")
        emu.add_order(ORDER)
        async with connected(emu, ShopifyConnector, secret=SECRET) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(Action.SHIP_WITH_TRACKING, shipped())
        assert caught.value.reason_code == "AUTH_REJECTED"
        assert header(emu.calls[0], "X-Shopify-Access-Token") == SECRET  # it was sent...
        assert SECRET not in str(caught.value)  # ...and never written into the error
        assert SECRET not in repr(caught.value.args)

    run(go())


def test_invoice_and_generic_status_are_not_offered() -> None:
    assert Action.INVOICE not in ShopifyConnector.actions
    assert Action.UPDATE_STATUS not in ShopifyConnector.actions


def test_emulator_refuses_a_mutation_missing_a_required_variable() -> None:
    async def go() -> None:
        emu = emulator()
        base = await emu.start()
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                answer = await client.post(
                    GRAPHQL,
                    headers={"X-Shopify-Access-Token": SECRET},
                    json={
                        "query": "mutation C($orderId: ID!, $reason: OrderCancelReason!) "
                        "{ orderCancel(orderId: $orderId, reason: $reason) { job { id } } }",
                        "variables": {"orderId": GID, "reason": "OTHER"},
                    },
                )
        finally:
            await emu.stop()
        assert answer.status_code == 200
        assert "missing required argument: restock" in answer.json()["errors"][0]["message"]
        assert emu.calls[0].refused is not None
        assert emu.orders[ORDER].cancelled_at is None

    run(go())
