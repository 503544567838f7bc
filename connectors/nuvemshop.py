"""Nuvemshop / Tiendanube: the REST API v1 of one store.

Store URL: ``https://api.nuvemshop.com.br/v1/{store_id}/`` (the store id is the ``user_id``
given with the access token). Every call sends ``Authentication: bearer <token>`` (the
header the API reference documents; note: not ``Authorization``) and
``User-Agent: ordersync (suporte@ordersync.example)`` — the API answers 400 to a request
without an app name and contact. JSON bodies go with ``Content-Type: application/json``.

Calls, per action:

- SHIP_WITH_TRACKING: ``POST orders/{id}/fulfill`` with ``shipping_tracking_number``,
  ``shipping_tracking_url`` (when the ERP has one) and ``notify_customer: true``.
- SHIP: ``POST orders/{id}/fulfill`` with ``notify_customer: true`` only.
- CANCEL: ``POST orders/{id}/cancel`` with ``reason: "other"`` (the API takes customer,
  inventory, fraud or other; the ERP's reason is free text), ``email: true`` (tell the
  buyer) and ``restock: true`` — the API's own defaults, sent explicitly.
- INVOICE (NF-e): the documented way is an order metafield ``namespace: "nfe"``,
  ``key: "list"`` whose value is a JSON list ``[{"key": <44-digit access key>,
  "link": <XML/DANFE URL>}]`` — Nuvemshop has no invoice API, other apps (shipping
  carriers) read this metafield. ``GET metafields/orders?owner_id={id}&namespace=nfe
  &key=list`` first; then ``POST metafields`` (``namespace, key, value, description,
  owner_resource: "Order", owner_id``) when the order has none, or ``PUT metafields/{mid}``
  with the access key appended when it lists other NF-es.

Not supported (left out of ``actions``): DELIVER — API v1 has no delivered state for an
order (fulfillment orders with a DELIVERED status exist only in the versioned 2025-03 API,
which this connector does not target); UPDATE_STATUS and START_HANDLING — orders only
have open / closed / cancelled and the pack / fulfill transitions, no generic status.

"Already done" (sent, ALREADY_DONE): the INVOICE when the ``nfe``/``list`` metafield already
lists this access key (nothing is written). For fulfill and cancel the API documents no
specific answer, so a 422 is checked against the order itself (``GET orders/{id}``): an
order already ``cancelled`` (CANCEL), already shipped (``shipping_status`` shipped or
fulfilled; SHIP), or already shipped with this tracking number (SHIP_WITH_TRACKING) is
already done; any other 422 is PermanentDeliveryError HTTP_REJECTED. Everything else is
classified by the base (401/403 AUTH_REJECTED, 404 ORDER_NOT_FOUND, 402 payment required
and 415 HTTP_REJECTED, 429 / 5xx retryable).

Rate: leaky bucket of 40 requests draining 2 per second per store and app (×10 on the
Next / Evolution plans), hence ``default_rate_per_s = 2.0``. Every answer carries
``x-rate-limit-limit``, ``x-rate-limit-remaining`` and ``x-rate-limit-reset`` (ms until
the bucket is empty), which the base reads: the store's calls follow the bucket the
platform describes — its size, what is left, and the drain rate the reset implies (20/s on
a plan that drains ten times faster) — so a 429 is the exception, not the signal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.base import (
    Auth,
    Connector,
    Performed,
    PlatformRequest,
    already_done,
    delivered,
    parsed,
)
from connectors.http import StoreResponse
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

USER_AGENT = "ordersync (suporte@ordersync.example)"
NFE_NAMESPACE = "nfe"
NFE_KEY = "list"
NFE_DESCRIPTION = "Lista de NFes"
CANCEL_REASON = "other"
CANCEL_NOTIFY = True
CANCEL_RESTOCK = True
NOTIFY_CUSTOMER = True
SHIPPED = frozenset({"shipped", "fulfilled"})


class NuvemshopConnector(Connector):
    platform = "nuvemshop"
    actions = frozenset({Action.INVOICE, Action.SHIP, Action.SHIP_WITH_TRACKING, Action.CANCEL})
    default_rate_per_s = 2.0

    def authenticate(self) -> Auth:
        return Auth(
            headers={
                "Authentication": f"bearer {self.require_credentials().reveal()}",
                "User-Agent": USER_AGENT,
            }
        )

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        if action is Action.INVOICE:
            return await self._invoice(event)
        request = update_request(action, event)
        response = await self.call(request, inspect=(422,))
        if response.is_success:
            return delivered(response)
        # a 422 may mean the order already shows it: the order decides
        if order_shows(action, event, await self._read_order(event)):
            return already_done(response)
        raise self.refused(request, response)

    async def _invoice(self, event: OrderEvent) -> Performed:
        access_key = str((event.invoice or {}).get("access_key") or "")
        entry: dict[str, str] = {"key": access_key}
        if (event.invoice or {}).get("xml_url"):
            entry["link"] = str((event.invoice or {})["xml_url"])
        response, metafield, listed = await self._nfe_list(event)
        if any(item.get("key") == access_key for item in listed):
            return already_done(response)
        if metafield is not None and metafield.get("_unreadable"):
            raise PermanentDeliveryError(
                f"order {order_id(event)} has an nfe/list metafield that is not a JSON list; "
                "it is left as it is",
                reason_code=ReasonCode.HTTP_REJECTED,
                http_status=response.status_code,
            )
        if metafield is not None:
            request = PlatformRequest(
                "PUT",
                f"metafields/{metafield['id']}",
                json={"value": json.dumps([*listed, entry], ensure_ascii=False)},
            )
        else:
            request = PlatformRequest(
                "POST",
                "metafields",
                json={
                    "namespace": NFE_NAMESPACE,
                    "key": NFE_KEY,
                    "value": json.dumps([entry], ensure_ascii=False),
                    "description": NFE_DESCRIPTION,
                    "owner_resource": "Order",
                    "owner_id": int(order_id(event)),
                },
            )
        written = await self.call(request, inspect=(422,))
        if written.is_success:
            return delivered(written)
        _, _, again = await self._nfe_list(event)  # refused: written meanwhile?
        if any(item.get("key") == access_key for item in again):
            return already_done(written)
        raise self.refused(request, written)

    async def _nfe_list(
        self, event: OrderEvent
    ) -> tuple[StoreResponse, Mapping[str, Any] | None, list[Mapping[str, Any]]]:
        """The order's ``nfe``/``list`` metafield, if any, and the NF-es it lists."""
        response = await self.call(
            PlatformRequest(
                "GET",
                "metafields/orders",
                params={"owner_id": order_id(event), "namespace": NFE_NAMESPACE, "key": NFE_KEY},
            ),
        )
        found = parsed(response)
        candidates = found if isinstance(found, list) else [found]
        for metafield in candidates:
            if (
                isinstance(metafield, Mapping)
                and metafield.get("namespace", NFE_NAMESPACE) == NFE_NAMESPACE
                and metafield.get("key") == NFE_KEY
                and metafield.get("id") is not None
            ):
                listed = _listed(metafield.get("value"))
                if listed is None:
                    return response, {**metafield, "_unreadable": True}, []
                return response, metafield, listed
        return response, None, []

    async def _read_order(self, event: OrderEvent) -> Mapping[str, Any]:
        order = parsed(await self.call(PlatformRequest("GET", f"orders/{order_id(event)}")))
        return order if isinstance(order, Mapping) else {}


def update_request(action: Action, event: OrderEvent) -> PlatformRequest:
    """The one call that fulfils or cancels the order."""
    order = order_id(event)
    if action is Action.CANCEL:
        return PlatformRequest(
            "POST",
            f"orders/{order}/cancel",
            json={"reason": CANCEL_REASON, "email": CANCEL_NOTIFY, "restock": CANCEL_RESTOCK},
        )
    body: dict[str, Any] = {"notify_customer": NOTIFY_CUSTOMER}
    if action is Action.SHIP_WITH_TRACKING:
        shipment = event.shipment or {}
        body["shipping_tracking_number"] = tracking_number(event)
        if shipment.get("tracking_url"):
            body["shipping_tracking_url"] = str(shipment["tracking_url"])
    return PlatformRequest("POST", f"orders/{order}/fulfill", json=body)


def order_id(event: OrderEvent) -> str:
    value = event.platform_order_id.strip()
    if not value.isdigit():
        raise PermanentDeliveryError(
            f"{event.platform_order_id!r} is not a Nuvemshop order id",
            reason_code=ReasonCode.ORDER_NOT_FOUND,
        )
    return value


def tracking_number(event: OrderEvent) -> str:
    return str((event.shipment or {}).get("tracking_code") or "")


def order_shows(action: Action, event: OrderEvent, order: Mapping[str, Any]) -> bool:
    """Whether the order already is what ``action`` asked for."""
    if action is Action.CANCEL:
        return order.get("status") == "cancelled"
    shipped = order.get("shipping_status") in SHIPPED
    if action is Action.SHIP:
        return shipped
    if action is Action.SHIP_WITH_TRACKING:
        return shipped and order.get("shipping_tracking_number") == tracking_number(event)
    return False


def _listed(value: Any) -> list[Mapping[str, Any]] | None:
    """The NF-es a metafield value lists; None when it is not a JSON list."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            return None
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, Mapping)]
