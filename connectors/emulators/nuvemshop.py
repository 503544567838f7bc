"""Nuvemshop / Tiendanube API v1 for one store, as far as ordersync uses it.

Routes under ``/v1/{store_id}/``: ``GET orders/{id}``, ``POST orders/{id}/fulfill``,
``POST orders/{id}/cancel``, ``GET metafields/orders``, ``POST metafields``,
``PUT metafields/{id}``. It answers like the vendor documents:

- a request without a ``User-Agent`` naming the app and a contact (``App (mail@x.y)`` or
  ``App (https://...)``) → 400; ``Authentication: bearer <token>`` missing or wrong, or
  another store's id → 401 (``Authorization: Bearer`` is not accepted);
- POST / PUT without a JSON ``Content-Type`` → 415; invalid fields → 422 with the
  field errors; an unknown order → 404 ``{"code": 404, "message": "Not Found", ...}``;
- fulfilling a cancelled or already shipped order, or cancelling a cancelled one, → 422
  (the exact body Nuvemshop gives is not documented; the connector does not rely on it);
- every answer, faults included, carries ``x-rate-limit-limit`` / ``-remaining`` /
  ``-reset`` (ms) from a leaky bucket of 40 draining 2 per second; a full bucket → 429.
  ``force_remaining`` pins the remaining count a test wants to see.

State: orders (status, shipping status, tracking) and order metafields, so reads answer
from what earlier calls did.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

CANCEL_REASONS = frozenset({"customer", "inventory", "fraud", "other"})
USER_AGENT = re.compile(r"\S.*\((\S+@\S+\.\S+|https?://\S+)\)")
PREFIX = "/v1/{store_id}"


def _dispatch(name: str) -> Callable[[web.Request, Any], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request, body: Any) -> web.StreamResponse:
        emulator = request.app[EMULATOR]
        result: web.StreamResponse = await getattr(emulator, name)(request, body)
        return result

    return handle


class NuvemshopEmulator(PlatformEmulator):
    platform = "nuvemshop"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("GET", f"{PREFIX}/orders/{{order_id}}", "order", handler=_dispatch("get_order")),
        Route(
            "POST", f"{PREFIX}/orders/{{order_id}}/fulfill", "fulfill", handler=_dispatch("fulfill")
        ),
        Route(
            "POST", f"{PREFIX}/orders/{{order_id}}/cancel", "cancel", handler=_dispatch("cancel")
        ),
        Route(
            "GET", f"{PREFIX}/metafields/orders", "metafields", handler=_dispatch("list_metafields")
        ),
        Route(
            "POST",
            f"{PREFIX}/metafields",
            "create_metafield",
            required=("namespace", "key", "value", "owner_resource", "owner_id"),
            handler=_dispatch("create_metafield"),
        ),
        Route(
            "PUT",
            f"{PREFIX}/metafields/{{metafield_id}}",
            "update_metafield",
            handler=_dispatch("update_metafield"),
        ),
    )

    def __init__(
        self,
        token: str = "test-secret-value",
        store_id: str = "123456",
        orders: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.token = token
        self.store_id = store_id
        self.orders: dict[int, dict[str, Any]] = {}
        self.metafields: list[dict[str, Any]] = []
        self._ids = itertools.count(9001)
        self.bucket_size = 40
        self.leak_per_s = 2.0
        self.force_remaining: int | None = None
        self._level = 0.0
        self._leaked_at = time.monotonic()
        for order in orders:
            self.add_order(order)

    # -- test controls -----------------------------------------------------------------
    def add_order(
        self,
        order_id: int,
        *,
        status: str = "open",
        shipping_status: str = "unpacked",
        tracking: str | None = None,
    ) -> dict[str, Any]:
        order = {
            "id": order_id,
            "number": 100 + len(self.orders),
            "status": status,
            "payment_status": "paid",
            "shipping_status": shipping_status,
            "shipping_tracking_number": tracking,
            "shipping_tracking_url": None,
            "shipped_at": "2026-11-26T10:00:00+0000" if shipping_status != "unpacked" else None,
            "cancel_reason": None,
        }
        self.orders[order_id] = order
        return order

    def add_metafield(self, owner_id: int, value: str, namespace: str = "nfe") -> dict[str, Any]:
        metafield = {
            "id": next(self._ids),
            "namespace": namespace,
            "key": "list",
            "value": value,
            "description": "Lista de NFes",
            "owner_resource": "Order",
            "owner_id": owner_id,
        }
        self.metafields.append(metafield)
        return metafield

    # -- contract ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = super().app()
        app[EMULATOR] = self
        app.middlewares.append(self._rate_limit)
        return app

    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if not USER_AGENT.fullmatch(request.headers.get("User-Agent", "")):
            return 400, "User-Agent header must name the app and a contact"
        expected = f"bearer {self.token}"
        given = request.headers.get("Authentication", "")
        if given.lower() != expected.lower() or given[7:] != self.token:
            return 401, "Invalid access token"
        if request.match_info.get("store_id") != self.store_id:
            return 401, "Invalid access token for this store"
        return None

    @web.middleware
    async def _rate_limit(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._leaked_at) * self.leak_per_s)
        self._leaked_at = now
        if self._level + 1 > self.bucket_size:
            response: web.StreamResponse = _error(429, "Too Many Requests", "Rate limit exceeded")
        else:
            self._level += 1
            response = await handler(request)
        remaining = max(0, self.bucket_size - int(self._level + 0.999))
        if self.force_remaining is not None:
            remaining = self.force_remaining
        used = self.bucket_size - remaining
        response.headers["x-rate-limit-limit"] = str(self.bucket_size)
        response.headers["x-rate-limit-remaining"] = str(remaining)
        response.headers["x-rate-limit-reset"] = str(int(used / self.leak_per_s * 1000))
        return response

    # -- operations ----------------------------------------------------------------------
    async def get_order(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._not_found("Order")
        return web.json_response(order)

    async def fulfill(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._not_found("Order")
        problem = self._json_body(request, body) or self._typed(
            body,
            {
                "shipping_tracking_number": str,
                "shipping_tracking_url": str,
                "notify_customer": bool,
            },
        )
        if problem is not None:
            return problem
        if order["status"] == "cancelled" or order["shipping_status"] in ("shipped", "fulfilled"):
            self.calls[-1].refused = f"order is {order['status']}/{order['shipping_status']}"
            return _error(422, "Unprocessable Entity", "Order cannot be fulfilled")
        order["shipping_status"] = "shipped"
        order["shipped_at"] = "2026-11-27T12:00:00+0000"
        order["shipping_tracking_number"] = body.get("shipping_tracking_number")
        order["shipping_tracking_url"] = body.get("shipping_tracking_url")
        return web.json_response(order)

    async def cancel(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._find(request)
        if order is None:
            return self._not_found("Order")
        problem = self._json_body(request, body) or self._typed(
            body, {"reason": str, "email": bool, "restock": bool}
        )
        if problem is not None:
            return problem
        reason = body.get("reason")
        if reason is not None and reason not in CANCEL_REASONS:
            self.calls[-1].refused = "invalid reason"
            return web.json_response({"reason": ["is invalid"]}, status=422)
        if order["status"] == "cancelled":
            self.calls[-1].refused = "already cancelled"
            return _error(422, "Unprocessable Entity", "Order cannot be cancelled")
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        return web.json_response(order)

    async def list_metafields(self, request: web.Request, body: Any) -> web.StreamResponse:
        query = request.query
        found = [
            m
            for m in self.metafields
            if str(m["owner_id"]) == query.get("owner_id", str(m["owner_id"]))
            and m["namespace"] == query.get("namespace", m["namespace"])
            and m["key"] == query.get("key", m["key"])
        ]
        return web.json_response(found)

    async def create_metafield(self, request: web.Request, body: Any) -> web.StreamResponse:
        problem = self._json_body(request, body)
        if problem is not None:
            return problem
        errors = {}
        for name in ("namespace", "key"):
            if not re.fullmatch(r"[A-Za-z]\w*", str(body[name])):
                errors[name] = ["is invalid"]
        if not isinstance(body["value"], str):
            errors["value"] = ["must be a string"]
        if body["owner_resource"] != "Order" or not isinstance(body["owner_id"], int):
            errors["owner_id"] = ["is invalid"]
        if errors:
            self.calls[-1].refused = f"invalid {', '.join(errors)}"
            return web.json_response(errors, status=422)
        if body["owner_id"] not in self.orders:
            return self._not_found("Order")
        if any(
            m["owner_id"] == body["owner_id"]
            and (m["namespace"], m["key"]) == (body["namespace"], body["key"])
            for m in self.metafields
        ):
            self.calls[-1].refused = "duplicate"
            return web.json_response({"key": ["has already been taken"]}, status=422)
        metafield = {"id": next(self._ids), **body}
        self.metafields.append(metafield)
        return web.json_response(metafield, status=201)

    async def update_metafield(self, request: web.Request, body: Any) -> web.StreamResponse:
        problem = self._json_body(request, body) or self._typed(body, {"value": str})
        if problem is not None:
            return problem
        wanted = request.match_info["metafield_id"]
        for metafield in self.metafields:
            if str(metafield["id"]) == wanted:
                metafield.update({k: body[k] for k in ("value", "description") if k in body})
                return web.json_response(metafield)
        return self._not_found("Metafield")

    # -- helpers -------------------------------------------------------------------------
    def _find(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.match_info["order_id"]
        return self.orders.get(int(raw)) if raw.isdigit() else None

    def _not_found(self, what: str) -> web.Response:
        self.calls[-1].refused = f"{what.lower()} not found"
        return _error(404, "Not Found", f"{what} with such id does not exist")

    def _typed(self, body: dict[str, Any], fields: dict[str, type]) -> web.Response | None:
        errors = {
            name: [f"must be a {kind.__name__}"]
            for name, kind in fields.items()
            if name in body and body[name] is not None and not isinstance(body[name], kind)
        }
        if errors:
            self.calls[-1].refused = f"invalid {', '.join(errors)}"
            return web.json_response(errors, status=422)
        return None

    def _json_body(self, request: web.Request, body: Any) -> web.Response | None:
        if request.content_type != "application/json":
            self.calls[-1].refused = "content type"
            return _error(415, "Unsupported Media Type", "Content-Type must be application/json")
        if not isinstance(body, dict):
            self.calls[-1].refused = "invalid JSON"
            return web.json_response({"error": "Problems parsing JSON"}, status=400)
        return None


EMULATOR = web.AppKey("nuvemshop_emulator", NuvemshopEmulator)


def _error(status: int, message: str, description: str) -> web.Response:
    return web.json_response(
        {"code": status, "message": message, "description": description}, status=status
    )
