"""Shopify: the GraphQL Admin API, pinned to version ``2026-07``.

Store URL: ``https://{shop}.myshopify.com/``; every call is
``POST admin/api/2026-07/graphql.json`` with header ``X-Shopify-Access-Token: <token>``
and a JSON body ``{"query", "variables", "operationName"}``. The REST Admin API is legacy
since 2024-10 and is not used. Version ``2026-07`` is needed for
``fulfillmentOrderReportProgress`` (2026-04 on) and ``orderCancel.refundMethod``
(2025-07 on); Shopify supports a stable version for twelve months, so move
``API_VERSION`` forward before July 2027.

Every action first reads the order (one query, operation ``OrdersyncOrder``):
``order(id: "gid://shopify/Order/{platform_order_id}") { cancelledAt
displayFulfillmentStatus fulfillmentOrders { id status assignedLocation supportedActions }
fulfillments { id status displayStatus trackingInfo { number } } }``. An order that does
not exist (``order: null``, or an id that is not numeric) is ORDER_NOT_FOUND. What the
read shows decides whether the update is already on the platform; if not, the mutation:

- SHIP / SHIP_WITH_TRACKING: ``fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder:
  [{fulfillmentOrderId}], notifyCustomer: true, trackingInfo: {company, number, url}})`` for
  the fulfillment orders that support ``CREATE_FULFILLMENT`` (status OPEN / IN_PROGRESS),
  all their line items, one call per assigned location (a fulfillment belongs to one
  location). SHIP sends no ``trackingInfo``.
- DELIVER: ``fulfillmentEventCreate(fulfillmentEvent: {fulfillmentId, status: DELIVERED,
  happenedAt})`` for each successful fulfillment not yet displayed as DELIVERED.
- CANCEL: ``orderCancel(orderId, reason: OTHER, restock: true, notifyCustomer: true,
  refundMethod: {originalPaymentMethodsRefund: false}, staffNote: <ERP reason>)``. The
  cancellation runs as a Shopify job; no money is moved by ordersync (an authorization
  that was never captured is released by Shopify itself).
- START_HANDLING: ``fulfillmentOrderReportProgress(id, progressReport: {reasonNotes})``
  on each fulfillment order that supports ``REPORT_PROGRESS`` (merchant-managed, OPEN or
  IN_PROGRESS): the order shows picking has started.

Not supported (left out of ``actions``, so the router records ACTION_UNSUPPORTED):
INVOICE — Shopify has no invoice / NF-e object in the Admin API; writing the NF-e into an
order metafield would report "sent" while nothing on the store shows or uses it.
UPDATE_STATUS — Shopify orders have no free-form status to set.

"Already done" (sent, ALREADY_DONE; the mutation is not sent):
CANCEL when ``cancelledAt`` is set; SHIP when no fulfillment order is left to fulfil and
the order has a successful fulfillment; SHIP_WITH_TRACKING when, in addition, one of those
fulfillments carries the same tracking number; DELIVER when every successful fulfillment
is displayed as DELIVERED; START_HANDLING when no fulfillment order accepts a progress
report and all of them are IN_PROGRESS or CLOSED. When a mutation answers ``userErrors``
the order is read again (another call may have got there first): already done → sent,
otherwise PermanentDeliveryError HTTP_REJECTED with the user errors. A progress report
refused with ``FULFILLMENT_ORDER_CONTAINS_PICKED_ITEMS`` is already done (picking
happened).

Errors (``connectors.graphql``): GraphQL answers HTTP 200 with top-level ``errors``:
``extensions.code`` THROTTLED → RetryableDeliveryError RATE_LIMITED, retry after
(requested cost − available) ÷ restore rate and the store paused that long;
INTERNAL_SERVER_ERROR → retryable HTTP_SERVER_ERROR; ACCESS_DENIED → permanent
AUTH_REJECTED; anything else → permanent HTTP_REJECTED. Non-2xx answers are classified by
the base (401/403 AUTH_REJECTED, 429 with Retry-After, 5xx retryable...).

Rate: calculated query cost (Standard plan: 100 points/s restored). A call here costs
about 10 points, so the default is 5 calls/s per store; every answer's
``extensions.cost`` (the query's cost, ``throttleStatus``: available, maximum, restore
rate) sets the store's budget in calls of that cost — what is left, the burst, the rate —
so the store is called as fast as its plan allows and no faster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.base import Auth, Performed, already_done, delivered, rejected
from connectors.graphql import GraphQLConnector, describe, user_errors
from connectors.http import StoreResponse
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

API_VERSION = "2026-07"
GRAPHQL_PATH = f"admin/api/{API_VERSION}/graphql.json"
ORDER_GID = "gid://shopify/Order/"

# what a cancellation asks of Shopify; product decisions, kept in one place
CANCEL_REASON = "OTHER"  # OrderCancelReason; the ERP's reason is free text (sent as staffNote)
CANCEL_RESTOCK = True
CANCEL_REFUND = False  # never move money from here; the merchant refunds in Shopify
NOTIFY_CUSTOMER = True
STAFF_NOTE_CHARS = 255
REASON_NOTES_CHARS = 256

FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})

ORDER_QUERY = """
query OrdersyncOrder($id: ID!) {
  order(id: $id) {
    id
    cancelledAt
    displayFulfillmentStatus
    fulfillmentOrders(first: 50) {
      nodes {
        id
        status
        assignedLocation { location { id } }
        supportedActions { action }
      }
    }
    fulfillments(first: 50) {
      id
      status
      displayStatus
      trackingInfo(first: 10) { number }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation OrdersyncFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

FULFILLMENT_EVENT_CREATE = """
mutation OrdersyncFulfillmentEventCreate($fulfillmentEvent: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent) {
    fulfillmentEvent { id status happenedAt }
    userErrors { field message }
  }
}
"""

ORDER_CANCEL = """
mutation OrdersyncOrderCancel(
  $orderId: ID!
  $reason: OrderCancelReason!
  $restock: Boolean!
  $notifyCustomer: Boolean
  $refundMethod: OrderCancelRefundMethodInput
  $staffNote: String
) {
  orderCancel(
    orderId: $orderId
    reason: $reason
    restock: $restock
    notifyCustomer: $notifyCustomer
    refundMethod: $refundMethod
    staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

REPORT_PROGRESS = """
mutation OrdersyncReportProgress(
  $id: ID!
  $progressReport: FulfillmentOrderReportProgressInput
) {
  fulfillmentOrderReportProgress(id: $id, progressReport: $progressReport) {
    fulfillmentOrder { id status }
    userErrors { field message code }
  }
}
"""

Order = Mapping[str, Any]


class ShopifyConnector(GraphQLConnector):
    platform = "shopify"
    endpoint = GRAPHQL_PATH
    actions = frozenset(
        {
            Action.START_HANDLING,
            Action.SHIP,
            Action.SHIP_WITH_TRACKING,
            Action.DELIVER,
            Action.CANCEL,
        }
    )
    default_rate_per_s = 5.0

    def authenticate(self) -> Auth:
        return Auth(headers={"X-Shopify-Access-Token": self.require_credentials().reveal()})

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        gid = order_gid(event.platform_order_id)
        response, order = await self._read_order(gid)
        if order_shows(action, event, order):
            return already_done(response)
        if action is Action.CANCEL:
            return await self._cancel(event, gid)
        if action in (Action.SHIP, Action.SHIP_WITH_TRACKING):
            return await self._ship(action, event, gid, order)
        if action is Action.DELIVER:
            return await self._deliver(event, gid, order)
        return await self._start_handling(event, gid, order)

    async def _cancel(self, event: OrderEvent, gid: str) -> Performed:
        reason = str((event.cancellation or {}).get("reason") or "")
        variables = {
            "orderId": gid,
            "reason": CANCEL_REASON,
            "restock": CANCEL_RESTOCK,
            "notifyCustomer": NOTIFY_CUSTOMER,
            "refundMethod": {"originalPaymentMethodsRefund": CANCEL_REFUND},
            "staffNote": f"ordersync: {reason}"[:STAFF_NOTE_CHARS],
        }
        response, payload = await self.mutate(
            "OrdersyncOrderCancel", ORDER_CANCEL, variables, "orderCancel"
        )
        errors = user_errors(payload)
        if errors:
            return await self._settle(Action.CANCEL, event, gid, "orderCancel", errors)
        return delivered(response)

    async def _ship(self, action: Action, event: OrderEvent, gid: str, order: Order) -> Performed:
        if order.get("cancelledAt"):
            raise rejected(f"order {gid} is cancelled; it cannot be fulfilled")
        groups: dict[str, list[str]] = {}
        for node in fulfillment_orders(order):
            if node.get("status") in FULFILLABLE and "CREATE_FULFILLMENT" in _actions_of(node):
                location = ((node.get("assignedLocation") or {}).get("location") or {}).get("id")
                groups.setdefault(str(location or node["id"]), []).append(node["id"])
        if not groups:
            statuses = sorted({str(n.get("status")) for n in fulfillment_orders(order)})
            raise rejected(
                f"order {gid} has no fulfillment order that can be fulfilled "
                f"(statuses: {', '.join(statuses) or 'none'})"
            )
        tracking = tracking_info(event) if action is Action.SHIP_WITH_TRACKING else None
        response: StoreResponse | None = None
        for ids in groups.values():
            fulfillment: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": i} for i in ids],
                "notifyCustomer": NOTIFY_CUSTOMER,
            }
            if tracking is not None:
                fulfillment["trackingInfo"] = tracking
            response, payload = await self.mutate(
                "OrdersyncFulfillmentCreate",
                FULFILLMENT_CREATE,
                {"fulfillment": fulfillment},
                "fulfillmentCreate",
            )
            errors = user_errors(payload)
            if errors:
                return await self._settle(action, event, gid, "fulfillmentCreate", errors)
        assert response is not None
        return delivered(response)

    async def _deliver(self, event: OrderEvent, gid: str, order: Order) -> Performed:
        targets = [
            f["id"] for f in successful_fulfillments(order) if f.get("displayStatus") != "DELIVERED"
        ]
        if not targets:
            raise rejected(f"order {gid} has no fulfillment to mark as delivered")
        delivered_at = (event.delivery or {}).get("delivered_at") or event.occurred_at
        response: StoreResponse | None = None
        for fulfillment_id in targets:
            response, payload = await self.mutate(
                "OrdersyncFulfillmentEventCreate",
                FULFILLMENT_EVENT_CREATE,
                {
                    "fulfillmentEvent": {
                        "fulfillmentId": fulfillment_id,
                        "status": "DELIVERED",
                        "happenedAt": _iso(delivered_at),
                    }
                },
                "fulfillmentEventCreate",
            )
            errors = user_errors(payload)
            if errors:
                return await self._settle(
                    Action.DELIVER, event, gid, "fulfillmentEventCreate", errors
                )
        assert response is not None
        return delivered(response)

    async def _start_handling(self, event: OrderEvent, gid: str, order: Order) -> Performed:
        targets = [
            n["id"] for n in fulfillment_orders(order) if "REPORT_PROGRESS" in _actions_of(n)
        ]
        if not targets:
            raise rejected(f"order {gid} has no fulfillment order that accepts a progress report")
        status_name = str((event.status or {}).get("name") or "Em separação")
        response: StoreResponse | None = None
        for fulfillment_order_id in targets:
            response, payload = await self.mutate(
                "OrdersyncReportProgress",
                REPORT_PROGRESS,
                {
                    "id": fulfillment_order_id,
                    "progressReport": {"reasonNotes": status_name[:REASON_NOTES_CHARS]},
                },
                "fulfillmentOrderReportProgress",
            )
            errors = user_errors(payload)
            if any(e.get("code") == "FULFILLMENT_ORDER_CONTAINS_PICKED_ITEMS" for e in errors):
                return already_done(response)
            if errors:
                return await self._settle(
                    Action.START_HANDLING, event, gid, "fulfillmentOrderReportProgress", errors
                )
        assert response is not None
        return delivered(response)

    async def _settle(
        self,
        action: Action,
        event: OrderEvent,
        gid: str,
        operation: str,
        errors: list[Mapping[str, Any]],
    ) -> Performed:
        """A mutation was refused: already done by someone else, or a real rejection."""
        response, order = await self._read_order(gid)
        if order_shows(action, event, order):
            return already_done(response)
        raise rejected(f"{operation} refused: {describe(errors)}")

    async def _read_order(self, gid: str) -> tuple[StoreResponse, Order]:
        response, data = await self.query("OrdersyncOrder", ORDER_QUERY, {"id": gid})
        order = data.get("order")
        if not isinstance(order, Mapping):
            raise PermanentDeliveryError(
                f"shopify has no order {gid}",
                reason_code=ReasonCode.ORDER_NOT_FOUND,
                http_status=response.status_code,
            )
        return response, order


# -- reading the order ---------------------------------------------------------------
def order_gid(platform_order_id: str) -> str:
    value = platform_order_id.strip()
    if value.startswith(ORDER_GID) and value[len(ORDER_GID) :].isdigit():
        return value
    if value.isdigit():
        return f"{ORDER_GID}{value}"
    raise PermanentDeliveryError(
        f"{platform_order_id!r} is not a Shopify order id",
        reason_code=ReasonCode.ORDER_NOT_FOUND,
    )


def fulfillment_orders(order: Order) -> list[Mapping[str, Any]]:
    connection = order.get("fulfillmentOrders") or {}
    return [n for n in connection.get("nodes") or [] if isinstance(n, Mapping)]


def successful_fulfillments(order: Order) -> list[Mapping[str, Any]]:
    return [
        f
        for f in order.get("fulfillments") or []
        if isinstance(f, Mapping) and f.get("status") == "SUCCESS"
    ]


def _actions_of(node: Mapping[str, Any]) -> set[str]:
    return {str(a.get("action")) for a in node.get("supportedActions") or [] if a}


def _nothing_to_fulfil(order: Order) -> bool:
    return not any(
        n.get("status") in FULFILLABLE and "CREATE_FULFILLMENT" in _actions_of(n)
        for n in fulfillment_orders(order)
    )


def _shipped(order: Order) -> bool:
    return _nothing_to_fulfil(order) and bool(successful_fulfillments(order))


def _has_tracking(order: Order, number: str) -> bool:
    return any(
        (t or {}).get("number") == number
        for f in successful_fulfillments(order)
        for t in f.get("trackingInfo") or []
    )


def _delivered(order: Order) -> bool:
    done = successful_fulfillments(order)
    return bool(done) and all(f.get("displayStatus") == "DELIVERED" for f in done)


def _handling_started(order: Order) -> bool:
    nodes = fulfillment_orders(order)
    return (
        bool(nodes)
        and not any("REPORT_PROGRESS" in _actions_of(n) for n in nodes)
        and all(n.get("status") in ("IN_PROGRESS", "CLOSED") for n in nodes)
    )


DONE: dict[Action, Callable[[OrderEvent, Order], bool]] = {
    Action.CANCEL: lambda event, order: bool(order.get("cancelledAt")),
    Action.SHIP: lambda event, order: _shipped(order),
    Action.SHIP_WITH_TRACKING: lambda event, order: (
        _shipped(order) and _has_tracking(order, tracking_number(event))
    ),
    Action.DELIVER: lambda event, order: _delivered(order),
    Action.START_HANDLING: lambda event, order: _handling_started(order),
}


def order_shows(action: Action, event: OrderEvent, order: Order) -> bool:
    """Whether the order already shows what ``action`` would make it show."""
    return DONE[action](event, order)


# -- building the calls --------------------------------------------------------------
def tracking_number(event: OrderEvent) -> str:
    return str((event.shipment or {}).get("tracking_code") or "")


def tracking_info(event: OrderEvent) -> dict[str, str]:
    shipment = event.shipment or {}
    info = {"company": str(shipment.get("carrier") or ""), "number": tracking_number(event)}
    if shipment.get("tracking_url"):
        info["url"] = str(shipment["tracking_url"])
    return {k: v for k, v in info.items() if v}


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
