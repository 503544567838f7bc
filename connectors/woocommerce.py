"""WooCommerce: the WooCommerce REST API (``wc/v3``) and the Shipment Tracking extension.

Store URL: the WordPress site root (``https://loja.example/``); paths below are relative
to it, so pretty permalinks must be on (``/wp-json/`` reachable). ``platform_order_id``
must be the numeric order id; any other value is refused before a call (INVALID_EVENT).

Auth: HTTP Basic with the REST API key, the secret holding ``consumer_key:consumer_secret``
(``ck_...:cs_...``). WooCommerce accepts Basic auth over HTTPS only (plain HTTP needs
OAuth 1.0a signing, not implemented), so the store URL must be ``https://``. A secret
without the ``:`` is CREDENTIALS_MISSING, before any call.

Calls per action (``{id}`` = order id):

- INVOICE: ``PUT wp-json/wc/v3/orders/{id}`` ``{meta_data: [{key: nfe_number}, {key:
  nfe_series}, {key: nfe_access_key}, {key: nfe_issued_at}]}``. WooCommerce has no
  invoice object; order meta is updated by key, so a repeat rewrites the same values.
  The status is left alone.
- SHIP_WITH_TRACKING (needs the WooCommerce Shipment Tracking extension): ``GET
  wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings``; a tracking item with
  the same number → ALREADY_DONE (the extension's POST adds a duplicate item on every
  call). Otherwise ``POST`` to the same path ``{tracking_number, date_shipped: YYYY-MM-DD
  (Brasília date)}`` plus ``tracking_provider: "Correios"`` when the carrier is one of the
  extension's predefined providers (its Brazil list has Correios only), else
  ``custom_tracking_provider: <carrier>`` and, when the event has one,
  ``custom_tracking_link: <tracking URL>``. Answers 201. Without the extension the route
  does not exist (404 ``rest_no_route``): ACTION_UNSUPPORTED, not ORDER_NOT_FOUND.
  The order status is not changed (the extension does not either).
- DELIVER: ``PUT wp-json/wc/v3/orders/{id}`` ``{status: "completed"}``. WooCommerce has
  no delivered status; "completed" is its "fulfilled and complete" status.
- CANCEL: ``PUT wp-json/wc/v3/orders/{id}`` ``{status: "cancelled"}``.
- UPDATE_STATUS (and START_HANDLING, mapped to a status by the router): the same PUT with
  ``{status: <mapped status>}``, a ``wc-`` prefix removed (the REST API takes the slug
  without it).
- SHIP (tracking withheld) is not supported: WooCommerce has no shipment without a
  tracking number and no "shipped" status; marking an order "completed" at shipping
  time would be a guess about the store's flow.

The status PUTs are idempotent (the same status again answers 200), so they have no
"already done" answer; repeating one is harmless.

Errors: WordPress answers ``{"code", "message", "data": {"status"}}``. 401
(``woocommerce_rest_authentication_error`` / ``woocommerce_rest_cannot_view``) →
AUTH_REJECTED, 404 ``woocommerce_rest_shop_order_invalid_id`` → ORDER_NOT_FOUND, 400
``rest_invalid_param`` (e.g. a status the store does not have) → HTTP_REJECTED; 429/5xx
and timeouts are retryable (all by the base). No rate limit is documented for wc/v3.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import (
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
from streams.errors import DeliveryError, PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

BRASILIA = timezone(timedelta(hours=-3), "BRT")  # no daylight saving time since 2019
ORDERS = "wp-json/wc/v3/orders"
TRACKINGS = "wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings"
# Shipment Tracking's predefined providers a Brazilian store may name (its "Brazil" group)
PREDEFINED_PROVIDERS = {"correios": "Correios"}


class WooCommerceConnector(Connector):
    platform = "woocommerce"
    actions = frozenset(
        {
            Action.INVOICE,
            Action.SHIP_WITH_TRACKING,
            Action.DELIVER,
            Action.CANCEL,
            Action.UPDATE_STATUS,
        }
    )

    def authenticate(self) -> Auth:
        secret = self.require_credentials().reveal()
        key, sep, consumer_secret = secret.partition(":")
        if not (sep and key and consumer_secret):
            raise PermanentDeliveryError(
                "woocommerce credentials must be 'consumer_key:consumer_secret'",
                reason_code=ReasonCode.CREDENTIALS_MISSING,
            )
        token = base64.b64encode(secret.encode()).decode("ascii")
        return Auth(headers={"Authorization": f"Basic {token}"})

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        order_id = numeric_order_id(event, "woocommerce")
        if action is Action.SHIP_WITH_TRACKING:
            return await self._track(order_id, event)
        body: dict[str, Any]
        if action is Action.INVOICE:
            body = {"meta_data": nfe_meta(require_payload(event.invoice, "invoice"))}
        elif action is Action.DELIVER:
            body = {"status": "completed"}
        elif action is Action.CANCEL:
            body = {"status": "cancelled"}
        else:
            body = {"status": status_slug(platform_status)}
        return delivered(await self.call(PlatformRequest("PUT", f"{ORDERS}/{order_id}", json=body)))

    async def _track(self, order_id: str, event: OrderEvent) -> Performed:
        shipment = require_payload(event.shipment, "shipment")
        number = str(shipment["tracking_code"])
        path = TRACKINGS.format(id=order_id)
        listing = PlatformRequest("GET", path)
        existing = await self._extension_call(listing)
        items = json_body(existing, listing)
        if not isinstance(items, list):
            raise unexpected(listing, existing)
        if any(
            isinstance(item, dict) and same_tracking(str(item.get("tracking_number", "")), number)
            for item in items
        ):
            return already_done(existing)
        created = await self._extension_call(
            PlatformRequest("POST", path, json=tracking_item(shipment))
        )
        return delivered(created)

    async def _extension_call(self, request: PlatformRequest) -> StoreResponse:
        try:
            return await self.call(request)
        except DeliveryError as exc:
            # WordPress answers 404 rest_no_route when no plugin registered the route
            if exc.http_status == 404 and "rest_no_route" in str(exc):
                raise PermanentDeliveryError(
                    "the store has no Shipment Tracking extension "
                    f"({request.method} {request.path} answered 404 rest_no_route)",
                    reason_code=ReasonCode.ACTION_UNSUPPORTED,
                    http_status=404,
                ) from exc
            raise


# -- building blocks (pure) ----------------------------------------------------------------
def status_slug(platform_status: str | None) -> str:
    if not platform_status:
        raise PermanentDeliveryError(
            "woocommerce UPDATE_STATUS needs the mapped platform status",
            reason_code=ReasonCode.STATUS_UNMAPPED,
        )
    return platform_status.removeprefix("wc-")


def nfe_meta(invoice: Mapping[str, Any]) -> list[dict[str, str]]:
    issued = invoice.get("issued_at")
    meta = [
        {"key": "nfe_number", "value": str(invoice["number"])},
        {"key": "nfe_series", "value": str(invoice["series"])},
        {"key": "nfe_access_key", "value": str(invoice["access_key"])},
    ]
    if isinstance(issued, datetime):
        meta.append({"key": "nfe_issued_at", "value": issued.isoformat()})
    return meta


def same_tracking(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()


def tracking_item(shipment: Mapping[str, Any]) -> dict[str, str]:
    item = {"tracking_number": str(shipment["tracking_code"])}
    shipped_at = shipment.get("shipped_at")
    if isinstance(shipped_at, datetime):
        item["date_shipped"] = shipped_at.astimezone(BRASILIA).date().isoformat()
    carrier = str(shipment["carrier"]).strip()
    predefined = PREDEFINED_PROVIDERS.get(carrier.lower())
    if predefined:
        item["tracking_provider"] = predefined
    else:
        item["custom_tracking_provider"] = carrier
        if shipment.get("tracking_url"):
            item["custom_tracking_link"] = str(shipment["tracking_url"])
    return item
