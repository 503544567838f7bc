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

NF-e ("Importar Nota Fiscal", "Anexar Nota Fiscal"), state per shipment:

- A shipment of the logistics that take an imported NF-e (``drop_off``, ``xd_drop_off``,
  ``xd_same_day``, ``cross_docking``) starts ``ready_to_ship`` / ``invoice_pending``; its
  label (``GET /shipment_labels?shipment_ids=``) is refused until a valid NF-e arrives,
  then the substatus is ``ready_to_print`` and the label is served.
- ``GET /shipments/{id}/invoice_data?siteId=MLB``: the imported NF-e (``id``,
  ``fiscal_key``, ``number``, ``series``), or 404 ``not_found``.
- ``POST /shipments/{id}/invoice_data?siteId=MLB`` takes the XML as the body
  (``Content-Type: application/xml``): 400 ``bad_request`` without ``siteId=MLB`` or with
  another content type; 400 ``invoice_not_allowed`` for a shipment of other logistics or
  not waiting for its NF-e; 409 ``conflict`` when it holds one already; 400
  ``invalid_invoice_xml`` for a body that is not an authorized nfeProc (cStat 100); 400
  ``invoice_order_mismatch`` when the NF-e's recipient (``dest`` CPF/CNPJ) is not the
  order's buyer. The error codes are this stand-in's: the stored vendor pages give the
  call, not its refusals' texts.
- ``GET /orders/{id}``: ``id``, ``pack_id`` (null for an order alone), ``status``.
- ``GET|POST /packs/{pack_id}/fiscal_documents``: the documents attached for the buyer;
  a POST is ``multipart/form-data`` with ``fiscal_document`` files (``application/pdf``,
  ``application/xml`` or ``text/xml``, at most 1 MB each), answered ``{"ids": [...]}``.
"""

from __future__ import annotations

import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar
from xml.etree import ElementTree

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route

STATUSES = ("shipped", "delivered", "not_delivered")
FINAL = ("delivered", "not_delivered")
IMPORT_LOGISTICS = ("drop_off", "xd_drop_off", "xd_same_day", "cross_docking")
NFE = "{http://www.portalfiscal.inf.br/nfe}"
BUYER_DOC = "12345678909"  # the CPF of every emulated order's buyer, unless told
ATTACHABLE = ("application/pdf", "application/xml", "text/xml")


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
        Route("GET", "/orders/{order_id}", "order", handler="_order"),
        Route("GET", "/shipments/{shipment_id}/invoice_data", "invoice", handler="_invoice"),
        Route("POST", "/shipments/{shipment_id}/invoice_data", "import", handler="_import"),
        Route("GET", "/packs/{pack_id}/fiscal_documents", "documents", handler="_documents"),
        Route("POST", "/packs/{pack_id}/fiscal_documents", "attach", handler="_attach"),
        Route("GET", "/shipment_labels", "label", handler="_label"),
    )

    def __init__(self, token: str = "test-secret-value") -> None:
        super().__init__()
        self.token = token
        self.shipments: dict[str, dict[str, Any]] = {}  # by order id
        self.orders: dict[str, dict[str, Any]] = {}  # by order id
        self.invoices: dict[str, dict[str, Any]] = {}  # imported NF-e, by shipment id
        self.pack_documents: dict[str, list[dict[str, Any]]] = {}  # by pack id

    # -- state -------------------------------------------------------------------------
    def add_order(
        self,
        order_id: str,
        *,
        shipment_id: int = 28264263908,
        mode: str = "me1",
        status: str = "ready_to_ship",
        tracking_number: str | None = None,
        logistic_type: str = "default",
        pack_id: int | None = None,
        buyer_doc: str = BUYER_DOC,
    ) -> dict[str, Any]:
        waits_for_nfe = logistic_type in IMPORT_LOGISTICS and status == "ready_to_ship"
        shipment = {
            "id": shipment_id,
            "mode": mode,
            "logistic_type": logistic_type,
            "created_by": "receiver",
            "order_id": int(order_id),
            "site_id": "MLB",
            "status": status,
            "substatus": "invoice_pending" if waits_for_nfe else None,
            "tracking_number": tracking_number,
            "notifications": [],
        }
        self.shipments[order_id] = shipment
        self.orders[order_id] = {
            "id": int(order_id),
            "pack_id": pack_id,
            "status": "paid",
            "buyer_doc": buyer_doc,
        }
        return shipment

    def label_available(self, order_id: str) -> bool:
        return bool(self.shipments[order_id]["substatus"] != "invoice_pending")

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

    def _by_id(self, shipment_id: str) -> dict[str, Any] | None:
        return next((s for s in self.shipments.values() if str(s["id"]) == shipment_id), None)

    async def _order(self, request: web.Request, body: Any) -> web.StreamResponse:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return self._error(404, "not_found", "Order not found")
        return web.json_response({k: v for k, v in order.items() if k != "buyer_doc"})

    async def _invoice(self, request: web.Request, body: Any) -> web.StreamResponse:
        shipment_id = request.match_info["shipment_id"]
        if request.query.get("siteId") != "MLB":
            return self._error(400, "bad_request", "siteId is required")
        if self._by_id(shipment_id) is None:
            return self._error(404, "not_found", f"Shipment {shipment_id} not found")
        invoice = self.invoices.get(shipment_id)
        if invoice is None:
            return self._error(404, "not_found", f"Shipment {shipment_id} has no invoice")
        return web.json_response(invoice)

    async def _import(self, request: web.Request, body: Any) -> web.StreamResponse:
        shipment_id = request.match_info["shipment_id"]
        if request.query.get("siteId") != "MLB":
            return self._error(400, "bad_request", "siteId is required")
        if request.content_type not in ("application/xml", "text/xml"):
            return self._error(400, "bad_request", "the body must be the NF-e XML")
        shipment = self._by_id(shipment_id)
        if shipment is None:
            return self._error(404, "not_found", f"Shipment {shipment_id} not found")
        if shipment_id in self.invoices:
            return self._error(409, "conflict", f"Shipment {shipment_id} already has an invoice")
        if shipment["logistic_type"] not in IMPORT_LOGISTICS:
            return self._error(
                400,
                "invoice_not_allowed",
                f"logistic {shipment['logistic_type']} does not take an invoice",
            )
        if shipment["substatus"] != "invoice_pending":
            return self._error(
                400,
                "invoice_not_allowed",
                f"shipment is {shipment['status']}/{shipment['substatus']}",
            )
        read = _read_nfe(body if isinstance(body, str) else "")
        if isinstance(read, str):
            return self._error(400, "invalid_invoice_xml", read)
        order = self.orders[str(shipment["order_id"])]
        if read["dest"] != order["buyer_doc"]:
            return self._error(
                400, "invoice_order_mismatch", "the invoice's recipient is not the order's buyer"
            )
        invoice = {
            "id": int(uuid.uuid4().int % 10**15),
            "fiscal_key": read["key"],
            "number": read["number"],
            "series": read["series"],
        }
        self.invoices[shipment_id] = invoice
        shipment["substatus"] = "ready_to_print"
        return web.json_response(invoice)

    async def _documents(self, request: web.Request, body: Any) -> web.StreamResponse:
        documents = self.pack_documents.get(request.match_info["pack_id"], [])
        return web.json_response({"ids": [d["id"] for d in documents]})

    async def _attach(self, request: web.Request, body: Any) -> web.StreamResponse:
        pack_id = request.match_info["pack_id"]
        known = {str(o["pack_id"] or o["id"]) for o in self.orders.values()}
        if pack_id not in known:
            return self._error(404, "not_found", f"Pack {pack_id} not found")
        if request.content_type != "multipart/form-data":
            return self._error(400, "bad_request", "expected multipart/form-data")
        raw = body.encode() if isinstance(body, str) else bytes(body)
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        files = [
            part
            for part in message.iter_parts()
            if part.get_param("name", header="content-disposition") == "fiscal_document"
        ]
        if not files:
            return self._error(400, "bad_request", "fiscal_document is required")
        stored = self.pack_documents.setdefault(pack_id, [])
        ids = []
        for part in files:
            content = part.get_payload(decode=True)
            if part.get_content_type() not in ATTACHABLE:
                return self._error(400, "bad_request", f"{part.get_content_type()} not accepted")
            if not isinstance(content, bytes) or len(content) > 1_000_000:
                return self._error(400, "bad_request", "the file must be at most 1 MB")
            document_id = f"{pack_id}_{uuid.uuid4()}"
            stored.append({"id": document_id, "type": part.get_content_type(), "content": content})
            ids.append(document_id)
        return web.json_response({"ids": ids})

    async def _label(self, request: web.Request, body: Any) -> web.StreamResponse:
        shipment = self._by_id(request.query.get("shipment_ids", ""))
        if shipment is None:
            return self._error(404, "not_found", "Shipment not found")
        if shipment["substatus"] == "invoice_pending":
            return self._error(400, "invoice_pending", "the shipment waits for its invoice")
        return web.Response(body=b"%PDF-1.4 label", content_type="application/pdf")

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


def _read_nfe(xml: str) -> dict[str, str] | str:
    """What the emulator reads from an imported NF-e, or why it refuses it."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        return f"not well-formed: {exc}"
    if root.tag != f"{NFE}nfeProc":
        return "expected an nfeProc"
    info = root.find(f"{NFE}NFe/{NFE}infNFe")
    status = root.findtext(f"{NFE}protNFe/{NFE}infProt/{NFE}cStat")
    if info is None or status != "100":
        return f"the invoice is not authorized (cStat {status})"
    dest = info.find(f"{NFE}dest")
    document = (
        "" if dest is None else dest.findtext(f"{NFE}CPF") or dest.findtext(f"{NFE}CNPJ") or ""
    )
    return {
        "key": info.get("Id", "").removeprefix("NFe"),
        "number": info.findtext(f"{NFE}ide/{NFE}nNF") or "",
        "series": info.findtext(f"{NFE}ide/{NFE}serie") or "",
        "dest": document,
    }
