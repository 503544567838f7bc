"""Fetching an NF-e XML from the ERP's listed host: verified https, a size limit, a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.nfe import NfeDocument, NfeSource
from streams.errors import DeliveryError, DocumentError, PermanentDeliveryError
from tests.contract.harness import LOOPBACK
from tests.erp import ErpDocumentServer
from tests.factories import ACCESS_KEY, config, event
from tests.nfe import nfe_xml
from tests.tls import make_pki


def fetch(
    tmp_path: Path,
    path: str,
    *,
    prepare: Callable[[ErpDocumentServer], None] = lambda erp: None,
    trust: bool = True,
    hosts: tuple[str, ...] = ("localhost",),
    max_bytes: int = 100_000,
) -> tuple[NfeDocument | DeliveryError, list[str]]:
    pki = make_pki(tmp_path / "pki")

    async def go() -> tuple[Any, list[str]]:
        erp = ErpDocumentServer(pki.server_context())
        prepare(erp)
        base = await erp.start()
        source = NfeSource(
            max_bytes=max_bytes,
            timeout_s=2.0,
            allowed=LOOPBACK,
            extra_ca_file=str(pki.ca_file) if trust else None,
        )
        invoice = {**event().invoice, "xml_url": f"{base}{path}"}  # type: ignore[dict-item]
        try:
            return await source.document(
                event(invoice=invoice), config(nfe_xml_hosts=hosts)
            ), erp.requests
        except DeliveryError as exc:
            return exc, erp.requests
        finally:
            await source.aclose()
            await erp.stop()

    return asyncio.run(go())


def serving(path: str, body: bytes) -> Callable[[ErpDocumentServer], None]:
    def prepare(erp: ErpDocumentServer) -> None:
        erp.documents[path] = body

    return prepare


def test_the_xml_on_a_listed_host_is_fetched_over_verified_https(tmp_path: Path) -> None:
    xml = nfe_xml().encode()
    document, requests = fetch(tmp_path, "/nfe/1234.xml", prepare=serving("/nfe/1234.xml", xml))
    assert isinstance(document, NfeDocument)
    assert document.xml == xml and document.access_key == ACCESS_KEY
    assert requests == ["/nfe/1234.xml"]


def test_a_certificate_the_worker_does_not_trust_is_refused(tmp_path: Path) -> None:
    xml = nfe_xml().encode()
    error, _ = fetch(tmp_path, "/nfe/1.xml", prepare=serving("/nfe/1.xml", xml), trust=False)
    assert isinstance(error, DeliveryError) and error.reason_code == "NFE_FETCH_FAILED"
    assert "certificate" in str(error).lower()


def test_an_oversized_answer_is_invalid_and_not_read_to_its_end(tmp_path: Path) -> None:
    def prepare(erp: ErpDocumentServer) -> None:
        erp.oversized.add("/nfe/big.xml")

    error, _ = fetch(tmp_path, "/nfe/big.xml", prepare=prepare, max_bytes=50_000)
    assert isinstance(error, DocumentError) and error.reason_code == "NFE_TOO_LARGE"
    assert "over the 50,000 bytes allowed" in str(error)


def test_a_declared_oversized_answer_names_its_size(tmp_path: Path) -> None:
    big = nfe_xml(padding=60_000).encode()
    error, _ = fetch(
        tmp_path, "/nfe/big.xml", prepare=serving("/nfe/big.xml", big), max_bytes=50_000
    )
    assert isinstance(error, DocumentError) and error.reason_code == "NFE_TOO_LARGE"
    assert f"{len(big):,} bytes by its Content-Length" in str(error)


def test_a_missing_document_is_a_permanent_fetch_failure(tmp_path: Path) -> None:
    error, requests = fetch(tmp_path, "/nfe/none.xml")
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "NFE_FETCH_FAILED"
    assert error.http_status == 404 and requests == ["/nfe/none.xml"]


def test_a_redirect_is_not_followed(tmp_path: Path) -> None:
    def prepare(erp: ErpDocumentServer) -> None:
        erp.redirects["/nfe/moved.xml"] = "https://evil.example/nfe.xml"

    error, requests = fetch(tmp_path, "/nfe/moved.xml", prepare=prepare)
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "NFE_FETCH_FAILED"
    assert "redirects are not followed" in str(error) and requests == ["/nfe/moved.xml"]


def test_a_host_not_listed_is_never_asked(tmp_path: Path) -> None:
    xml = nfe_xml().encode()
    error, requests = fetch(
        tmp_path, "/nfe/1.xml", prepare=serving("/nfe/1.xml", xml), hosts=("erp.example",)
    )
    assert isinstance(error, PermanentDeliveryError) and error.reason_code == "NFE_URL_REFUSED"
    assert "host 'localhost'" in str(error) and requests == []


def test_a_fetched_xml_of_another_key_is_invalid(tmp_path: Path) -> None:
    xml = nfe_xml(key="35261112345678000199550010000099991000099990").encode()
    error, _ = fetch(tmp_path, "/nfe/1.xml", prepare=serving("/nfe/1.xml", xml))
    assert isinstance(error, DocumentError) and error.reason_code == "NFE_KEY_MISMATCH"


def test_the_address_guard_applies(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")

    async def go() -> DeliveryError:
        erp = ErpDocumentServer(pki.server_context())
        erp.documents["/nfe/1.xml"] = nfe_xml().encode()
        base = await erp.start()
        # loopback not among ORDERSYNC_ALLOWED_NETWORKS: refused like a store's address
        source = NfeSource(allowed=(), extra_ca_file=str(pki.ca_file))
        invoice = {**event().invoice, "xml_url": f"{base}/nfe/1.xml"}  # type: ignore[dict-item]
        try:
            with pytest.raises(DeliveryError) as caught:
                await source.document(event(invoice=invoice), config(nfe_xml_hosts=("localhost",)))
            assert erp.requests == []
            return caught.value
        finally:
            await source.aclose()
            await erp.stop()

    error = asyncio.run(go())
    assert error.reason_code == "ADDRESS_BLOCKED" and not error.retryable
    assert "loopback" in str(error)
