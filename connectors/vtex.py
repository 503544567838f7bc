"""VTEX (Orders/OMS API): NF-e, start of handling, tracking, delivery and cancellation.

Store URL: the account's API base, ``https://{account}.vtexcommercestable.com.br/``.
Auth: headers ``X-VTEX-API-AppKey`` / ``X-VTEX-API-AppToken``. The integration's one
secret holds both as ``appKey:appToken`` (split on the first colon); a secret without a
colon, or with an empty half, is ``CREDENTIALS_MISSING`` and nothing is sent. Every call
also sends ``Accept`` / ``Content-Type: application/json`` (required by the reference).

Calls, per action (``{orderId}`` is the event's ``platform_order_id``, path-escaped):

- INVOICE: ``POST api/oms/pvt/orders/{orderId}/invoice`` with ``type: "Output"``,
  ``invoiceNumber`` (NF-e number), ``invoiceValue`` (total in cents, as the digit string
  the reference specifies), ``issuanceDate`` (ISO 8601 with offset), ``invoiceKey``
  (44-digit access key), ``invoiceUrl`` (the XML/DANFE URL, left out when there is none),
  ``embeddedInvoice`` (the NF-e XML itself, when the event carries it in ``invoice.xml``;
  checked first as ``connectors/nfe.py`` says, a wrong document is INVALID and nothing is
  sent) and ``items[]``
  (``id`` = SKU, ``quantity``, ``price`` = unit price in cents). VTEX has no series field.
- START_HANDLING: ``POST api/oms/pvt/orders/{orderId}/start-handling`` (no body; 204).
- SHIP_WITH_TRACKING: the tracking goes on the invoice, and the event carries no invoice
  number, so two calls: ``GET api/oms/pvt/orders/{orderId}``, take the newest
  ``packageAttachment.packages[]`` entry with ``type == "Output"``, then
  ``PATCH api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}`` with ``trackingNumber``,
  ``trackingUrl`` (``""`` when the event has none: the field is required), ``courier`` and
  ``dispatchedDate``.
- DELIVER: ``GET`` the order as above (preferring the newest output invoice that already
  has a tracking number, since VTEX only takes tracking events on such an invoice), then
  ``PUT api/oms/pvt/orders/{orderId}/invoice/{invoiceNumber}/tracking`` with
  ``isDelivered: true``, ``deliveredDate`` (``yyyy-mm-dd hh:mm``, UTC) and ``events[]``
  (``city``, ``state``, ``description``, ``date`` = ``yyyy-mm-dd``) from the carrier history;
  a city or state the carrier did not give is ``""`` (the reference requires the strings).
- CANCEL: ``POST api/oms/pvt/orders/{orderId}/cancel`` with ``reason``.

No UPDATE_STATUS (the OMS has no "set this status" call: the status follows the workflow
calls above) and no SHIP without tracking (shipping information lives on the invoice's
tracking fields): both stay out of ``actions`` and are recorded as ACTION_UNSUPPORTED.

Errors: the base's table (429/5xx/timeouts retryable, 401/403 AUTH_REJECTED, 404
ORDER_NOT_FOUND, other 4xx HTTP_REJECTED). Already done:

- START_HANDLING answered 409 ``OMS003`` ("Order status should be ready-for-handling")
  is already done only when a ``GET`` of the order shows it at or past handling
  (``start-handling``, ``handling``, ``invoice``, ``invoiced``); on any other status
  (e.g. canceled) the 409 stays HTTP_REJECTED.
- CANCEL answered 400 or 409 is already done only when a ``GET`` of the order shows it
  ``canceled`` (or ``cancel``, being canceled); VTEX does not document its answer for a
  repeated cancel, so the order's state decides. An invoiced order's 400 stays rejected.
- A repeated INVOICE number is not an error at VTEX: the reference says the same
  ``invoiceNumber`` only generates a new ``receipt`` (200) and changes nothing else, so a
  resend is harmless and is recorded as DELIVERED (its 2xx does not say whether anything
  changed).
- SHIP_WITH_TRACKING / DELIVER are PATCH/PUT of the same values: repeating them is a 200.
- No output invoice on the order yet for SHIP_WITH_TRACKING / DELIVER: HTTP_REJECTED
  without calling the PATCH/PUT (send the NF-e first; nothing would change on a retry).

Error messages never carry the app key or token (they are masked if VTEX echoes them).
No rate figure is published for these OMS calls (Get order: 6000/min per account), so
no default rate; 429 with ``Retry-After`` pauses the store (base).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connectors.base import (
    Auth,
    Connector,
    Performed,
    PlatformRequest,
    already_done,
    delivered,
    excerpt,
    parsed,
    rejected,
    require_payload,
)
from connectors.http import StoreResponse
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
OMS = "api/oms/pvt/orders"
# statuses at which an order has already been taken into handling
HANDLING_OR_LATER = frozenset({"start-handling", "handling", "invoice", "invoiced"})
CANCELED = frozenset({"cancel", "canceled"})


class VtexConnector(Connector):
    platform = "vtex"
    actions = frozenset(
        {
            Action.INVOICE,
            Action.START_HANDLING,
            Action.SHIP_WITH_TRACKING,
            Action.DELIVER,
            Action.CANCEL,
        }
    )

    def authenticate(self) -> Auth:
        key, sep, token = self.require_credentials().reveal().partition(":")
        if not sep or not key or not token:
            raise PermanentDeliveryError(
                "vtex credentials must be 'appKey:appToken' (one colon between the two)",
                reason_code=ReasonCode.CREDENTIALS_MISSING,
            )
        return Auth(headers={"X-VTEX-API-AppKey": key, "X-VTEX-API-AppToken": token})

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        if action in (Action.SHIP_WITH_TRACKING, Action.DELIVER):
            return delivered(await self._send_on_invoice(action, event))
        order = _order_path(event)
        if action is Action.INVOICE:
            # a repeated invoiceNumber is a 200 with a new receipt: delivered, not done
            body = _invoice_body(event)
            if (event.invoice or {}).get("xml"):
                # the document itself, checked first: a wrong one is INVALID, never sent
                document = await self.documents.document(event, self.config)
                body["embeddedInvoice"] = document.xml.decode("utf-8", errors="replace")
            request = PlatformRequest("POST", f"{order}/invoice", json=body, headers=JSON_HEADERS)
            return delivered(await self.call(request))
        if action is Action.START_HANDLING:
            request = PlatformRequest("POST", f"{order}/start-handling", headers=JSON_HEADERS)
            response = await self.call(request, inspect=(409,))
            if response.is_success:
                return delivered(response)
            if b"OMS003" not in response.content:
                raise self.refused(request, response)
            done = HANDLING_OR_LATER
        else:
            cancellation = require_payload(event.cancellation, "cancellation")
            request = PlatformRequest(
                "POST",
                f"{order}/cancel",
                json={"reason": cancellation["reason"]},
                headers=JSON_HEADERS,
            )
            response = await self.call(request, inspect=(400, 409))
            if response.is_success:
                return delivered(response)
            done = CANCELED
        # a refusal that may mean "already done": the order's status decides
        status = (await self._get_order(event)).get("status")
        if status in done:
            return already_done(response)
        raise rejected(
            f"{request.method} {request.path} answered {response.status_code}: "
            f"{excerpt(response)} (order status is {status!r})",
            response,
        )

    async def _send_on_invoice(self, action: Action, event: OrderEvent) -> StoreResponse:
        order = await self._get_order(event)
        invoice = _output_invoice(order, with_tracking_first=action is Action.DELIVER)
        if invoice is None:
            raise rejected(
                f"vtex order {event.platform_order_id} has no output invoice yet; "
                f"{action.value} goes on the invoice, so the NF-e must be sent first"
            )
        path = f"{_order_path(event)}/invoice/{quote(invoice, safe='')}"
        if action is Action.SHIP_WITH_TRACKING:
            request = PlatformRequest(
                "PATCH", path, json=_tracking_body(event), headers=JSON_HEADERS
            )
        else:
            request = PlatformRequest(
                "PUT", f"{path}/tracking", json=_delivered_body(event), headers=JSON_HEADERS
            )
        return await self.call(request)

    async def _get_order(self, event: OrderEvent) -> Mapping[str, Any]:
        response = await self.call(PlatformRequest("GET", _order_path(event), headers=JSON_HEADERS))
        order = parsed(response)
        if not isinstance(order, dict):
            raise rejected(
                f"GET {_order_path(event)} answered {response.status_code} without an order",
                response,
            )
        return order


# -- helpers ---------------------------------------------------------------------------
def _order_path(event: OrderEvent) -> str:
    return f"{OMS}/{quote(event.platform_order_id, safe='')}"


def _invoice_body(event: OrderEvent) -> dict[str, Any]:
    invoice = require_payload(event.invoice, "invoice")
    body = {
        "type": "Output",
        "invoiceNumber": invoice["number"],
        "invoiceValue": str(int(invoice["total_cents"])),
        "issuanceDate": invoice["issued_at"].isoformat(),
        "invoiceKey": invoice["access_key"],
        "items": [
            {
                "id": item["sku"],
                "quantity": int(item["quantity"]),
                "price": int(item["unit_price_cents"]),
            }
            for item in invoice["items"]
        ],
    }
    if invoice.get("xml_url"):  # optional: left out when the ERP has none
        body["invoiceUrl"] = invoice["xml_url"]
    return body


def _tracking_body(event: OrderEvent) -> dict[str, Any]:
    shipment = require_payload(event.shipment, "shipment")
    return {
        "trackingNumber": shipment["tracking_code"],
        # required by the reference: an empty string, as it says for fields one lacks
        "trackingUrl": shipment.get("tracking_url") or "",
        "courier": shipment["carrier"],
        "dispatchedDate": shipment["shipped_at"].isoformat(),
    }


def _delivered_body(event: OrderEvent) -> dict[str, Any]:
    delivery = require_payload(event.delivery, "delivery")
    delivered_at: datetime = delivery["delivered_at"]
    return {
        "isDelivered": True,
        "deliveredDate": delivered_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        "events": [
            {  # city and state are required strings: empty when the carrier gave none
                "city": step.get("city") or "",
                "state": step.get("state") or "",
                "description": step["description"],
                "date": step["at"].astimezone(UTC).strftime("%Y-%m-%d"),
            }
            for step in delivery.get("tracking_events") or []
        ],
    }


def _output_invoice(order: Mapping[str, Any], *, with_tracking_first: bool) -> str | None:
    """The newest output invoice's number (optionally the newest one with tracking)."""
    attachment = order.get("packageAttachment") or {}
    packages: Sequence[Any] = attachment.get("packages") or []
    outputs = [
        p
        for p in packages
        if isinstance(p, dict) and p.get("type") == "Output" and p.get("invoiceNumber")
    ]
    if with_tracking_first:
        tracked = [p for p in outputs if p.get("trackingNumber")]
        outputs = tracked or outputs
    return str(outputs[-1]["invoiceNumber"]) if outputs else None
