"""A Magento 2 REST API stand-in that holds orders and answers like Magento 2.4 does.

Routes live under ``/rest/{store_code}/V1/...`` (the store URL is the REST base). Auth is
``Authorization: Bearer <token>``; anything else is 401 with Magento's message. What the
emulator models, from Magento's sources (module-sales) and Adobe's REST tutorials:

- ``POST V1/order/{id}/invoice``: the ``CanInvoice`` validator — a held, in-review,
  cancelled, complete or closed order is 400 "An invoice cannot be created when an order
  has a status of X"; nothing left to invoice is 400 "The order does not allow an invoice
  to be created.", both prefixed "Invoice Document Validation Error(s):". ``comment``
  becomes the invoice's comment. Answers the invoice id.
- ``POST V1/order/{id}/ship``: ``CanShip`` likewise ("A shipment cannot be created when
  an order has a status of X" / "The order does not allow a shipment to be created.");
  every track needs ``track_number``, ``title`` and ``carrier_code``.
- ``POST V1/shipment/track``: ``entity`` with order_id, parent_id (an existing shipment),
  track_number, title, carrier_code.
- ``POST V1/orders/{id}/comments``: ``statusHistory`` is required. A comment without
  ``status`` sets the order status to null (issue 34180, 2.3-2.4.6); a status that is not
  assigned to the order's state is silently kept (2.4.7, issue 38659). Answers ``true``.
- ``POST V1/orders/{id}/cancel``: ``true``, or ``false`` when ``canCancel()`` is false
  (cancelled, complete, closed, held, in review, or nothing left to cancel).
- ``GET V1/orders/{id}``; ``GET V1/invoices`` / ``V1/shipments`` with a searchCriteria
  filter — without a filter Magento lists every order's documents, and so does this.
- unknown order: 404 "The entity that was requested doesn't exist...".
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
# statuses assigned to each state (Stores > Order Status), defaults plus a custom one
STATE_STATUSES: dict[str, tuple[str, ...]] = {
    "new": ("pending",),
    "processing": ("processing", "em_separacao", "pronto"),
    "complete": ("complete", "entregue"),
    "canceled": ("canceled",),
    "closed": ("closed",),
    "holded": ("holded",),
    "payment_review": ("payment_review",),
}


PREFIX = "/rest/{store}/V1"


class Magento2Emulator(PlatformEmulator):
    platform = "magento2"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("POST", PREFIX + "/order/{id}/invoice", "invoice", handler="_invoice"),
        Route("POST", PREFIX + "/order/{id}/ship", "ship", handler="_ship"),
        Route(
            "POST",
            PREFIX + "/shipment/track",
            "track",
            required=(
                "entity.order_id",
                "entity.parent_id",
                "entity.track_number",
                "entity.title",
                "entity.carrier_code",
            ),
            handler="_track",
        ),
        Route(
            "POST",
            PREFIX + "/orders/{id}/comments",
            "comment",
            required=("statusHistory",),
            handler="_comment",
        ),
        Route("POST", PREFIX + "/orders/{id}/cancel", "cancel", handler="_cancel"),
        Route("GET", PREFIX + "/orders/{id}", "order", handler="_get_order"),
        Route("GET", PREFIX + "/invoices", "invoices", handler="_invoices"),
        Route("GET", PREFIX + "/shipments", "shipments", handler="_shipments"),
    )

    def __init__(self, token: str = "test-secret-value") -> None:
        super().__init__()
        self.token = token
        self.orders: dict[str, dict[str, Any]] = {}
        self.invoices: list[dict[str, Any]] = []
        self.shipments: list[dict[str, Any]] = []

    # -- state -------------------------------------------------------------------------
    def add_order(
        self,
        order_id: str,
        *,
        state: str = "new",
        status: str = "pending",
        qty: float = 1,
        virtual: bool = False,
    ) -> dict[str, Any]:
        order = {
            "entity_id": int(order_id),
            "increment_id": f"0000{order_id}",
            "state": state,
            "status": status,
            "items": [
                {
                    "item_id": int(order_id) * 10,
                    "sku": "SKU-1",
                    "qty_ordered": qty,
                    "qty_invoiced": 0,
                    "qty_shipped": 0,
                    "qty_canceled": 0,
                    "qty_refunded": 0,
                    "is_virtual": 1 if virtual else 0,
                }
            ],
            "status_histories": [],
        }
        self.orders[order_id] = order
        return order

    def invoice_order(self, order_id: str, comment: str | None = None) -> dict[str, Any]:
        """Invoice everything left, as a payment module or the Admin would."""
        order = self.orders[order_id]
        for item in order["items"]:
            item["qty_invoiced"] = item["qty_ordered"]
        invoice = {
            "entity_id": len(self.invoices) + 1,
            "order_id": order["entity_id"],
            "state": 2,
            "comments": [{"comment": comment, "is_visible_on_front": 1}] if comment else [],
        }
        self.invoices.append(invoice)
        self._advance(order)
        return invoice

    def ship_order(self, order_id: str, tracks: list[dict[str, Any]] | None = None) -> None:
        order = self.orders[order_id]
        for item in order["items"]:
            item["qty_shipped"] = item["qty_ordered"]
        self.shipments.append(
            {
                "entity_id": len(self.shipments) + 1,
                "order_id": order["entity_id"],
                "tracks": list(tracks or []),
                "comments": [],
            }
        )
        self._advance(order)

    @staticmethod
    def _advance(order: dict[str, Any]) -> None:
        items = order["items"]
        invoiced = all(i["qty_invoiced"] >= i["qty_ordered"] for i in items)
        shipped = all(i["qty_shipped"] >= i["qty_ordered"] or i["is_virtual"] for i in items)
        state = "complete" if invoiced and shipped else "processing"
        if order["state"] != state:
            order["state"] = state
            order["status"] = STATE_STATUSES[state][0]

    # -- auth --------------------------------------------------------------------------
    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, "The consumer isn't authorized to access %resources."
        return None

    # -- handlers ----------------------------------------------------------------------
    def _refuse(self, status: int, message: str) -> web.Response:
        self.calls[-1].refused = message
        return web.json_response({"message": message}, status=status)

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return self.orders.get(request.match_info["id"])

    async def _invoice(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._refuse(404, NOT_FOUND)
        if not isinstance(body, dict):
            body = {}
        errors = []
        if order["state"] in ("payment_review", "holded", "canceled", "complete", "closed"):
            errors.append(
                f"An invoice cannot be created when an order has a status of {order['status']}"
            )
        elif not any(
            i["qty_ordered"] - i["qty_invoiced"] - i["qty_canceled"] > 0 for i in order["items"]
        ):
            errors.append("The order does not allow an invoice to be created.")
        if errors:
            return self._refuse(400, "Invoice Document Validation Error(s):\n" + "\n".join(errors))
        comment = body.get("comment") if isinstance(body.get("comment"), dict) else None
        invoice = self.invoice_order(
            request.match_info["id"], comment.get("comment") if comment else None
        )
        return web.json_response(invoice["entity_id"])

    async def _ship(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._refuse(404, NOT_FOUND)
        if not isinstance(body, dict):
            body = {}
        tracks = body.get("tracks") or []
        for track in tracks:
            for name in ("track_number", "title", "carrier_code"):
                if not isinstance(track, dict) or not track.get(name):
                    return self._refuse(400, f'"{name}" is required. Enter and try again.')
        errors = []
        items = order["items"]
        if order["state"] in ("payment_review", "holded", "canceled") or all(
            i["is_virtual"] for i in items
        ):
            errors.append(
                f"A shipment cannot be created when an order has a status of {order['status']}"
            )
        elif not any(
            i["qty_ordered"] - i["qty_shipped"] - i["qty_canceled"] - i["qty_refunded"] > 0
            and not i["is_virtual"]
            for i in items
        ):
            errors.append("The order does not allow a shipment to be created.")
        if errors:
            return self._refuse(400, "Shipment Document Validation Error(s):\n" + "\n".join(errors))
        self.ship_order(request.match_info["id"], tracks)
        return web.json_response(self.shipments[-1]["entity_id"])

    async def _track(self, request: web.Request, body: Any) -> web.StreamResponse:
        entity = body["entity"]
        shipment = next((s for s in self.shipments if s["entity_id"] == entity["parent_id"]), None)
        if shipment is None:
            return self._refuse(400, "Could not save the shipment tracking.")
        track = {k: entity[k] for k in ("track_number", "title", "carrier_code")}
        shipment["tracks"].append(track)
        return web.json_response({"entity_id": len(shipment["tracks"]), **entity})

    async def _comment(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._refuse(404, NOT_FOUND)
        history = body["statusHistory"]
        if not isinstance(history, dict):
            return self._refuse(400, '"statusHistory" is required. Enter and try again.')
        status = history.get("status")
        if status is None:
            order["status"] = None  # magento/magento2 issue 34180
        elif status in STATE_STATUSES.get(order["state"], ()):
            order["status"] = status
        # else: 2.4.7 keeps the current status and still answers true
        order["status_histories"].insert(
            0,
            {
                "comment": history.get("comment"),
                "status": order["status"],
                "is_customer_notified": history.get("is_customer_notified"),
                "is_visible_on_front": history.get("is_visible_on_front"),
                "parent_id": order["entity_id"],
            },
        )
        return web.json_response(True)

    async def _cancel(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._refuse(404, NOT_FOUND)
        cancellable = order["state"] not in (
            "canceled",
            "complete",
            "closed",
            "holded",
            "payment_review",
        ) and any(
            i["qty_ordered"] - i["qty_invoiced"] - i["qty_canceled"] > 0 for i in order["items"]
        )
        if not cancellable:
            return web.json_response(False)
        for item in order["items"]:
            item["qty_canceled"] = item["qty_ordered"] - item["qty_invoiced"]
        order["state"] = order["status"] = "canceled"
        return web.json_response(True)

    async def _get_order(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._refuse(404, NOT_FOUND)
        shown = {k: v for k, v in order.items() if v is not None}  # null status is omitted
        return web.json_response(shown)

    def _search(self, request: web.Request, documents: list[dict[str, Any]]) -> web.Response:
        prefix = "searchCriteria[filter_groups][0][filters][0]"
        field = request.query.get(f"{prefix}[field]")
        value = request.query.get(f"{prefix}[value]")
        condition = request.query.get(f"{prefix}[condition_type]", "eq")
        items = documents
        if field == "order_id" and value is not None and condition == "eq":
            items = [d for d in documents if str(d["order_id"]) == value]
        return web.json_response({"items": items, "search_criteria": {}, "total_count": len(items)})

    async def _invoices(self, request: web.Request, body: Any) -> web.StreamResponse:
        return self._search(request, self.invoices)

    async def _shipments(self, request: web.Request, body: Any) -> web.StreamResponse:
        return self._search(request, self.shipments)

    # -- server ------------------------------------------------------------------------
