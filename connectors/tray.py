"""Tray: NF-e, tracking code, mapped status changes and cancellation.

Store URL: the store's API address as Tray's OAuth callback gives it (``api_address``),
e.g. ``https://{store}.commercesuite.com.br/web_api/``. Auth: the integration's secret is
the store's ``access_token``, sent as the ``access_token`` query parameter on every call
(Tray refuses it as a header). Bodies are JSON wrapped in the resource's name
(``{"Order": {...}}``, ``{"Invoice": {...}}``). Dates are ``YYYY-MM-DD`` in Brasília time
(UTC-03:00; Brazil has no daylight saving time since 2019).

Calls, per action (``{id}`` is the event's ``platform_order_id``, path-escaped):

- INVOICE: ``POST orders/{id}/invoices`` with ``Invoice``: ``issue_date``, ``number``,
  ``serie``, ``value`` (``"259.90"``), ``key`` (44-digit access key) and ``link`` (the
  XML/DANFE URL, when the event has one).
- SHIP_WITH_TRACKING: ``PUT orders/{id}`` with ``Order``: ``sending_code`` (tracking code)
  and ``sending_date`` (shipping date). Tray has no carrier field to set on the order.
- UPDATE_STATUS (and picking, which the router turns into a mapped status):
  ``PUT orders/{id}`` with ``Order.status_id``. The status map may name the Tray status
  by id (digits) or by name; a name is resolved through ``GET orders/statuses``
  (``OrderStatuses[].OrderStatus.{id, status}``, paged by 50, compared without case),
  cached per store and re-read once when a name is not found. A name the store does not
  have is STATUS_UNMAPPED and nothing is sent.
- CANCEL: ``PUT orders/cancel/{id}``.

Not supported (left out of ``actions``, recorded as ACTION_UNSUPPORTED): START_HANDLING
(no dedicated call; the router sends picking as UPDATE_STATUS with the mapped status),
SHIP without tracking (only a status change would say "shipped", and SHIP carries no
mapped status) and DELIVER (no delivery call found in Tray's documentation; map the
ERP's "delivered" status instead).

Errors: the base's table (429/5xx/timeouts retryable, 401/403 AUTH_REJECTED, 404
ORDER_NOT_FOUND, other 4xx HTTP_REJECTED). Tray documents no "already done" answer, so
the order's state decides: an INVOICE refused with 400/409/422 is already done when
``GET orders/{id}/complete`` lists an ``OrderInvoice`` with the same access key (or the
same number and series); otherwise the refusal stands. The PUTs set values, so repeating
them is a plain 200. A repeated cancel gets whatever Tray answers (undocumented).

Rate: 180 requests/min per app, so 3 calls/s per store by default; a 429 with
``Retry-After`` pauses the store (base). The ``access_token`` never appears in an error
message: the base names the path without the query string, and anything Tray echoes
back is masked. Tray access tokens expire after 3 hours; refreshing them is the
credentials store's job. An expired or invalid one is 401 with ``error_code`` 1000
("Códigos de status e erros": Tray does not tell the two apart): TOKEN_EXPIRED, retryable,
and the retry reads the secret again (a wrong token ends dead-lettered after the last
attempt). Other refusals (1001-1003 blocked, inactive or cancelled stores) stay
AUTH_REJECTED.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from connectors.base import (
    Auth,
    Connector,
    Performed,
    PlatformRequest,
    already_done,
    delivered,
    parsed,
    require_payload,
)
from connectors.http import StoreResponse
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent

BRASILIA = timezone(timedelta(hours=-3), "BRT")
TOKEN_EXPIRED_CODE = 1000  # "Loja ativa com o token expirado"
STATUS_PAGE = 50
MAX_STATUS_PAGES = 20


class TrayConnector(Connector):
    platform = "tray"
    actions = frozenset(
        {Action.INVOICE, Action.SHIP_WITH_TRACKING, Action.UPDATE_STATUS, Action.CANCEL}
    )
    default_rate_per_s = 3.0  # 180 requests/min per app

    _status_ids: dict[str, str] | None = None  # status name (casefolded) -> id, per store

    def authenticate(self) -> Auth:
        return Auth(params={"access_token": self.require_credentials().reveal()})

    def classify(self, response: StoreResponse) -> tuple[bool, ReasonCode]:
        if response.status_code == 401 and _json(response).get("error_code") == TOKEN_EXPIRED_CODE:
            return True, ReasonCode.TOKEN_EXPIRED
        return super().classify(response)

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        order = _order_path(event)
        if action is Action.INVOICE:
            request = PlatformRequest("POST", f"{order}/invoices", json=_invoice_body(event))
            response = await self.call(request, inspect=(400, 409, 422))
            if response.is_success:
                return delivered(response)
            # a refusal that may mean "already attached": the order's invoices decide
            if await self._has_invoice(event):
                return already_done(response)
            raise self.refused(request, response)
        if action is Action.SHIP_WITH_TRACKING:
            shipment = require_payload(event.shipment, "shipment")
            fields = {
                "sending_code": shipment["tracking_code"],
                "sending_date": _date(shipment["shipped_at"]),
            }
            request = PlatformRequest("PUT", order, json={"Order": fields})
        elif action is Action.CANCEL:
            request = PlatformRequest("PUT", f"orders/cancel/{_escape(event.platform_order_id)}")
        else:
            status_id = await self._status_id(platform_status)
            request = PlatformRequest("PUT", order, json={"Order": {"status_id": int(status_id)}})
        return delivered(await self.call(request))

    async def _has_invoice(self, event: OrderEvent) -> bool:
        invoice = require_payload(event.invoice, "invoice")
        response = await self.call(PlatformRequest("GET", f"{_order_path(event)}/complete"))
        order = _json(response).get("Order")
        attached = order.get("OrderInvoice") if isinstance(order, dict) else None
        for entry in attached if isinstance(attached, list) else []:
            fields = entry.get("OrderInvoice", entry) if isinstance(entry, dict) else {}
            if not isinstance(fields, dict):
                continue
            if str(fields.get("key") or "") == invoice["access_key"]:
                return True
            if (str(fields.get("number")), str(fields.get("serie"))) == (
                str(invoice["number"]),
                str(invoice["series"]),
            ):
                return True
        return False

    async def _status_id(self, platform_status: str | None) -> str:
        name = (platform_status or "").strip()
        if not name:
            raise PermanentDeliveryError(
                "no Tray status to set: the status map gave none",
                reason_code=ReasonCode.STATUS_UNMAPPED,
            )
        if name.isdigit():
            return name
        wanted = name.casefold()
        if self._status_ids is None or wanted not in self._status_ids:
            self._status_ids = await self._load_statuses()
        status_id = self._status_ids.get(wanted)
        if status_id is None:
            raise PermanentDeliveryError(
                f"the Tray store has no order status named {name!r}; "
                "fix the integration's status map",
                reason_code=ReasonCode.STATUS_UNMAPPED,
            )
        return status_id

    async def _load_statuses(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for page in range(1, MAX_STATUS_PAGES + 1):
            response = await self.call(
                PlatformRequest(
                    "GET", "orders/statuses", params={"limit": str(STATUS_PAGE), "page": str(page)}
                ),
            )
            body = _json(response)
            listed = list(_statuses(body.get("OrderStatuses")))
            for status_id, status_name in listed:
                found.setdefault(status_name.casefold(), status_id)
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            total = _int(paging.get("total")) if paging else None
            if not listed or total is None or page * STATUS_PAGE >= total:
                break
        return found


# -- helpers ---------------------------------------------------------------------------
def _escape(value: str) -> str:
    return quote(value, safe="")


def _order_path(event: OrderEvent) -> str:
    return f"orders/{_escape(event.platform_order_id)}"


def _date(moment: datetime) -> str:
    return moment.astimezone(BRASILIA).strftime("%Y-%m-%d")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _invoice_body(event: OrderEvent) -> dict[str, Any]:
    invoice = require_payload(event.invoice, "invoice")
    fields: dict[str, Any] = {
        "issue_date": _date(invoice["issued_at"]),
        "number": invoice["number"],
        "serie": invoice["series"],
        "value": _money(int(invoice["total_cents"])),
        "key": invoice["access_key"],
    }
    if invoice.get("xml_url"):
        fields["link"] = invoice["xml_url"]
    return {"Invoice": fields}


def _json(response: StoreResponse) -> dict[str, Any]:
    body = parsed(response)
    return body if isinstance(body, dict) else {}


def _statuses(listed: Any) -> Iterator[tuple[str, str]]:
    for entry in listed if isinstance(listed, list) else []:
        fields = entry.get("OrderStatus", entry) if isinstance(entry, dict) else None
        if isinstance(fields, dict) and fields.get("id") is not None and fields.get("status"):
            yield str(fields["id"]), str(fields["status"]).strip()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
