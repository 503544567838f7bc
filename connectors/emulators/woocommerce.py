"""A WooCommerce REST API stand-in (``wc/v3`` orders, Shipment Tracking ``v3``).

Auth is HTTP Basic ``consumer_key:consumer_secret``; a wrong key is 401
``woocommerce_rest_authentication_error``, no credentials 401
``woocommerce_rest_cannot_view``. Errors use WordPress's ``{"code", "message", "data":
{"status"}}``. What it models:

- ``PUT wp-json/wc/v3/orders/{id}``: ``status`` must be one of the store's statuses (the
  REST schema's enum, slugs without ``wc-``), else 400 ``rest_invalid_param``;
  ``meta_data`` items need a ``key`` and update the meta with that key (no duplicate);
  an unknown order is 404 ``woocommerce_rest_shop_order_invalid_id``. Answers the order.
- ``GET|POST wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings``: the
  extension's controller requires ``tracking_number`` (400 ``rest_missing_callback_param``)
  and adds an item on every POST, duplicates included (201). The documentation asks for
  ``tracking_provider`` (predefined) or ``custom_tracking_provider``; the emulator refuses
  an item with neither, since the store would show no carrier. With
  ``tracking_extension=False`` the routes answer 404 ``rest_no_route`` as WordPress does
  when the plugin is absent.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

CORE_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)
PROVIDERS = {
    "correios": ("Correios", "https://rastreamento.correios.com.br/app/index.php?objeto=%1$s")
}


TRACKINGS = "/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings"


class WooCommerceEmulator(PlatformEmulator):
    platform = "woocommerce"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("PUT", "/wp-json/wc/v3/orders/{id}", "order", handler="_update"),
        Route("GET", TRACKINGS, "trackings", handler="_list_trackings"),
        Route("POST", TRACKINGS, "add_tracking", handler="_add_tracking"),
    )

    def __init__(
        self,
        key: str = "ck_test",
        secret: str = "cs_test",
        *,
        custom_statuses: tuple[str, ...] = ("em-separacao",),
        tracking_extension: bool = True,
    ) -> None:
        super().__init__()
        self.credentials = f"{key}:{secret}"
        self.statuses = CORE_STATUSES + custom_statuses
        self.tracking_extension = tracking_extension
        self.orders: dict[str, dict[str, Any]] = {}

    # -- state -------------------------------------------------------------------------
    def add_order(self, order_id: str, status: str = "processing") -> dict[str, Any]:
        order = {"id": int(order_id), "status": status, "meta_data": [], "trackings": []}
        self.orders[order_id] = order
        return order

    def meta(self, order_id: str) -> dict[str, Any]:
        return {m["key"]: m["value"] for m in self.orders[order_id]["meta_data"]}

    # -- auth --------------------------------------------------------------------------
    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return 401, "woocommerce_rest_cannot_view: Sorry, you cannot list resources."
        try:
            given = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except ValueError:
            return 401, "woocommerce_rest_authentication_error: Consumer key is invalid."
        if given != self.credentials:
            return 401, "woocommerce_rest_authentication_error: Consumer key is invalid."
        return None

    # -- handlers ----------------------------------------------------------------------
    def _error(self, status: int, code: str, message: str) -> web.Response:
        self.calls[-1].refused = f"{code}: {message}"
        return web.json_response(
            {"code": code, "message": message, "data": {"status": status}}, status=status
        )

    def _order(self, request: web.Request) -> dict[str, Any] | None:
        return self.orders.get(request.match_info["id"])

    def _shown(self, order: dict[str, Any]) -> dict[str, Any]:
        meta = [{"id": n + 1, **m} for n, m in enumerate(order["meta_data"])]
        return {"id": order["id"], "status": order["status"], "meta_data": meta}

    async def _update(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self._order(request)
        if order is None:
            return self._error(404, "woocommerce_rest_shop_order_invalid_id", "ID inválido.")
        if not isinstance(body, dict):
            return self._error(400, "rest_invalid_json", "Corpo JSON inválido enviado.")
        status = body.get("status")
        if status is not None and status not in self.statuses:
            return self._error(
                400,
                "rest_invalid_param",
                f"Parâmetro(s) inválido(s): status ({status} não é um de "
                f"{', '.join(self.statuses)})",
            )
        for item in body.get("meta_data") or []:
            if not isinstance(item, dict) or not item.get("key"):
                return self._error(400, "rest_invalid_param", "Parâmetro(s) inválido(s): meta_data")
        if status is not None:
            order["status"] = status
        for item in body.get("meta_data") or []:
            kept = [m for m in order["meta_data"] if m["key"] != item["key"]]
            order["meta_data"] = [*kept, {"key": item["key"], "value": item.get("value")}]
        return web.json_response(self._shown(order))

    def _no_route(self) -> web.Response:
        return self._error(
            404,
            "rest_no_route",
            "Nenhuma rota foi encontrada que corresponda com o URL e o método de requisição.",
        )

    async def _list_trackings(self, request: web.Request, body: Any) -> web.StreamResponse:
        if not self.tracking_extension:
            return self._no_route()
        order = self._order(request)
        if order is None:
            return self._error(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
        return web.json_response(order["trackings"])

    async def _add_tracking(self, request: web.Request, body: Any) -> web.StreamResponse:
        if not self.tracking_extension:
            return self._no_route()
        order = self._order(request)
        if order is None:
            return self._error(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
        if not isinstance(body, dict) or not body.get("tracking_number"):
            return self._error(
                400,
                "rest_missing_callback_param",
                "Parâmetro(s) ausente(s): tracking_number",
            )
        number = str(body["tracking_number"])
        custom = body.get("custom_tracking_provider")
        provider = str(body.get("tracking_provider") or "")
        if custom:
            name, link = str(custom), str(body.get("custom_tracking_link") or "")
        elif provider.lower() in PROVIDERS:
            name, url = PROVIDERS[provider.lower()]
            link = url.replace("%1$s", number)
        else:
            return self._error(
                400, "rest_invalid_param", "tracking_provider ou custom_tracking_provider"
            )
        item = {
            "tracking_id": hashlib.md5(f"{number}{len(order['trackings'])}".encode()).hexdigest(),
            "tracking_provider": name,
            "tracking_link": link,
            "tracking_number": number,
            "date_shipped": str(body.get("date_shipped") or ""),
        }
        order["trackings"].append(item)
        return web.json_response(item, status=201)

    # -- server ------------------------------------------------------------------------
