"""Mercado Livre connector against the Mercado Livre emulator: ME1 notices, the NF-e import
and pack attachment, "already done", recorded skips, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.emulators.base import Fault
from connectors.emulators.mercadolivre import MercadoLivreEmulator
from connectors.mercadolivre import MercadoLivreConnector
from connectors.nfe import NfeSource
from streams.errors import (
    DeliveryError,
    DocumentError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from streams.records import Action, EventType
from tests.contract.harness import LOOPBACK, check_classification, connected, run
from tests.erp import ErpDocumentServer
from tests.factories import ACCESS_KEY, AT, PAYLOADS, event
from tests.nfe import OTHER_KEY, nfe_xml
from tests.tls import make_pki

ORDER = "2000003508419013"
SHIPMENT = 28264263908
TOKEN = "test-secret-value"
LOOKUP = f"/orders/{ORDER}/shipments"
NOTIFY = f"/shipments/{SHIPMENT}/seller_notifications"


def emulator(**shipment: Any) -> MercadoLivreEmulator:
    emu = MercadoLivreEmulator()
    emu.add_order(ORDER, shipment_id=SHIPMENT, **shipment)
    return emu


async def send(
    emu: MercadoLivreEmulator,
    action: Action,
    event_type: EventType,
    *,
    secret: str | None = TOKEN,
    **event_fields: Any,
) -> Any:
    async with connected(emu, MercadoLivreConnector, secret=secret) as (_, connector):
        try:
            return await connector.send(action, event(event_type, order=ORDER, **event_fields))
        except DeliveryError as exc:
            return exc


def assert_lookup_then_notice(emu: MercadoLivreEmulator) -> Any:
    lookup, notice = emu.calls
    assert (lookup.method, lookup.path, lookup.refused) == ("GET", LOOKUP, None)
    assert (notice.method, notice.path, notice.refused) == ("POST", NOTIFY, None)
    for call in emu.calls:
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    return notice


def test_ship_with_tracking_notifies_shipped_with_the_tracking() -> None:
    emu = emulator()
    url = "https://rastreamento.correios.com.br/app/index.php?objeto=QB123456789BR"
    shipment = {
        "carrier": "Correios",
        "service": "SEDEX",
        "tracking_code": "QB123456789BR",
        "tracking_url": url,
        "shipped_at": AT,
    }
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED, shipment=shipment))
    assert delivery.http_status == 200 and not delivery.already_done
    notice = assert_lookup_then_notice(emu)
    assert notice.body == {
        "status": "shipped",
        "substatus": None,
        "tracking_number": "QB123456789BR",
        "tracking_url": url,
        "payload": {
            "comment": "Enviado por Correios (SEDEX)",
            "date": "2026-11-27T12:00:00.000+00:00",
        },
    }
    state = emu.shipments[ORDER]
    assert (state["status"], state["tracking_number"]) == ("shipped", "QB123456789BR")


def test_the_same_tracking_again_is_already_done() -> None:
    emu = emulator(status="shipped", tracking_number="QB123456789BR")
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED))
    assert delivery.already_done is True and delivery.http_status == 200
    assert [c.route for c in emu.calls] == ["shipment"]  # nothing posted


def test_a_corrected_tracking_number_is_sent() -> None:
    emu = emulator(status="shipped", tracking_number="QB000000000BR")
    delivery = run(send(emu, Action.SHIP_WITH_TRACKING, EventType.SHIPPED))
    assert not delivery.already_done
    assert emu.shipments[ORDER]["tracking_number"] == "QB123456789BR"


def test_deliver_notifies_delivered() -> None:
    emu = emulator(status="shipped", tracking_number="QB123456789BR")
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200 and not delivery.already_done
    notice = assert_lookup_then_notice(emu)
    assert notice.body == {
        "status": "delivered",
        "substatus": None,
        "payload": {"comment": "Entregue a Ana", "date": "2026-11-27T12:00:00.000+00:00"},
    }
    assert emu.shipments[ORDER]["status"] == "delivered"


def test_deliver_of_a_delivered_shipment_is_already_done() -> None:
    emu = emulator(status="delivered")
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.already_done is True
    assert emu.accepted("notify") == []


@pytest.mark.parametrize("mode", ["me2", "custom"])
def test_a_shipment_that_is_not_me1_is_action_unsupported(mode: str) -> None:
    emu = emulator(mode=mode)
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "ACTION_UNSUPPORTED" and mode in str(error)
    assert emu.accepted("notify") == []


def test_unsupported_actions_are_left_out() -> None:
    assert MercadoLivreConnector.actions == {
        Action.INVOICE,
        Action.SHIP_WITH_TRACKING,
        Action.DELIVER,
    }


# -- errors -----------------------------------------------------------------------------
class DropsEveryAttempt(MercadoLivreEmulator):
    """A connection that drops on every attempt: the aiohttp transport resends a dropped
    GET once by itself, so only a repeated drop reaches the connector (next test)."""

    def fail_next(self, *faults: Fault) -> None:
        for fault in faults:
            super().fail_next(*([fault, fault] if fault.drop else [fault]))


def dropping() -> MercadoLivreEmulator:
    emu = DropsEveryAttempt()
    emu.add_order(ORDER, shipment_id=SHIPMENT, status="shipped")
    return emu


@pytest.mark.parametrize(
    ("action", "event_type"),
    [(Action.DELIVER, EventType.DELIVERED), (Action.SHIP_WITH_TRACKING, EventType.SHIPPED)],
)
def test_fault_table(action: Action, event_type: EventType) -> None:
    check_classification(
        dropping,
        MercadoLivreConnector,
        action,
        event(event_type, order=ORDER),
        refused=(RetryableDeliveryError, "TOKEN_EXPIRED"),
    )


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (401, RetryableDeliveryError, "TOKEN_EXPIRED"),  # expires every 6 hours
        (403, PermanentDeliveryError, "AUTH_REJECTED"),  # another seller's order
    ],
)
def test_an_expired_token_is_retried_and_a_forbidden_order_is_not(
    status: int, error_type: type[DeliveryError], reason: str
) -> None:
    emu = emulator(status="shipped")
    emu.fail_next(Fault(status, body={"message": "refused", "status": status, "cause": []}))
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, error_type) and error.reason_code == reason


def test_a_single_dropped_lookup_is_resent_by_the_transport() -> None:
    emu = emulator(status="shipped")
    emu.fail_next(Fault(drop=True))
    delivery = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert delivery.http_status == 200
    assert [(c.route, c.refused) for c in emu.calls] == [
        ("shipment", "fault 503"),
        ("shipment", None),
        ("notify", None),
    ]


def test_a_refused_notice_is_rejected() -> None:
    emu = emulator(status="not_delivered")  # final: Mercado Livre refuses any notice
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "HTTP_REJECTED" and error.http_status == 400


def test_unknown_order_is_order_not_found() -> None:
    emu = MercadoLivreEmulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "ORDER_NOT_FOUND"


def test_an_order_id_that_is_not_numeric_is_refused_before_any_call() -> None:
    emu = emulator()

    async def go() -> DeliveryError:
        async with connected(emu, MercadoLivreConnector) as (_, connector):
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(
                    Action.DELIVER, event(EventType.DELIVERED, order="../users/me")
                )
            return caught.value

    assert run(go()).reason_code == "INVALID_EVENT"
    assert emu.calls == []


def test_the_token_never_appears_in_an_error() -> None:
    secret = "APP_USR-1234567890123456-112712-abcdef0123456789abcdef0123456789-123456789"
    emu = emulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED, secret=secret))
    assert isinstance(error, RetryableDeliveryError) and error.reason_code == "TOKEN_EXPIRED"
    assert secret not in str(error)
    assert emu.calls[0].headers["Authorization"] == f"Bearer {secret}"


def test_missing_credentials_are_reported_without_a_call() -> None:
    emu = emulator()
    error = run(send(emu, Action.DELIVER, EventType.DELIVERED, secret=None))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason_code == "CREDENTIALS_MISSING"
    assert emu.calls == []


# -- INVOICE: "Importar Nota Fiscal" and "Anexar Nota Fiscal" ----------------------------------
INVOICE_DATA = f"/shipments/{SHIPMENT}/invoice_data"
PACK = 2000000089077943


def invoice_event(**invoice: Any) -> Any:
    return event(
        EventType.INVOICE_AUTHORIZED,
        order=ORDER,
        invoice={**PAYLOADS[EventType.INVOICE_AUTHORIZED]["invoice"], **invoice},
    )


async def send_invoice(
    emu: MercadoLivreEmulator, ev: Any, documents: NfeSource | None = None, **config: Any
) -> Any:
    async with connected(emu, MercadoLivreConnector, documents=documents, **config) as (
        _,
        connector,
    ):
        try:
            return await connector.send(Action.INVOICE, ev)
        except DeliveryError as exc:
            return exc


def routes(emu: MercadoLivreEmulator) -> list[tuple[str | None, str | None]]:
    return [(c.route, c.refused) for c in emu.calls]


@pytest.mark.parametrize("logistic", ["drop_off", "xd_drop_off", "xd_same_day", "cross_docking"])
def test_the_nfe_is_imported_and_the_label_released(logistic: str) -> None:
    emu = emulator(mode="me2", logistic_type=logistic)
    assert emu.shipments[ORDER]["substatus"] == "invoice_pending"
    assert not emu.label_available(ORDER)
    xml = nfe_xml()
    delivery = run(send_invoice(emu, invoice_event(xml=xml)))
    assert delivery.http_status == 200 and not delivery.already_done
    assert delivery.skipped is None
    assert routes(emu) == [
        ("shipment", None),
        ("invoice", "not_found: Shipment 28264263908 has no invoice"),
        ("import", None),
    ]
    posted = emu.accepted("import")[0]
    assert (posted.method, posted.path, posted.query) == ("POST", INVOICE_DATA, {"siteId": "MLB"})
    assert posted.headers["Content-Type"] == "application/xml"
    assert posted.body == xml  # the document itself, byte for byte
    assert emu.invoices[str(SHIPMENT)]["fiscal_key"] == ACCESS_KEY
    assert emu.shipments[ORDER]["substatus"] == "ready_to_print"
    assert emu.label_available(ORDER)


def test_an_nfe_already_imported_is_already_done() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    run(send_invoice(emu, invoice_event(xml=nfe_xml())))
    emu.calls.clear()
    delivery = run(send_invoice(emu, invoice_event(xml=nfe_xml())))
    assert delivery.already_done is True
    assert [c.route for c in emu.calls] == ["shipment", "invoice"]  # nothing posted


def test_another_nfe_on_the_shipment_is_not_accepted() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    run(send_invoice(emu, invoice_event(access_key=OTHER_KEY, xml=nfe_xml(key=OTHER_KEY))))
    error = run(send_invoice(emu, invoice_event(xml=nfe_xml())))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "NFE_NOT_ACCEPTED"
    assert OTHER_KEY in str(error) and len(emu.accepted("import")) == 1


def test_an_nfe_that_arrived_meanwhile_is_read_again() -> None:
    class ArrivesMeanwhile(MercadoLivreEmulator):
        async def _invoice(self, request: Any, body: Any) -> Any:
            answer = await super()._invoice(request, body)
            self.invoices[str(SHIPMENT)] = {"id": 1, "fiscal_key": ACCESS_KEY}  # the ERP's own
            return answer

    emu = ArrivesMeanwhile()
    emu.add_order(ORDER, shipment_id=SHIPMENT, mode="me2", logistic_type="drop_off")
    delivery = run(send_invoice(emu, invoice_event(xml=nfe_xml())))
    assert delivery.already_done is True
    assert [(c.route, c.refused is None) for c in emu.calls] == [
        ("shipment", True), ("invoice", False), ("import", False), ("invoice", True),
    ]  # fmt: skip


def test_a_full_shipment_is_a_recorded_skip() -> None:
    emu = emulator(mode="me2", logistic_type="fulfillment")
    delivery = run(send_invoice(emu, invoice_event()))  # no XML needed: nothing is sent
    assert delivery.skipped == "NFE_ISSUED_BY_PLATFORM" and not delivery.already_done
    assert [c.route for c in emu.calls] == ["shipment"]


def test_a_seller_without_nfe_is_a_recorded_skip_without_a_call() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    delivery = run(send_invoice(emu, invoice_event(xml=nfe_xml()), seller_issues_nfe=False))
    assert delivery.skipped == "NFE_NOT_ISSUED_BY_SELLER" and delivery.http_status is None
    assert emu.calls == []


def test_logistics_without_an_import_is_a_recorded_skip() -> None:
    emu = emulator(mode="me2", logistic_type="self_service")
    delivery = run(send_invoice(emu, invoice_event(xml=nfe_xml())))
    assert delivery.skipped == "NFE_NOT_REQUIRED"
    assert [c.route for c in emu.calls] == ["shipment"]


def test_the_nfe_is_attached_to_the_pack_for_the_buyer() -> None:
    emu = emulator(mode="me2", logistic_type="self_service", pack_id=PACK)
    xml = nfe_xml()
    delivery = run(send_invoice(emu, invoice_event(xml=xml), nfe_attach_to_pack=True))
    assert delivery.http_status == 200 and not delivery.already_done and delivery.skipped is None
    assert [c.route for c in emu.calls] == ["shipment", "order", "documents", "attach"]
    attach = emu.accepted("attach")[0]
    assert attach.path == f"/packs/{PACK}/fiscal_documents"
    assert attach.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    (stored,) = emu.pack_documents[str(PACK)]
    assert stored["type"] == "application/xml" and stored["content"] == xml.encode()
    assert emu.shipments[ORDER]["substatus"] is None  # attaching changes no shipment


def test_import_and_attach_without_a_pack_use_the_order_id() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    delivery = run(send_invoice(emu, invoice_event(xml=nfe_xml()), nfe_attach_to_pack=True))
    assert not delivery.already_done
    assert [c.route for c in emu.accepted()] == [
        "shipment",
        "import",
        "order",
        "documents",
        "attach",
    ]
    assert list(emu.pack_documents) == [ORDER] and emu.label_available(ORDER)
    emu.calls.clear()
    again = run(send_invoice(emu, invoice_event(xml=nfe_xml()), nfe_attach_to_pack=True))
    assert again.already_done is True
    assert [c.route for c in emu.calls] == ["shipment", "invoice", "order", "documents"]


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (nfe_xml(key=OTHER_KEY), "NFE_KEY_MISMATCH"),
        (nfe_xml(status="110"), "NFE_NOT_AUTHORIZED"),
        (nfe_xml(root="NFe"), "NFE_NOT_AUTHORIZED"),
        ("<html>not found</html>", "NFE_XML_INVALID"),
        (None, "NFE_XML_MISSING"),
    ],
)
def test_a_wrong_document_is_invalid_and_nothing_is_uploaded(xml: str | None, reason: str) -> None:
    emu = emulator(mode="me2", logistic_type="drop_off", pack_id=PACK)
    error = run(send_invoice(emu, invoice_event(xml=xml), nfe_attach_to_pack=True))
    assert isinstance(error, DocumentError) and error.reason_code == reason
    assert error.invalid_input and not error.retryable
    assert [c.route for c in emu.calls] == ["shipment"]
    assert emu.invoices == {} and emu.pack_documents == {}
    assert emu.shipments[ORDER]["substatus"] == "invoice_pending"


def test_an_oversized_inline_xml_is_invalid_with_its_size() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    xml = nfe_xml(padding=5_000)
    small = NfeSource(max_bytes=4_000)
    error = run(send_invoice(emu, invoice_event(xml=xml), documents=small))
    assert isinstance(error, DocumentError) and error.reason_code == "NFE_TOO_LARGE"
    assert f"{len(xml.encode()):,} bytes, over the 4,000 allowed" in str(error)
    assert [c.route for c in emu.calls] == ["shipment"]


@pytest.mark.parametrize(
    ("setup", "xml", "reason"),
    [
        ({"buyer_doc": "98765432100"}, nfe_xml(), "NFE_ORDER_MISMATCH"),
        ({}, nfe_xml(status="150"), "NFE_REJECTED"),  # authorized late: Mercado Livre says no
        ({"status": "shipped"}, nfe_xml(), "NFE_NOT_ACCEPTED"),  # no longer waiting for one
    ],
)
def test_mercado_livre_refusals_are_permanent_with_their_reason(
    setup: dict[str, Any], xml: str, reason: str
) -> None:
    emu = emulator(mode="me2", logistic_type="drop_off", **setup)
    error = run(send_invoice(emu, invoice_event(xml=xml)))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == reason
    assert not error.invalid_input and error.http_status == 400
    assert emu.invoices == {}


def test_invoice_fault_table() -> None:
    def make() -> MercadoLivreEmulator:
        emu = DropsEveryAttempt()
        emu.add_order(ORDER, shipment_id=SHIPMENT, mode="me2", logistic_type="drop_off")
        return emu

    check_classification(
        make,
        MercadoLivreConnector,
        Action.INVOICE,
        invoice_event(xml=nfe_xml()),
        refused=(RetryableDeliveryError, "TOKEN_EXPIRED"),
    )


def test_the_xml_is_fetched_from_the_erps_listed_host(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    xml = nfe_xml().encode()

    async def go() -> tuple[Any, list[str]]:
        erp = ErpDocumentServer(pki.server_context())
        erp.documents["/nfe/1234.xml"] = xml
        base = await erp.start()
        emu = emulator(mode="me2", logistic_type="drop_off")
        source = NfeSource(allowed=LOOPBACK, extra_ca_file=str(pki.ca_file))
        try:
            ev = invoice_event(xml_url=f"{base}/nfe/1234.xml")
            delivery = await send_invoice(emu, ev, documents=source, nfe_xml_hosts=("localhost",))
            assert emu.accepted("import")[0].body == xml.decode()
            assert emu.label_available(ORDER)
            return delivery, erp.requests
        finally:
            await source.aclose()
            await erp.stop()

    delivery, requests = run(go())
    assert delivery.http_status == 200 and not delivery.already_done
    assert requests == ["/nfe/1234.xml"]


def test_an_xml_url_on_another_host_is_refused_and_nothing_is_uploaded() -> None:
    emu = emulator(mode="me2", logistic_type="drop_off")
    ev = invoice_event(xml_url="https://files.elsewhere.example/nfe/1234.xml")
    error = run(send_invoice(emu, ev, nfe_xml_hosts=("erp.example",)))
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "NFE_URL_REFUSED"
    assert "files.elsewhere.example" in str(error)
    assert [c.route for c in emu.calls] == ["shipment"] and emu.invoices == {}
