"""Magento 2 / Adobe Commerce: the REST Web API (2.x only; 1.x stores are never sent to).

Store URL: the REST base of the store view, e.g. ``https://shop.example/rest/default/``;
every path below is relative to it. ``platform_order_id`` must be the order's
``entity_id`` (the id the REST API uses), not the increment id shown to customers; any
other value is refused before a call (INVALID_EVENT), so an id can never rewrite the path.

Auth: ``Authorization: Bearer <token>``. An admin token expires after 4 hours, so the
secret is normally an integration's access token. From 2.4.4 on (the version named in the
project notes; Adobe's token guide only says "previous versions") an integration token is
refused as a standalone bearer token (401) unless the store sets Stores > Configuration >
Services > OAuth > Consumer Settings > "Allow OAuth Access Tokens to be used as standalone
Bearer tokens" (``oauth/consumer/enable_integration_as_bearer``) to Yes; the alternative,
OAuth 1.0a request signing, is not implemented.

Calls per action (``{id}`` = entity_id):

- INVOICE: ``POST V1/order/{id}/invoice`` ``{capture: true, notify: true, appendComment:
  true, comment: {comment: "NF-e <number> série <series> ... Chave de acesso: <key>",
  is_visible_on_front: 1}}``. ``capture`` captures an authorized online payment, as
  invoicing in the Admin does; the NF-e goes into the invoice's comment and its e-mail.
  When Magento refuses (400), ``GET V1/invoices?searchCriteria[...order_id eq {id}]``
  tells whether the order is already invoiced (e.g. by the payment module): no invoice →
  the refusal stands (HTTP_REJECTED). Invoiced and the access key already in an invoice
  comment or in the order history → ALREADY_DONE. Invoiced by someone else → ``GET
  V1/orders/{id}`` (current status; a held/in-review/cancelled order is refused) and
  ``POST V1/orders/{id}/comments`` with the NF-e, so the key still reaches the store.
- SHIP_WITH_TRACKING: ``POST V1/order/{id}/ship`` ``{notify: true, tracks: [{track_number,
  title: "<carrier> - <service>", carrier_code: "custom"}], appendComment/comment with the
  public tracking URL when there is one}``. ``custom`` is Magento's carrier code for a
  carrier without an online integration (Correios, Jadlog...). When Magento refuses
  (400), ``GET V1/shipments?searchCriteria[...order_id eq {id}]``: no shipment → the
  refusal stands; a shipment with the same track number → ALREADY_DONE; otherwise the
  tracking is added to the latest shipment with ``POST V1/shipment/track`` ``{entity:
  {order_id, parent_id, track_number, title, carrier_code}}``.
- SHIP: the same ``POST V1/order/{id}/ship`` without ``tracks``; refused while the order
  already has a shipment → ALREADY_DONE.
- DELIVER: Magento has no delivered state (an invoiced and shipped order is already
  "complete"), so delivery is an order-history comment: ``GET V1/orders/{id}``, then
  ``POST V1/orders/{id}/comments`` ``{statusHistory: {comment: "Pedido entregue em
  <dd/mm/yyyy HH:MM> (recebido por ...)", status: <current status>, is_customer_notified:
  0, is_visible_on_front: 1, parent_id}}``. The same comment already in the history →
  ALREADY_DONE. A store that wants a "delivered" status maps an ERP status to it
  (STATUS_CHANGED → UPDATE_STATUS).
- UPDATE_STATUS (and START_HANDLING, which Magento has no call for, so the router maps it
  to a status): ``GET V1/orders/{id}`` (already in that status → ALREADY_DONE), ``POST
  V1/orders/{id}/comments`` ``{statusHistory: {status: <mapped status>, comment:
  "Situação atualizada pelo ERP: <ERP status name>", is_customer_notified: 0,
  is_visible_on_front: 0, parent_id}}``, then ``GET V1/orders/{id}`` again: Magento
  answers ``true`` even when it keeps the old status (since 2.4.7 a status is only changed
  to one assigned to the order's state — magento/magento2 issues 38659, 38723), so a kept
  status is HTTP_REJECTED rather than a false "sent".
- CANCEL: ``POST V1/orders/{id}/cancel``. Magento answers 200 ``true``, or 200 ``false``
  when ``canCancel()`` is false; then ``GET V1/orders/{id}``: state ``canceled`` →
  ALREADY_DONE, any other state (invoiced orders need a credit memo) → HTTP_REJECTED.

Every comment carries the order's current ``status``: a comment without one sets the
order status to NULL on 2.3.x-2.4.6 (magento/magento2 issue 34180), hiding the order
from the Admin grid.

Errors: Magento answers ``{"message", "parameters"}``; 401 (bad or non-bearer token) and
404 ("The entity that was requested doesn't exist") are classified by the base
(AUTH_REJECTED, ORDER_NOT_FOUND), as are 429/5xx/timeouts (retryable). The invoice and ship
refusals are 400 with a localized message ("Invoice Document Validation Error(s): The
order does not allow an invoice to be created.", "... a shipment ..."); the message is
translated to the store's locale, so "already done" is decided from the invoices and
shipments the order has, never from the text. A 2xx answer that is not the JSON expected
(a maintenance page) is retryable HTTP_SERVER_ERROR.
"""

from __future__ import annotations

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
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

# Brazil has had no daylight saving time since 2019: Brasília time is UTC-3 all year.
BRASILIA = timezone(timedelta(hours=-3), "BRT")
CUSTOM_CARRIER = "custom"
# states in which Magento refuses an invoice for a reason other than "already invoiced"
NOT_INVOICEABLE = frozenset({"holded", "payment_review", "canceled"})


class Magento2Connector(Connector):
    platform = "magento2"
    actions = frozenset(
        {
            Action.INVOICE,
            Action.SHIP,
            Action.SHIP_WITH_TRACKING,
            Action.DELIVER,
            Action.CANCEL,
            Action.UPDATE_STATUS,
        }
    )

    def authenticate(self) -> Auth:
        return Auth(headers={"Authorization": f"Bearer {self.require_credentials().reveal()}"})

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        order_id = numeric_order_id(event, "magento2", "the order's numeric entity_id")
        if action is Action.INVOICE:
            return await self._invoice(order_id, event)
        if action in (Action.SHIP, Action.SHIP_WITH_TRACKING):
            return await self._ship(action, order_id, event)
        if action is Action.DELIVER:
            return await self._deliver(order_id, event)
        if action is Action.CANCEL:
            return await self._cancel(order_id)
        return await self._update_status(order_id, event, platform_status)

    # -- actions -----------------------------------------------------------------------
    async def _invoice(self, order_id: str, event: OrderEvent) -> Performed:
        invoice = require_payload(event.invoice, "invoice")
        text = nfe_comment(invoice)
        key = str(invoice["access_key"])
        request = PlatformRequest(
            "POST",
            f"V1/order/{order_id}/invoice",
            json={
                "capture": True,
                "notify": True,
                "appendComment": True,
                "comment": {"comment": text, "is_visible_on_front": 1},
            },
        )
        # a 400 may mean "already invoiced"; its message is localized, so the order's
        # invoices decide
        response = await self.call(request, inspect=(400,))
        if response.is_success:
            return delivered(response)
        invoices = await self._documents("V1/invoices", order_id)
        if not invoices:
            raise self.refused(request, response)
        if any(key in comment_text(c) for i in invoices for c in i.get("comments") or []):
            return already_done(response)
        order = await self._order(order_id)
        if order.get("state") in NOT_INVOICEABLE:
            raise self.refused(request, response)
        if history_has(order, key):
            return already_done(response)
        # invoiced by someone else (a payment module, the Admin): the NF-e still goes in
        return delivered(await self._comment(order_id, order, text, visible=True))

    async def _ship(self, action: Action, order_id: str, event: OrderEvent) -> Performed:
        body: dict[str, Any] = {"notify": True}
        track: dict[str, Any] | None = None
        if action is Action.SHIP_WITH_TRACKING:
            shipment = require_payload(event.shipment, "shipment")
            track = {
                "track_number": str(shipment["tracking_code"]),
                "title": carrier_title(shipment),
                "carrier_code": CUSTOM_CARRIER,
            }
            body["tracks"] = [track]
            if shipment.get("tracking_url"):
                body["appendComment"] = True
                body["comment"] = {
                    "comment": f"Rastreamento: {shipment['tracking_url']}",
                    "is_visible_on_front": 1,
                }
        request = PlatformRequest("POST", f"V1/order/{order_id}/ship", json=body)
        response = await self.call(request, inspect=(400,))  # "already shipped"? as above
        if response.is_success:
            return delivered(response)
        shipments = await self._documents("V1/shipments", order_id)
        if not shipments:
            raise self.refused(request, response)
        if track is None:
            return already_done(response)
        number = normalized(track["track_number"])
        if any(
            normalized(str(t.get("track_number", ""))) == number
            for s in shipments
            for t in s.get("tracks") or []
        ):
            return already_done(response)
        latest = max(shipments, key=lambda s: int(s.get("entity_id") or 0))
        added = await self.call(
            PlatformRequest(
                "POST",
                "V1/shipment/track",
                json={
                    "entity": {
                        "order_id": int(order_id),
                        "parent_id": latest.get("entity_id"),
                        **track,
                    }
                },
            ),
        )
        return delivered(added)

    async def _deliver(self, order_id: str, event: OrderEvent) -> Performed:
        text = delivery_comment(require_payload(event.delivery, "delivery"))
        order = await self._order(order_id)
        if history_has(order, text):
            return already_done(order.response)
        return delivered(await self._comment(order_id, order, text, visible=True))

    async def _cancel(self, order_id: str) -> Performed:
        request = PlatformRequest("POST", f"V1/orders/{order_id}/cancel")
        response = await self.call(request)
        if json_body(response, request) is True:
            return delivered(response)
        # false: canCancel() refused. Already cancelled, or not cancellable (invoiced...)
        order = await self._order(order_id)
        if order.get("state") == "canceled":
            return already_done(response)
        raise PermanentDeliveryError(
            f"{request.method} {request.path} answered false: Magento cannot cancel the order "
            f"in state {order.get('state')!r} (status {order.get('status')!r}); an invoiced "
            "order needs a credit memo",
            reason_code=ReasonCode.HTTP_REJECTED,
            http_status=response.status_code,
        )

    async def _update_status(
        self, order_id: str, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        if not platform_status:
            raise PermanentDeliveryError(
                "magento2 UPDATE_STATUS needs the mapped platform status",
                reason_code=ReasonCode.STATUS_UNMAPPED,
            )
        order = await self._order(order_id)
        if order.get("status") == platform_status:
            return already_done(order.response)
        name = (event.status or {}).get("name") or platform_status
        response = await self._comment(
            order_id,
            order,
            f"Situação atualizada pelo ERP: {name}",
            visible=False,
            status=platform_status,
        )
        after = await self._order(order_id)
        if after.get("status") != platform_status:
            raise PermanentDeliveryError(
                f"POST V1/orders/{order_id}/comments was accepted but Magento kept status "
                f"{after.get('status')!r} (state {after.get('state')!r}); status "
                f"{platform_status!r} must be assigned to that state in Stores > Order Status",
                reason_code=ReasonCode.HTTP_REJECTED,
                http_status=response.status_code,
            )
        return delivered(response)

    # -- calls -------------------------------------------------------------------------
    async def _order(self, order_id: str) -> Order:
        request = PlatformRequest("GET", f"V1/orders/{order_id}")
        response = await self.call(request)
        body = json_body(response, request)
        if not isinstance(body, dict):
            raise unexpected(request, response)
        return Order(body, response)

    async def _documents(self, path: str, order_id: str) -> list[dict[str, Any]]:
        """The order's invoices or shipments (``GET V1/invoices`` / ``V1/shipments``)."""
        request = PlatformRequest("GET", path, params=order_filter(order_id))
        response = await self.call(request)
        body = json_body(response, request)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise unexpected(request, response)
        # the filter is ours; a store that ignored it must not make another order's
        # documents count for this one
        return [i for i in items if isinstance(i, dict) and str(i.get("order_id")) == order_id]

    async def _comment(
        self,
        order_id: str,
        order: Order,
        text: str,
        *,
        visible: bool,
        status: str | None = None,
    ) -> StoreResponse:
        history: dict[str, Any] = {
            "comment": text,
            "is_customer_notified": 0,
            "is_visible_on_front": 1 if visible else 0,
            "parent_id": int(order_id),
        }
        keep = status or order.get("status")
        if keep:
            history["status"] = keep
        return await self.call(
            PlatformRequest(
                "POST", f"V1/orders/{order_id}/comments", json={"statusHistory": history}
            ),
        )


class Order(dict[str, Any]):
    """A ``GET V1/orders/{id}`` answer, with the response it came from."""

    def __init__(self, body: Mapping[str, Any], response: StoreResponse) -> None:
        super().__init__(body)
        self.response = response


# -- building blocks (pure) ----------------------------------------------------------------
def order_filter(order_id: str) -> dict[str, str]:
    prefix = "searchCriteria[filter_groups][0][filters][0]"
    return {
        f"{prefix}[field]": "order_id",
        f"{prefix}[value]": order_id,
        f"{prefix}[condition_type]": "eq",
    }


def local_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(BRASILIA).strftime("%d/%m/%Y %H:%M")
    return str(value)


def nfe_comment(invoice: Mapping[str, Any]) -> str:
    issued = invoice.get("issued_at")
    when = f" emitida em {local_time(issued)}" if issued else ""
    return (
        f"NF-e {invoice['number']} série {invoice['series']}{when}. "
        f"Chave de acesso: {invoice['access_key']}"
    )


def delivery_comment(delivery: Mapping[str, Any]) -> str:
    text = f"Pedido entregue em {local_time(delivery['delivered_at'])}"
    if delivery.get("receiver"):
        text += f" (recebido por {delivery['receiver']})"
    return text + "."


def carrier_title(shipment: Mapping[str, Any]) -> str:
    carrier = str(shipment["carrier"])
    service = shipment.get("service")
    return f"{carrier} - {service}" if service else carrier


def normalized(tracking: str) -> str:
    return tracking.strip().upper()


def comment_text(comment: Any) -> str:
    return str(comment.get("comment") or "") if isinstance(comment, dict) else ""


def history_has(order: Mapping[str, Any], text: str) -> bool:
    return any(text in comment_text(h) for h in order.get("status_histories") or [])
