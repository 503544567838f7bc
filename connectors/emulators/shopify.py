"""Shopify's GraphQL Admin API, as far as ordersync uses it, checking the request contract.

One route, ``POST /admin/api/{version}/graphql.json``, answering like Shopify:

- ``X-Shopify-Access-Token`` must be the store's token, else 401
  ``{"errors": "[API] Invalid API key or access token ..."}``;
- the body must be JSON with a ``query`` (else 400); ``operationName`` must name an
  operation the document defines; each operation's required arguments must be wired to
  variables in the document and the variables must hold valid values — otherwise HTTP 200
  with top-level ``errors``, as GraphQL does, and the call is recorded as refused;
- every answer carries ``extensions.cost`` with ``throttleStatus``; a query that does not
  fit in the bucket (or one queued with ``throttle_next``) answers ``errors`` with
  ``extensions.code: THROTTLED`` and no ``data``.

State: orders with fulfillment orders (id, status, location, supported actions) and
fulfillments (status, display status, tracking, events), so lookups answer from what
earlier mutations did, and mutations answer ``userErrors`` the way Shopify does when the
order is not in a state that allows them.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

ORDER_GID = "gid://shopify/Order/"
FULFILLMENT_ORDER_GID = "gid://shopify/FulfillmentOrder/"
FULFILLMENT_GID = "gid://shopify/Fulfillment/"
LOCATION_GID = "gid://shopify/Location/"

CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
EVENT_STATUSES = frozenset(
    {
        "ATTEMPTED_DELIVERY",
        "CARRIER_PICKED_UP",
        "CONFIRMED",
        "DELAYED",
        "DELIVERED",
        "FAILURE",
        "IN_TRANSIT",
        "LABEL_PRINTED",
        "LABEL_PURCHASED",
        "OUT_FOR_DELIVERY",
        "PICKED_UP",
        "READY_FOR_PICKUP",
    }
)
SUPPORTED_ACTIONS = {
    "OPEN": ["CREATE_FULFILLMENT", "REPORT_PROGRESS", "HOLD", "MOVE"],
    "IN_PROGRESS": ["CREATE_FULFILLMENT", "REPORT_PROGRESS"],
    "ON_HOLD": ["RELEASE_HOLD"],
    "SCHEDULED": ["MARK_AS_OPEN"],
    "CLOSED": [],
    "CANCELLED": [],
}
# root field -> (argument, GraphQL type) pairs that the field requires
REQUIRED_ARGUMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "order": (("id", "ID!"),),
    "fulfillmentCreate": (("fulfillment", "FulfillmentInput!"),),
    "fulfillmentEventCreate": (("fulfillmentEvent", "FulfillmentEventInput!"),),
    "orderCancel": (
        ("orderId", "ID!"),
        ("reason", "OrderCancelReason!"),
        ("restock", "Boolean!"),
    ),
    "fulfillmentOrderReportProgress": (("id", "ID!"),),
}
QUERY_COST = {"order": 12, "default": 10}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


@dataclass
class FulfillmentOrder:
    id: int
    location: int
    status: str = "OPEN"
    progress_notes: list[str] = field(default_factory=list)


@dataclass
class Fulfillment:
    id: int
    fulfillment_orders: list[int]
    tracking: dict[str, str] | None
    notify_customer: bool
    status: str = "SUCCESS"
    display_status: str = "FULFILLED"
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ShopifyOrder:
    id: int
    fulfillment_orders: list[FulfillmentOrder]
    fulfillments: list[Fulfillment] = field(default_factory=list)
    cancelled_at: str | None = None
    cancellation: dict[str, Any] | None = None
    cancel_blocked: str | None = None  # why Shopify would refuse to cancel it


async def _graphql(request: web.Request, body: Any) -> web.StreamResponse:
    return await request.app[EMULATOR].graphql(request, body)


class ShopifyEmulator(PlatformEmulator):
    platform = "shopify"
    routes: ClassVar[tuple[Route, ...]] = (
        Route(
            "POST",
            "/admin/api/{version}/graphql.json",
            "graphql",
            required=("query",),
            handler=_graphql,
        ),
    )

    def __init__(self, token: str = "test-secret-value", orders: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.token = token
        self.orders: dict[int, ShopifyOrder] = {}
        self._ids = itertools.count(1001)
        self.maximum_available = 2000.0
        self.currently_available = 2000.0
        self.restore_rate = 100.0
        self.throttle_next = 0  # the next N queries answer THROTTLED
        self.inject_errors: list[dict[str, Any]] = []  # top-level errors for the next query
        self.costs: list[dict[str, Any]] = []  # each answer's extensions.cost, as sent
        for order_id in orders:
            self.add_order(order_id)

    def app(self) -> web.Application:
        app = super().app()
        app[EMULATOR] = self
        return app

    # -- test controls -----------------------------------------------------------------
    def add_order(
        self,
        order_id: int,
        *,
        locations: tuple[int, ...] = (1,),
        status: str = "OPEN",
        fulfilled: bool = False,
        tracking: str | None = None,
        cancelled: bool = False,
        cancel_blocked: str | None = None,
    ) -> ShopifyOrder:
        order = ShopifyOrder(
            order_id,
            [FulfillmentOrder(next(self._ids), location, status) for location in locations],
            cancel_blocked=cancel_blocked,
        )
        if fulfilled:
            for node in order.fulfillment_orders:
                node.status = "CLOSED"
            order.fulfillments.append(
                Fulfillment(
                    next(self._ids),
                    [n.id for n in order.fulfillment_orders],
                    {"number": tracking} if tracking else None,
                    notify_customer=False,
                )
            )
        if cancelled:
            order.cancelled_at = "2026-11-26T10:00:00Z"
            for node in order.fulfillment_orders:
                if node.status != "CLOSED":
                    node.status = "CANCELLED"
        self.orders[order_id] = order
        return order

    def mutations(self, root: str) -> list[dict[str, Any]]:
        """Variables of the accepted calls to mutation ``root``, oldest first."""
        return [
            c.body.get("variables") or {}
            for c in self.accepted("graphql")
            if isinstance(c.body, dict) and _root_field(str(c.body.get("query"))) == root
        ]

    # -- contract ------------------------------------------------------------------------
    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return 401, INVALID_TOKEN
        return None

    async def graphql(self, request: web.Request, body: Any) -> web.StreamResponse:
        call = self.calls[-1]
        if not re.fullmatch(r"\d{4}-(01|04|07|10)|unstable", request.match_info["version"]):
            call.refused = "unknown API version"
            return web.json_response({"errors": "Not Found"}, status=404)
        query = str(body.get("query") or "")
        variables = body.get("variables") or {}
        root = _root_field(query)
        problem = self._validate(query, body.get("operationName"), root, variables)
        if problem is not None:
            call.refused = problem
            return self._answer({"errors": [{"message": problem}]}, cost=0)
        if self.inject_errors:
            errors, self.inject_errors = self.inject_errors, []
            call.refused = "injected errors"
            return self._answer({"errors": errors}, cost=0)
        cost = QUERY_COST.get(root or "", QUERY_COST["default"])
        if self.throttle_next or cost > self.currently_available:
            self.throttle_next = max(0, self.throttle_next - 1)
            call.refused = "throttled"
            throttled = {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
            return self._answer({"errors": [throttled]}, cost=None, requested=cost)
        self.currently_available -= cost
        assert root is not None
        data = getattr(self, f"_{root}")(variables)
        return self._answer({"data": {root: data}}, cost=cost)

    def _validate(self, query: str, operation: Any, root: str | None, variables: Any) -> str | None:
        if root is None:
            return "Field must be one of the operations this emulator knows"
        if operation is not None and not re.search(
            rf"\b(query|mutation)\s+{re.escape(str(operation))}\b", query
        ):
            return f"Unknown operation named '{operation}'."
        if not isinstance(variables, dict):
            return "Variables must be a JSON object"
        for argument, type_name in REQUIRED_ARGUMENTS[root]:
            wired = re.search(rf"\b{argument}\s*:\s*\$(\w+)", query)
            if wired is None:
                return f"Field '{root}' is missing required argument: {argument}"
            name = wired.group(1)
            if variables.get(name) is None:
                return f"Variable ${name} of type {type_name} was provided invalid value"
        return None

    def _answer(
        self, payload: dict[str, Any], *, cost: int | None, requested: int | None = None
    ) -> web.Response:
        payload["extensions"] = {
            "cost": {
                "requestedQueryCost": requested if requested is not None else cost,
                "actualQueryCost": cost,
                "throttleStatus": {
                    "maximumAvailable": self.maximum_available,
                    "currentlyAvailable": self.currently_available,
                    "restoreRate": self.restore_rate,
                },
            }
        }
        self.costs.append(copy.deepcopy(payload["extensions"]["cost"]))
        return web.json_response(payload)

    # -- operations ----------------------------------------------------------------------
    def _order(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        order = self.orders.get(_numeric(variables.get("id"), ORDER_GID) or -1)
        if order is None:
            return None
        done = all(n.status in ("CLOSED", "CANCELLED") for n in order.fulfillment_orders)
        return {
            "id": f"{ORDER_GID}{order.id}",
            "cancelledAt": order.cancelled_at,
            "displayFulfillmentStatus": "FULFILLED"
            if done and order.fulfillments
            else "UNFULFILLED",
            "fulfillmentOrders": {
                "nodes": [
                    {
                        "id": f"{FULFILLMENT_ORDER_GID}{n.id}",
                        "status": n.status,
                        "assignedLocation": {"location": {"id": f"{LOCATION_GID}{n.location}"}},
                        "supportedActions": [{"action": a} for a in SUPPORTED_ACTIONS[n.status]],
                    }
                    for n in order.fulfillment_orders
                ]
            },
            "fulfillments": [
                {
                    "id": f"{FULFILLMENT_GID}{f.id}",
                    "status": f.status,
                    "displayStatus": f.display_status,
                    "trackingInfo": [f.tracking] if f.tracking else [],
                }
                for f in order.fulfillments
            ],
        }

    def _fulfillmentCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables["fulfillment"]
        groups = data.get("lineItemsByFulfillmentOrder") or []
        nodes = []
        for group in groups:
            node_id = _numeric(group.get("fulfillmentOrderId"), FULFILLMENT_ORDER_GID)
            found = self._fulfillment_order(node_id)
            if found is None:
                return _user_error(["fulfillment", "lineItemsByFulfillmentOrder"], "Invalid id")
            nodes.append(found)
        if not nodes:
            return _user_error(["fulfillment"], "Line items by fulfillment order can't be blank")
        orders = {order.id for order, _ in nodes}
        locations = {node.location for _, node in nodes}
        if len(orders) > 1 or len(locations) > 1:
            return _user_error(
                ["fulfillment"], "All fulfillment orders must belong to one order and location"
            )
        order = nodes[0][0]
        for _, node in nodes:
            if order.cancelled_at or node.status not in ("OPEN", "IN_PROGRESS"):
                return _user_error(
                    ["fulfillment", "lineItemsByFulfillmentOrder"],
                    f"Fulfillment order {node.id} has an unfulfillable status= {node.status.lower()}.",
                )
        tracking = data.get("trackingInfo")
        if tracking and tracking.get("url") and not re.match(r"https?://", tracking["url"]):
            return _user_error(["fulfillment", "trackingInfo", "url"], "Url is invalid")
        for _, node in nodes:
            node.status = "CLOSED"
        fulfillment = Fulfillment(
            next(self._ids),
            [node.id for _, node in nodes],
            dict(tracking) if tracking else None,
            notify_customer=bool(data.get("notifyCustomer")),
        )
        order.fulfillments.append(fulfillment)
        return {
            "fulfillment": {"id": f"{FULFILLMENT_GID}{fulfillment.id}", "status": "SUCCESS"},
            "userErrors": [],
        }

    def _fulfillmentEventCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables["fulfillmentEvent"]
        if data.get("status") not in EVENT_STATUSES:
            return _user_error(["fulfillmentEvent", "status"], "Status is not included in the list")
        target = _numeric(data.get("fulfillmentId"), FULFILLMENT_GID)
        for order in self.orders.values():
            for fulfillment in order.fulfillments:
                if fulfillment.id == target:
                    event = {
                        "id": f"gid://shopify/FulfillmentEvent/{next(self._ids)}",
                        "status": data["status"],
                        "happenedAt": data.get("happenedAt"),
                    }
                    fulfillment.events.append(event)
                    fulfillment.display_status = data["status"]
                    return {"fulfillmentEvent": event, "userErrors": []}
        return _user_error(["fulfillmentEvent", "fulfillmentId"], "Fulfillment does not exist")

    def _orderCancel(self, variables: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(_numeric(variables.get("orderId"), ORDER_GID) or -1)
        if variables.get("reason") not in CANCEL_REASONS:
            return _cancel_error("INVALID", ["reason"], "Reason is not a valid cancel reason")
        if order is None:
            return _cancel_error("NOT_FOUND", ["orderId"], "Order does not exist")
        if order.cancelled_at:
            return _cancel_error("INVALID", ["orderId"], "Order has already been cancelled")
        if order.cancel_blocked:
            return _cancel_error("INVALID", ["orderId"], order.cancel_blocked)
        order.cancelled_at = "2026-11-27T12:00:00Z"
        order.cancellation = dict(variables)
        for node in order.fulfillment_orders:
            if node.status != "CLOSED":
                node.status = "CANCELLED"
        return {
            "job": {"id": f"gid://shopify/Job/{next(self._ids)}", "done": False},
            "orderCancelUserErrors": [],
        }

    def _fulfillmentOrderReportProgress(self, variables: dict[str, Any]) -> dict[str, Any]:
        found = self._fulfillment_order(_numeric(variables.get("id"), FULFILLMENT_ORDER_GID))
        if found is None:
            return _progress_error("FULFILLMENT_ORDER_NOT_FOUND", "Fulfillment order not found")
        _, node = found
        if node.status not in ("OPEN", "IN_PROGRESS"):
            return _progress_error(
                "FULFILLMENT_ORDER_STATUS_INVALID", "The fulfillment order status is invalid"
            )
        node.status = "IN_PROGRESS"
        notes = (variables.get("progressReport") or {}).get("reasonNotes")
        node.progress_notes.append(str(notes or ""))
        return {
            "fulfillmentOrder": {"id": f"{FULFILLMENT_ORDER_GID}{node.id}", "status": node.status},
            "userErrors": [],
        }

    def _fulfillment_order(
        self, node_id: int | None
    ) -> tuple[ShopifyOrder, FulfillmentOrder] | None:
        for order in self.orders.values():
            for node in order.fulfillment_orders:
                if node.id == node_id:
                    return order, node
        return None


EMULATOR = web.AppKey("shopify_emulator", ShopifyEmulator)


def _root_field(query: str) -> str | None:
    """The first root field of the document's operation that this emulator knows."""
    body = query[query.find("{") + 1 :] if "{" in query else ""
    match = re.match(r"\s*(\w+)", body)
    if match is None or match.group(1) not in REQUIRED_ARGUMENTS:
        return None
    return match.group(1)


def _numeric(value: Any, prefix: str) -> int | None:
    text = str(value or "")
    if not text.startswith(prefix) or not text[len(prefix) :].isdigit():
        return None
    return int(text[len(prefix) :])


def _user_error(path: list[str], message: str) -> dict[str, Any]:
    return {"userErrors": [{"field": path, "message": message}]}


def _cancel_error(code: str, path: list[str], message: str) -> dict[str, Any]:
    return {
        "job": None,
        "orderCancelUserErrors": [{"field": path, "message": message, "code": code}],
    }


def _progress_error(code: str, message: str) -> dict[str, Any]:
    return {
        "fulfillmentOrder": None,
        "userErrors": [{"field": ["id"], "message": message, "code": code}],
    }
