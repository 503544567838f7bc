"""Mercado Livre (MLB): the NF-e of a shipment, and the status notifications of Mercado Envios 1.

Store URL: ``https://api.mercadolibre.com/``. ``platform_order_id`` is the Mercado Livre
order id (numeric; anything else is INVALID_EVENT before a call). Auth: ``Authorization:
Bearer <access token>``. Mercado Livre access tokens are short-lived and renewed with the
refresh token ("Obtenção do Access Token") every 6 hours; the secret must hold a current
token (renewal is the credentials store's job). An expired one is 401: TOKEN_EXPIRED,
retryable, and the retry reads the secret again.

Mercado Livre's calls act on the shipment, so every action first reads the order's
shipment, as the ME1 guide does: ``GET orders/{order_id}/shipments`` → ``id``, ``mode``
(``me1``/``me2``/``custom``), ``logistic_type``, ``status``, ``substatus``,
``tracking_number``. Only an ME1 shipment takes seller notifications: in ME2 and Full, Mercado Livre owns the label and the tracking, so
any other mode is ACTION_UNSUPPORTED (a permanent error saying so, never a guessed call).

- SHIP_WITH_TRACKING: ``POST shipments/{shipment_id}/seller_notifications`` ``{status:
  "shipped", substatus: null, tracking_number, tracking_url (when known), payload:
  {comment, date: <shipped_at>}}``, answered ``{"status": "OK"}``. The shipment already
  ``shipped``/``delivered`` with the same tracking number → ALREADY_DONE, nothing sent.
- DELIVER: the same call with ``{status: "delivered", substatus: null, payload: {comment,
  date: <delivered_at>}}``; a shipment already ``delivered`` → ALREADY_DONE.

- INVOICE ("Importar Nota Fiscal", "Anexar Nota Fiscal"): the authorized NF-e XML, from
  the event (``invoice.xml``) or fetched from the ERP's listed hosts, checked first
  (``connectors/nfe.py``: a document that is not the event's authorized NF-e is INVALID
  and nothing is sent). By the shipment's logistics (``logistic_type``, or
  ``logistic.type``):

  - ``drop_off``, ``xd_drop_off``, ``xd_same_day``, ``cross_docking``: PJ sellers import the
    NF-e, which clears the shipment's ``invoice_pending`` substatus and lets the label be
    printed. ``GET shipments/{id}/invoice_data?siteId=MLB`` first: one with the same
    ``fiscal_key`` is ALREADY_DONE, another NF-e already there is NFE_NOT_ACCEPTED;
    404 (none yet) → ``POST shipments/{id}/invoice_data?siteId=MLB`` with the XML as the
    body (``Content-Type: application/xml``). Its refusals: 409 (an NF-e arrived
    meanwhile) is read again as above; 400 by the answer's ``error``:
    ``invoice_order_mismatch`` (the NF-e is not this order's: buyer or items) →
    NFE_ORDER_MISMATCH, ``invoice_not_allowed`` (the shipment takes no NF-e now) →
    NFE_NOT_ACCEPTED, any other 400 (the XML refused) → NFE_REJECTED, all permanent;
    429/5xx/timeouts retryable (base).
  - ``fulfillment`` (Full): Mercado Livre issues the NF-e itself → SKIPPED,
    NFE_ISSUED_BY_PLATFORM.
  - any other (Flex ``self_service``, ME1…): nothing to import → SKIPPED,
    NFE_NOT_REQUIRED, unless the pack attachment is asked for.

  An integration with ``seller_issues_nfe: false`` (PF or non-contribuinte PJ sellers,
  who send a DC-e instead, which cannot be uploaded by API) → SKIPPED,
  NFE_NOT_ISSUED_BY_SELLER, without a call. With ``nfe_attach_to_pack: true`` the NF-e
  is also made available to the buyer (any logistics but Full): ``GET orders/{id}`` →
  ``pack_id`` (the order id when null), ``GET packs/{pack_id}/fiscal_documents`` (one
  already there: nothing to attach), else ``POST packs/{pack_id}/fiscal_documents``
  multipart ``fiscal_document`` (``application/xml``) → ``{"ids": [...]}``. Attaching does
  not change the shipment; the import is what releases the label.

Not supported (left out of ``actions``; the router records ACTION_UNSUPPORTED):

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

import uuid
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
    excerpt,
    json_body,
    numeric_order_id,
    parsed,
    rejected,
    require_payload,
    skipped,
    unexpected,
)
from connectors.http import StoreResponse
from connectors.nfe import NfeDocument
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

IMPORT_LOGISTICS = frozenset({"drop_off", "xd_drop_off", "xd_same_day", "cross_docking"})
FULL = "fulfillment"
SITE = {"siteId": "MLB"}
XML_HEADERS = {"Content-Type": "application/xml"}
# the answer's "error" for the refusals of invoice_data that are not about the XML itself
INVOICE_REFUSALS = {
    "invoice_order_mismatch": ReasonCode.NFE_ORDER_MISMATCH,
    "invoice_not_allowed": ReasonCode.NFE_NOT_ACCEPTED,
}


class MercadoLivreConnector(Connector):
    platform = "mercadolivre"
    actions = frozenset({Action.INVOICE, Action.SHIP_WITH_TRACKING, Action.DELIVER})

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
        if action is Action.INVOICE and not self.config.seller_issues_nfe:
            return skipped(None, ReasonCode.NFE_NOT_ISSUED_BY_SELLER)
        lookup = PlatformRequest("GET", f"orders/{order_id}/shipments")
        found = await self.call(lookup)
        shipment = json_body(found, lookup)
        if not isinstance(shipment, dict) or shipment.get("id") is None:
            raise unexpected(lookup, found)
        shipment_id = str(shipment["id"])
        if not NUMERIC_ID.fullmatch(shipment_id):
            raise unexpected(lookup, found)
        if action is Action.INVOICE:
            return await self._invoice(order_id, shipment_id, shipment, found, event)
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

    # -- INVOICE ---------------------------------------------------------------------------
    async def _invoice(
        self,
        order_id: str,
        shipment_id: str,
        shipment: Mapping[str, Any],
        found: StoreResponse,
        event: OrderEvent,
    ) -> Performed:
        logistic = logistic_type(shipment)
        if logistic == FULL:
            return skipped(found, ReasonCode.NFE_ISSUED_BY_PLATFORM)
        imports = logistic in IMPORT_LOGISTICS
        if not imports and not self.config.nfe_attach_to_pack:
            return skipped(found, ReasonCode.NFE_NOT_REQUIRED)
        document = await self.documents.document(event, self.config)
        results: list[Performed] = []
        if imports:
            results.append(await self._import(shipment_id, document))
        if self.config.nfe_attach_to_pack:
            results.append(await self._attach(order_id, document))
        changed = [r for r in results if not r.already_done]
        return changed[-1] if changed else results[-1]

    async def _import(self, shipment_id: str, document: NfeDocument) -> Performed:
        path = f"shipments/{shipment_id}/invoice_data"
        held = await self._held_invoice(path, document)
        if held is not None:
            return held
        posted = await self.call(
            PlatformRequest("POST", path, content=document.xml, headers=XML_HEADERS, params=SITE),
            inspect=(400, 409),
        )
        if posted.status_code == 409:  # one arrived since the look: is it this NF-e?
            again = await self._held_invoice(path, document)
            if again is not None:
                return again
            raise rejected(f"POST {path} answered 409: {excerpt(posted)}", posted)
        if posted.status_code == 400:
            answer = parsed(posted)
            code = str(answer.get("error", "")) if isinstance(answer, dict) else ""
            raise PermanentDeliveryError(
                f"POST {path} answered 400: {excerpt(posted)}",
                reason_code=INVOICE_REFUSALS.get(code, ReasonCode.NFE_REJECTED),
                http_status=400,
            )
        return delivered(posted)

    async def _held_invoice(self, path: str, document: NfeDocument) -> Performed | None:
        """ALREADY_DONE when the shipment holds this NF-e; None when it holds none."""
        look = PlatformRequest("GET", path, params=SITE)
        held = await self.call(look, inspect=(404,))
        if held.status_code == 404:
            return None
        invoice = json_body(held, look)
        key = str(invoice.get("fiscal_key") or "") if isinstance(invoice, dict) else ""
        if key == document.access_key:
            return already_done(held)
        raise PermanentDeliveryError(
            f"shipment {path.split('/')[1]} already holds the NF-e of key {key[:44] or '?'}, "
            f"not {document.access_key}",
            reason_code=ReasonCode.NFE_NOT_ACCEPTED,
            http_status=held.status_code,
        )

    async def _attach(self, order_id: str, document: NfeDocument) -> Performed:
        look = PlatformRequest("GET", f"orders/{order_id}")
        order_answer = await self.call(look)
        order = json_body(order_answer, look)
        if not isinstance(order, dict):
            raise unexpected(look, order_answer)
        pack_id = str(order.get("pack_id") or order_id)  # no pack: the order id stands for it
        if not NUMERIC_ID.fullmatch(pack_id):
            raise unexpected(look, order_answer)
        path = f"packs/{pack_id}/fiscal_documents"
        listing = PlatformRequest("GET", path)
        listed = await self.call(listing, inspect=(404,))
        if listed.status_code != 404:
            held = json_body(listed, listing)
            if isinstance(held, dict) and held.get("ids"):
                return already_done(listed)
        body, content_type = fiscal_document_form(document)
        attached = await self.call(
            PlatformRequest("POST", path, content=body, headers={"Content-Type": content_type})
        )
        return delivered(attached)


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


def logistic_type(shipment: Mapping[str, Any]) -> str:
    logistic = shipment.get("logistic")
    nested = logistic.get("type") if isinstance(logistic, dict) else None
    return str(shipment.get("logistic_type") or nested or "")


def fiscal_document_form(document: NfeDocument) -> tuple[bytes, str]:
    """The multipart/form-data body of "Anexar Nota Fiscal": one ``fiscal_document`` file."""
    boundary = f"ordersync-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="fiscal_document"; '
        f'filename="{document.access_key}-nfe.xml"\r\n'
        "Content-Type: application/xml\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + document.xml + tail, f"multipart/form-data; boundary={boundary}"
