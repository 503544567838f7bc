"""Mercado Livre (MLB): the shipment-status notifications of Mercado Envios 1 (ME1).

Store URL: ``https://api.mercadolibre.com/``. ``platform_order_id`` is the Mercado Livre
order id (numeric; anything else is INVALID_EVENT before a call). Auth: ``Authorization:
Bearer <access token>``. Mercado Livre access tokens are short-lived and renewed with the
refresh token ("Obtenção do Access Token") every 6 hours; the secret must hold a current
token (renewal is the credentials store's job). An expired one is 401: TOKEN_EXPIRED,
retryable, and the retry reads the secret again.

Mercado Livre's calls act on the shipment, so every action first reads the order's
shipment, as the ME1 guide does: ``GET orders/{order_id}/shipments`` → ``id``, ``mode``
(``me1``/``me2``/``custom``), ``status``, ``tracking_number``. Only an ME1 shipment takes
seller notifications: in ME2 and Full, Mercado Livre owns the label and the tracking, so
any other mode is ACTION_UNSUPPORTED (a permanent error saying so, never a guessed call).

- SHIP_WITH_TRACKING: ``POST shipments/{shipment_id}/seller_notifications`` ``{status:
  "shipped", substatus: null, tracking_number, tracking_url (when known), payload:
  {comment, date: <shipped_at>}}``, answered ``{"status": "OK"}``. The shipment already
  ``shipped``/``delivered`` with the same tracking number → ALREADY_DONE, nothing sent.
- DELIVER: the same call with ``{status: "delivered", substatus: null, payload: {comment,
  date: <delivered_at>}}``; a shipment already ``delivered`` → ALREADY_DONE.

Not supported (left out of ``actions``; the router records ACTION_UNSUPPORTED):

- INVOICE: the NF-e goes to ``POST shipments/{id}/invoice_data?siteId=MLB`` with the
  authorized NF-e XML as the body (``Content-Type: application/xml``). The event only
  carries ``xml_url``; fetching an ERP-supplied URL from the worker would let any event
  make the worker request an arbitrary address (SSRF) with nothing to vouch for what comes
  back, so the connector does not. Supporting it needs the XML in the event, or a fetch
  from a fixed, trusted ERP host.
- SHIP (tracking withheld): an ME1 "shipped" notice is the tracking notice; with the
  delivery-information automation off, or in Fulfillment (Full, where Mercado Livre ships),
  nothing should be told to the buyer.
- CANCEL: Mercado Livre documents no seller call that cancels an order.
- UPDATE_STATUS / START_HANDLING: orders have no seller-settable status.

Errors: Mercado Livre answers ``{"message", "error", "status", "cause"}``: 401 (invalid or
expired token) → TOKEN_EXPIRED (a revoked grant ends dead-lettered after the last
attempt), 403 (the order belongs to another seller) → AUTH_REJECTED, 404 →
ORDER_NOT_FOUND, other 4xx (e.g. a transition the shipment does not allow) →
HTTP_REJECTED, 429/5xx/timeouts retryable — all by the base. No per-seller rate limit is
published; 429 with ``Retry-After`` is honoured by the base.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import (
    NUMERIC_ID,
    Auth,
    Connector,
    Performed,
    PlatformRequest,
    already_done,
    delivered,
    json_body,
    numeric_order_id,
    require_payload,
    unexpected,
)
from connectors.http import StoreResponse
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent


class MercadoLivreConnector(Connector):
    platform = "mercadolivre"
    actions = frozenset({Action.SHIP_WITH_TRACKING, Action.DELIVER})

    def authenticate(self) -> Auth:
        return Auth(headers={"Authorization": f"Bearer {self.require_credentials().reveal()}"})

    def classify(self, response: StoreResponse) -> tuple[bool, ReasonCode]:
        if response.status_code == 401:
            return True, ReasonCode.TOKEN_EXPIRED
        return super().classify(response)

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        order_id = numeric_order_id(event, "mercadolivre")
        lookup = PlatformRequest("GET", f"orders/{order_id}/shipments")
        found = await self.call(lookup)
        shipment = json_body(found, lookup)
        if not isinstance(shipment, dict) or shipment.get("id") is None:
            raise unexpected(lookup, found)
        shipment_id = str(shipment["id"])
        if not NUMERIC_ID.fullmatch(shipment_id):
            raise unexpected(lookup, found)
        mode = shipment.get("mode") or (shipment.get("logistic") or {}).get("mode")
        if mode != "me1":
            raise PermanentDeliveryError(
                f"order {order_id} ships by Mercado Envios mode {mode!r}: only ME1 shipments "
                "take seller notifications (Mercado Livre handles the others)",
                reason_code=ReasonCode.ACTION_UNSUPPORTED,
                http_status=found.status_code,
            )
        if action is Action.SHIP_WITH_TRACKING:
            body = shipped_notice(require_payload(event.shipment, "shipment"))
            done = shipment.get("status") in ("shipped", "delivered") and same_tracking(
                str(shipment.get("tracking_number") or ""), body["tracking_number"]
            )
        else:
            body = delivered_notice(require_payload(event.delivery, "delivery"))
            done = shipment.get("status") == "delivered"
        if done:
            return already_done(found)
        notified = await self.call(
            PlatformRequest("POST", f"shipments/{shipment_id}/seller_notifications", json=body)
        )
        return delivered(notified)


# -- building blocks (pure) ----------------------------------------------------------------
def ml_date(value: Any) -> str:
    # Mercado Livre's format: 2023-01-16T13:03:51.175-04:00
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return str(value)


def shipped_notice(shipment: Mapping[str, Any]) -> dict[str, Any]:
    carrier = str(shipment["carrier"])
    service = shipment.get("service")
    body: dict[str, Any] = {
        "status": "shipped",
        "substatus": None,
        "tracking_number": str(shipment["tracking_code"]),
        "payload": {
            "comment": f"Enviado por {carrier}" + (f" ({service})" if service else ""),
            "date": ml_date(shipment["shipped_at"]),
        },
    }
    if shipment.get("tracking_url"):
        body["tracking_url"] = str(shipment["tracking_url"])
    return body


def delivered_notice(delivery: Mapping[str, Any]) -> dict[str, Any]:
    receiver = delivery.get("receiver")
    return {
        "status": "delivered",
        "substatus": None,
        "payload": {
            "comment": f"Entregue a {receiver}" if receiver else "Entregue",
            "date": ml_date(delivery["delivered_at"]),
        },
    }


def same_tracking(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()
