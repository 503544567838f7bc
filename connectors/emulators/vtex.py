"""VTEX's Orders (OMS) API as the contract tests need it: auth, required fields, order state.

Orders are seeded with ``add_order``; the emulator keeps each order's ``status`` and its
``packageAttachment.packages`` (one per invoice) and answers from that state:

- ``POST /api/oms/pvt/orders/{orderId}/invoice``: requires ``type`` (Output/Input),
  ``issuanceDate``, ``invoiceNumber``, ``invoiceValue`` (cents, digits only) and ``items``
  (``id``, ``quantity``, ``price``), as the reference does. A repeated ``invoiceNumber``
  answers 200 with a new ``receipt`` and changes nothing else (VTEX's documented behaviour).
  An output invoice moves the order to ``invoiced``.
- ``PATCH .../invoice/{invoiceNumber}``: requires ``trackingNumber``, ``courier``,
  ``dispatchedDate`` and ``trackingUrl`` (all four in the reference's required list);
  404 for an unknown invoice.
- ``PUT .../invoice/{invoiceNumber}/tracking``: requires ``isDelivered``, ``deliveredDate``
  (``yyyy-mm-dd hh:mm``) and ``events``, each with ``city``, ``state``, ``description``
  and ``date`` (``yyyy-mm-dd``), all required strings; refused (400) on an invoice without
  a tracking number, since the reference says the call is for invoices that already have
  one.

Every body is checked against the types of the published spec (``vtex/openapi-schemas``,
"VTEX - Orders API.json"): a string field given a number, a boolean given a string, an
item's ``price`` or ``quantity`` not an integer, ``invoiceValue`` not a string of digits —
each is a 400 naming the field. (Nulls are refused by the base emulator.)
- ``POST .../start-handling``: 204, or 409 ``OMS003`` unless the order is
  ``ready-for-handling`` (the documented answer).
- ``POST .../cancel``: 400 for an invoiced order (documented); for an order already
  canceled VTEX documents no answer, so the emulator assumes a 409 — the connector must
  not depend on its wording (it checks the order's status).
- ``GET /api/oms/pvt/orders/{orderId}``: the order's ``orderId``, ``status`` and packages.

Unknown orders answer 404. Credentials: both ``X-VTEX-API-AppKey`` and
``X-VTEX-API-AppToken`` must match, else 401 with VTEX's "Acesso não autorizado" body.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

OMS = "/api/oms/pvt/orders/{order_id}"


@dataclass
class VtexOrder:
    order_id: str
    status: str = "ready-for-handling"
    packages: list[dict[str, Any]] = field(default_factory=list)

    def package(self, invoice_number: str) -> dict[str, Any] | None:
        for package in self.packages:
            if package["invoiceNumber"] == invoice_number:
                return package
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "status": self.status,
            "packageAttachment": {"packages": self.packages},
        }


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "exception": None}}, status=status
    )


def _receipt(order_id: str) -> web.Response:
    return web.json_response(
        {
            "date": datetime.now(UTC).isoformat(),
            "orderId": order_id,
            "receipt": uuid.uuid4().hex,
        }
    )


# the published spec's property types, per route (str, int, bool, or a nested spec)
INVOICE_TYPES: dict[str, Any] = {
    "type": str, "issuanceDate": str, "invoiceNumber": str, "invoiceValue": str,
    "invoiceKey": str, "invoiceUrl": str, "embeddedInvoice": str, "courier": str,
    "trackingNumber": str, "trackingUrl": str, "dispatchedDate": str,
    "items": [{"id": str, "price": int, "quantity": int, "description": str}],
}  # fmt: skip
TRACKING_TYPES: dict[str, Any] = {
    "trackingNumber": str, "trackingUrl": str, "courier": str, "dispatchedDate": str,
}  # fmt: skip
DELIVERED_TYPES: dict[str, Any] = {
    "isDelivered": bool,
    "deliveredDate": str,
    "events": [{"city": str, "state": str, "description": str, "date": str}],
}
EVENT_REQUIRED = ("city", "state", "description", "date")


def type_errors(body: Any, types: dict[str, Any], path: str = "") -> list[str]:
    """Where ``body`` holds a value of another type than the spec's."""
    errors = []
    for name, kind in types.items():
        if name not in body:
            continue
        value, where = body[name], f"{path}{name}"
        if isinstance(kind, list):
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array")
                continue
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    errors.append(f"{where}[{i}]: expected an object")
                else:
                    errors += type_errors(item, kind[0], f"{where}[{i}].")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append(f"{where}: expected an integer")
        elif kind is not int and not isinstance(value, kind):
            errors.append(f"{where}: expected a {kind.__name__}")
    return errors


def _typed(body: Any, types: dict[str, Any]) -> web.Response | None:
    errors = type_errors(body, types)
    return _error(400, "1", "; ".join(errors)) if errors else None


def _order(request: web.Request) -> VtexOrder | None:
    return request.app[EMULATOR].orders.get(request.match_info["order_id"])


def _not_found() -> web.Response:
    return _error(404, "1", "Order not found")


async def _get_order(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    return _not_found() if order is None else web.json_response(order.as_json())


async def _invoice(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    if (wrong := _typed(body, INVOICE_TYPES)) is not None:
        return wrong
    if body["type"] not in ("Output", "Input"):
        return _error(400, "1", "type must be Output or Input")
    if not str(body["invoiceValue"]).isdigit():
        return _error(400, "1", "invoiceValue must be in cents, without separators")
    number = str(body["invoiceNumber"])
    if order.package(number) is None:
        order.packages.append(
            {
                "type": body["type"],
                "invoiceNumber": number,
                "invoiceValue": int(body["invoiceValue"]),
                "issuanceDate": body["issuanceDate"],
                "invoiceKey": body.get("invoiceKey"),
                "invoiceUrl": body.get("invoiceUrl"),
                "embeddedInvoice": body.get("embeddedInvoice"),
                "items": body["items"],
                "courier": None,
                "trackingNumber": None,
                "trackingUrl": None,
                "courierStatus": None,
            }
        )
        if body["type"] == "Output":
            order.status = "invoiced"
    return _receipt(order.order_id)


async def _tracking_number(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    if "trackingUrl" not in body:
        return _error(400, "1", "trackingUrl is required")
    if (wrong := _typed(body, TRACKING_TYPES)) is not None:
        return wrong
    package = order.package(request.match_info["invoice"])
    if package is None:
        return _error(404, "1", "Invoice not found")
    package.update(
        trackingNumber=body["trackingNumber"],
        trackingUrl=body["trackingUrl"],
        courier=body["courier"],
        dispatchedDate=body["dispatchedDate"],
    )
    return _receipt(order.order_id)


async def _tracking_status(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    if not isinstance(body.get("events"), list):
        return _error(400, "1", "events is required")
    if (wrong := _typed(body, DELIVERED_TYPES)) is not None:
        return wrong
    for i, step in enumerate(body["events"]):
        missing = [name for name in EVENT_REQUIRED if name not in step]
        if missing:
            return _error(400, "1", f"events[{i}]: {', '.join(missing)} required")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", str(body["deliveredDate"])):
        return _error(400, "1", "deliveredDate: expected yyyy-mm-dd hh:mm")
    package = order.package(request.match_info["invoice"])
    if package is None:
        return _error(404, "1", "Invoice not found")
    if not package["trackingNumber"]:
        return _error(400, "1", "The invoice has no tracking number")
    package["courierStatus"] = {
        "finished": bool(body["isDelivered"]),
        "deliveredDate": body["deliveredDate"],
        "data": body["events"],
    }
    return _receipt(order.order_id)


async def _start_handling(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    if order.status != "ready-for-handling":
        return _error(
            409, "OMS003", "Order status should be ready-for-handling to perform this action"
        )
    order.status = "handling"
    return web.Response(status=204)


async def _cancel(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    if isinstance(body, dict) and not isinstance(body.get("reason", ""), str):
        return _error(400, "1", "reason: expected a string")
    if order.status in ("invoiced", "invoice"):
        return _error(400, "1", "Orders with invoiced status cannot be canceled")
    if order.status in ("canceled", "cancel"):
        return _error(409, "1", "Order is already canceled")  # assumed: not documented
    order.status = "canceled"
    return _receipt(order.order_id)


class VtexEmulator(PlatformEmulator):
    platform = "vtex"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("GET", OMS, "get_order", handler=_get_order),
        Route(
            "POST",
            f"{OMS}/invoice",
            "invoice",
            required=(
                "type",
                "issuanceDate",
                "invoiceNumber",
                "invoiceValue",
                "items",
                "items.id",
                "items.quantity",
                "items.price",
            ),
            handler=_invoice,
        ),
        Route(
            "PATCH",
            f"{OMS}/invoice/{{invoice}}",
            "tracking",
            required=("trackingNumber", "courier", "dispatchedDate"),
            handler=_tracking_number,
        ),
        Route(
            "PUT",
            f"{OMS}/invoice/{{invoice}}/tracking",
            "delivered",
            required=("isDelivered", "deliveredDate"),
            handler=_tracking_status,
        ),
        Route("POST", f"{OMS}/start-handling", "start_handling", handler=_start_handling),
        Route("POST", f"{OMS}/cancel", "cancel", handler=_cancel),
    )

    def __init__(self, app_key: str = "vtexappkey-acme-TEST", app_token: str = "TOKEN") -> None:
        super().__init__()
        self.app_key = app_key
        self.app_token = app_token
        self.orders: dict[str, VtexOrder] = {}

    def add_order(
        self,
        order_id: str,
        status: str = "ready-for-handling",
        packages: list[dict[str, Any]] | None = None,
    ) -> VtexOrder:
        order = VtexOrder(order_id, status, list(packages or []))
        self.orders[order_id] = order
        return order

    def app(self) -> web.Application:
        app = super().app()
        app[EMULATOR] = self
        return app

    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if (
            request.headers.get("X-VTEX-API-AppKey") != self.app_key
            or request.headers.get("X-VTEX-API-AppToken") != self.app_token
        ):
            return 401, "Acesso não autorizado"
        return None


EMULATOR = web.AppKey("vtex_emulator", VtexEmulator)


def package(
    invoice_number: str,
    *,
    kind: str = "Output",
    tracking_number: str | None = None,
    value_cents: int = 25990,
) -> dict[str, Any]:
    """A package as VTEX lists it under ``packageAttachment.packages``, for seeding orders."""
    return {
        "type": kind,
        "invoiceNumber": invoice_number,
        "invoiceValue": value_cents,
        "issuanceDate": "2026-11-27T12:00:00+00:00",
        "invoiceKey": None,
        "invoiceUrl": None,
        "items": [],
        "courier": "Correios" if tracking_number else None,
        "trackingNumber": tracking_number,
        "trackingUrl": None,
        "courierStatus": None,
    }
