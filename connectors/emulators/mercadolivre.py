"""A Mercado Livre API stand-in for the ME1 shipment-status calls.

Auth is ``Authorization: Bearer <access token>``; anything else is 401 ``{"message":
"invalid access token", "error": "unauthorized", "status": 401, "cause": []}``.

- ``GET /orders/{order_id}/shipments``: the order's shipment (``id``, ``mode``,
  ``status``, ``substatus``, ``tracking_number``, ``site_id``), or 404 ``not_found``.
- ``POST /shipments/{shipment_id}/seller_notifications``: ``status`` is required and must
  be ``shipped``, ``delivered`` or ``not_delivered``; ``shipped`` needs the
  ``tracking_number`` (the notice exists to give the buyer the tracking). Answers
  ``{"status": "OK"}`` and moves the shipment. Mercado Livre does not document its
  answer to a notice on a shipment that is not ME1, or one after ``delivered`` /
  ``not_delivered`` (final); the emulator answers those 400 ``bad_request`` — the
  connector never depends on that text, it reads the shipment first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

STATUSES = ("shipped", "delivered", "not_delivered")
FINAL = ("delivered", "not_delivered")


class MercadoLivreEmulator(PlatformEmulator):
    platform = "mercadolivre"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("GET", "/orders/{order_id}/shipments", "shipment", handler="_shipment"),
        Route(
            "POST",
            "/shipments/{shipment_id}/seller_notifications",
            "notify",
            required=("status",),
            # "status shipped, substatus null": the documented way to say dispatched
            nullable=("substatus",),
            handler="_notify",
        ),
    )

    def __init__(self, token: str = "test-secret-value") -> None:
        super().__init__()
        self.token = token
        self.shipments: dict[str, dict[str, Any]] = {}  # by order id

    # -- state -------------------------------------------------------------------------
    def add_order(
        self,
        order_id: str,
        *,
        shipment_id: int = 28264263908,
        mode: str = "me1",
        status: str = "ready_to_ship",
        tracking_number: str | None = None,
    ) -> dict[str, Any]:
        shipment = {
            "id": shipment_id,
            "mode": mode,
            "created_by": "receiver",
            "order_id": int(order_id),
            "site_id": "MLB",
            "status": status,
            "substatus": None,
            "tracking_number": tracking_number,
            "notifications": [],
        }
        self.shipments[order_id] = shipment
        return shipment

    # -- auth --------------------------------------------------------------------------
    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, "invalid access token"
        return None

    # -- handlers ----------------------------------------------------------------------
    def _error(self, status: int, error: str, message: str) -> web.Response:
        self.calls[-1].refused = f"{error}: {message}"
        return web.json_response(
            {"message": message, "error": error, "status": status, "cause": []}, status=status
        )

    async def _shipment(self, request: web.Request, body: Any) -> web.StreamResponse:
        shipment = self.shipments.get(request.match_info["order_id"])
        if shipment is None:
            return self._error(404, "not_found", "Order not found")
        return web.json_response({k: v for k, v in shipment.items() if k != "notifications"})

    async def _notify(self, request: web.Request, body: Any) -> web.StreamResponse:
        shipment_id = request.match_info["shipment_id"]
        shipment = next((s for s in self.shipments.values() if str(s["id"]) == shipment_id), None)
        if shipment is None:
            return self._error(404, "not_found", f"Shipment {shipment_id} not found")
        status = body["status"]
        if status not in STATUSES:
            return self._error(400, "bad_request", f"invalid status {status!r}")
        if status == "shipped" and not body.get("tracking_number"):
            return self._error(400, "bad_request", "tracking_number is required")
        if shipment["mode"] != "me1":
            return self._error(400, "bad_request", f"shipment mode {shipment['mode']} is not me1")
        if shipment["status"] in FINAL:
            return self._error(
                400, "bad_request", f"invalid transition {shipment['status']} -> {status}"
            )
        shipment["status"] = status
        shipment["substatus"] = body.get("substatus")
        if body.get("tracking_number"):
            shipment["tracking_number"] = body["tracking_number"]
        shipment["notifications"].append(body)
        return web.json_response({"status": "OK"})

    # -- server ------------------------------------------------------------------------
