"""Tray's store API (``/web_api``) as the contract tests need it: token, bodies, state.

Orders are seeded with ``add_order`` and the store's order statuses with ``statuses``;
the emulator keeps each order's status, tracking code and attached NF-e and answers:

- ``POST /web_api/orders/{id}/invoices``: requires ``Invoice`` with ``issue_date``
  (``YYYY-MM-DD``), ``number``, ``serie`` and ``key`` (44 digits); ``value``, when sent,
  must be a decimal like ``259.90``. 201 ``{"message": "Created", "id", "code"}``.
  An access key already attached to the order is refused with 400 — an assumption:
  Tray documents no answer for a repeated NF-e, and the connector does not depend on it
  (it reads the order's invoices before calling a refusal "already done").
- ``GET /web_api/orders/{id}/complete``: ``{"Order": {..., "OrderInvoice": [...]}}``.
- ``PUT /web_api/orders/{id}``: requires the ``Order`` wrapper (Tray's most common 400);
  accepts ``status_id`` (must be one of the store's statuses), ``sending_code`` and
  ``sending_date`` (``YYYY-MM-DD``); any other field is refused, so a misspelt field shows.
  200 ``{"message": "Saved", "id", "code"}``.
- ``PUT /web_api/orders/cancel/{id}``: 200 ``{"message": "Canceled", "id", "code"}``.
- ``GET /web_api/orders/statuses``: ``OrderStatuses[].OrderStatus`` paged by ``limit``
  and ``page`` with a ``paging.total``.

Unknown orders answer 404. The ``access_token`` query parameter must match, else 401 with
Tray's ``error_code`` 1000 ("token inválido ou expirado"); ``store_error_code`` (1001
blocked, 1002 inactive, 1003 cancelled) refuses every call with that code instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

API = "/web_api/orders"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DECIMAL = re.compile(r"^\d+\.\d{2}$")
ORDER_FIELDS = frozenset({"status_id", "sending_code", "sending_date"})
DEFAULT_STATUSES = (
    ("1", "AGUARDANDO PAGAMENTO"),
    ("2", "A ENVIAR"),
    ("3", "ENVIADO"),
    ("4", "FINALIZADO"),
    ("5", "CANCELADO"),
)


@dataclass
class TrayOrder:
    order_id: str
    status_id: str = "2"
    sending_code: str | None = None
    sending_date: str | None = None
    invoices: list[dict[str, Any]] = field(default_factory=list)


def _answer(status: int, message: str, *causes: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": status, **extra}
    if causes:
        body["causes"] = list(causes)
    return web.json_response(body, status=status)


def _emulator(request: web.Request) -> TrayEmulator:
    return request.app[EMULATOR]


def _order(request: web.Request) -> TrayOrder | None:
    return _emulator(request).orders.get(request.match_info["order_id"])


def _not_found() -> web.Response:
    return _answer(404, "Not Found", "Pedido não encontrado")


async def _invoice(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    invoice = body["Invoice"]
    if not DATE.match(str(invoice["issue_date"])):
        return _answer(400, "Bad Request", "issue_date must be YYYY-MM-DD")
    key = str(invoice["key"])
    if not (key.isdigit() and len(key) == 44):
        return _answer(400, "Bad Request", "key must be the 44-digit access key")
    if "value" in invoice and not DECIMAL.match(str(invoice["value"])):
        return _answer(400, "Bad Request", "value must be a decimal like 259.90")
    if any(attached["key"] == key for attached in order.invoices):
        return _answer(400, "Bad Request", "Nota fiscal já cadastrada")  # assumed wording
    emulator = _emulator(request)
    emulator.next_id += 1
    order.invoices.append({"id": str(emulator.next_id), "order_id": order.order_id, **invoice})
    return _answer(201, "Created", id=emulator.next_id)


async def _complete(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    statuses = dict(_emulator(request).statuses)
    return web.json_response(
        {
            "Order": {
                "id": order.order_id,
                "status": statuses.get(order.status_id, ""),
                "sending_code": order.sending_code or "",
                "sending_date": order.sending_date or "0000-00-00",
                "OrderInvoice": [{"OrderInvoice": invoice} for invoice in order.invoices],
            }
        }
    )


async def _update(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    fields = body.get("Order") if isinstance(body, dict) else None
    if not isinstance(fields, dict) or not fields:
        return _answer(400, "Bad Request", "Order is required")
    unknown = sorted(set(fields) - ORDER_FIELDS)
    if unknown:
        return _answer(400, "Bad Request", f"unknown fields: {', '.join(unknown)}")
    if "status_id" in fields and str(fields["status_id"]) not in dict(_emulator(request).statuses):
        return _answer(400, "Bad Request", "status_id does not exist")
    if "sending_date" in fields and not DATE.match(str(fields["sending_date"])):
        return _answer(400, "Bad Request", "sending_date must be YYYY-MM-DD")
    if "status_id" in fields:
        order.status_id = str(fields["status_id"])
    order.sending_code = fields.get("sending_code", order.sending_code)
    order.sending_date = fields.get("sending_date", order.sending_date)
    return _answer(200, "Saved", id=order.order_id)


async def _cancel(request: web.Request, body: Any) -> web.StreamResponse:
    order = _order(request)
    if order is None:
        return _not_found()
    order.status_id = _emulator(request).cancelled_status
    return _answer(200, "Canceled", id=order.order_id)


async def _statuses(request: web.Request, body: Any) -> web.StreamResponse:
    statuses = _emulator(request).statuses
    limit = int(request.query.get("limit", "30"))
    page = int(request.query.get("page", "1"))
    chunk = statuses[(page - 1) * limit : page * limit]
    return web.json_response(
        {
            "paging": {"total": len(statuses), "page": page, "limit": limit, "maxLimit": 50},
            "OrderStatuses": [
                {"OrderStatus": {"id": status_id, "status": name, "default": "1"}}
                for status_id, name in chunk
            ],
        }
    )


class TrayEmulator(PlatformEmulator):
    platform = "tray"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("GET", f"{API}/statuses", "statuses", handler=_statuses),
        Route(
            "POST",
            f"{API}/{{order_id}}/invoices",
            "invoice",
            required=("Invoice.issue_date", "Invoice.number", "Invoice.serie", "Invoice.key"),
            handler=_invoice,
        ),
        Route("GET", f"{API}/{{order_id}}/complete", "order_complete", handler=_complete),
        Route("PUT", f"{API}/cancel/{{order_id}}", "cancel", handler=_cancel),
        Route("PUT", f"{API}/{{order_id}}", "update_order", handler=_update),
    )

    def __init__(
        self,
        access_token: str = "tray-access-token",
        statuses: tuple[tuple[str, str], ...] = DEFAULT_STATUSES,
        cancelled_status: str = "5",
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.store_error_code: int | None = None
        self.statuses = list(statuses)
        self.cancelled_status = cancelled_status
        self.orders: dict[str, TrayOrder] = {}
        self.next_id = 100

    def add_order(self, order_id: str, status_id: str = "2") -> TrayOrder:
        order = TrayOrder(order_id, status_id)
        self.orders[order_id] = order
        return order

    def app(self) -> web.Application:
        app = super().app()
        app[EMULATOR] = self
        return app

    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if self.store_error_code is not None:
            return 401, f"store refused ({self.store_error_code})"
        if request.query.get("access_token") != self.access_token:
            return 401, "Token inválido ou expirado"
        return None

    def auth_error_body(self, request: web.Request, reason: str) -> Any:
        return {
            "code": 401,
            "url": request.path,
            "name": "Unauthorized access",
            "error_code": self.store_error_code or 1000,
            "causes": [reason],
        }


EMULATOR = web.AppKey("tray_emulator", TrayEmulator)
