"""The NF-e check: only the event's authorized NF-e passes, and each fault is named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from yarl import URL

from connectors.nfe import NfeSource, check_nfe, listed_host
from streams.errors import ConfigurationError, DocumentError, PermanentDeliveryError
from streams.records import IntegrationConfig
from streams.settings import Settings
from streams.validation import INLINE_XML_MAX_BYTES, parse_event
from tests.factories import ACCESS_KEY, config, event, event_record, jsonable
from tests.nfe import BILLION_LAUGHS, EXTERNAL_ENTITY, OTHER_KEY, nfe_xml


def test_the_authorized_nfe_of_the_event_passes() -> None:
    xml = nfe_xml().encode()
    document = check_nfe(xml, ACCESS_KEY)
    assert (document.xml, document.access_key, document.status) == (xml, ACCESS_KEY, "100")


def test_an_nfe_authorized_late_passes() -> None:
    assert check_nfe(nfe_xml(status="150").encode(), ACCESS_KEY).status == "150"


@pytest.mark.parametrize(
    ("xml", "reason", "said"),
    [
        (nfe_xml(key=OTHER_KEY), "NFE_KEY_MISMATCH", f"access key {OTHER_KEY}"),
        (nfe_xml(protocol_key=OTHER_KEY), "NFE_KEY_MISMATCH", "chNFe"),
        (nfe_xml(status="110"), "NFE_NOT_AUTHORIZED", "cStat is 110 (Rejeicao: Uso Denegado)"),
        (nfe_xml(status="302"), "NFE_NOT_AUTHORIZED", "cStat is 302"),
        (nfe_xml(protocol=False), "NFE_NOT_AUTHORIZED", "no protNFe"),
        (nfe_xml(root="NFe"), "NFE_NOT_AUTHORIZED", "without its protNFe"),
        (nfe_xml(root="cteProc"), "NFE_XML_INVALID", "root is"),
        (nfe_xml()[:-20], "NFE_XML_INVALID", "not well-formed"),
        ("", "NFE_XML_INVALID", "not well-formed"),
        ("<nfeProc><NFe/></nfeProc>", "NFE_XML_INVALID", "root is"),  # no NF-e namespace
        (BILLION_LAUGHS, "NFE_XML_INVALID", "DOCTYPE"),
        (EXTERNAL_ENTITY, "NFE_XML_INVALID", "DOCTYPE"),
        (
            nfe_xml().replace(f'Id="NFe{ACCESS_KEY}"', 'Id="NFe123"'),
            "NFE_XML_INVALID",
            "44 digits",
        ),
    ],
)
def test_each_fault_is_invalid_with_its_reason(xml: str, reason: str, said: str) -> None:
    with pytest.raises(DocumentError) as caught:
        check_nfe(xml.encode(), ACCESS_KEY)
    assert caught.value.reason_code == reason
    assert said in str(caught.value)
    assert caught.value.invalid_input and not caught.value.retryable


def test_an_oversized_xml_is_invalid_with_its_size() -> None:
    xml = nfe_xml(padding=2000).encode()
    with pytest.raises(DocumentError) as caught:
        check_nfe(xml, ACCESS_KEY, max_bytes=1000)
    assert caught.value.reason_code == "NFE_TOO_LARGE"
    assert f"{len(xml):,} bytes, over the 1,000 allowed" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "hosts", "listed"),
    [
        ("https://erp.example/nfe/1.xml", ("erp.example",), True),
        ("https://ERP.example:8443/nfe/1.xml", ("erp.example",), True),
        ("https://erp.example:8443/nfe/1.xml", ("erp.example:8443",), True),
        ("https://erp.example/nfe/1.xml", ("erp.example:8443",), False),
        ("https://erp.example.evil/nfe/1.xml", ("erp.example",), False),
        ("https://evil.example/nfe/1.xml", ("erp.example",), False),
        ("https://[::1]:9443/x.xml", ("[::1]:9443",), True),
        ("https://[::1]:9443/x.xml", ("::1",), True),
        ("https://erp.example/nfe/1.xml", (), False),
    ],
)
def test_listed_hosts(url: str, hosts: tuple[str, ...], listed: bool) -> None:
    assert listed_host(URL(url), hosts) is listed


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://evil.example/nfe/1.xml?token=s3cr3t", "host 'evil.example'"),
        ("http://erp.example/nfe/1.xml", "not an https:// URL"),
        ("https://user:pw@erp.example/nfe/1.xml", "without credentials"),
        ("file:///etc/passwd", "not an https:// URL"),
    ],
)
def test_a_url_off_the_listed_hosts_is_refused_before_any_connection(url: str, said: str) -> None:
    source = NfeSource()
    ev = event(invoice={**event().invoice, "xml_url": url})  # type: ignore[dict-item]
    cfg = config(platform="mercadolivre", nfe_xml_hosts=["erp.example"])
    with pytest.raises(PermanentDeliveryError) as caught:
        asyncio.run(source.document(ev, cfg))
    error = caught.value
    assert error.reason_code == "NFE_URL_REFUSED" and not error.retryable
    assert not error.invalid_input  # the integration may list the host, then resend
    assert said in str(error)
    assert "s3cr3t" not in str(error) and "pw@" not in str(error)
    assert source._clients == {}  # nothing was opened


def test_the_inline_xml_wins_and_nothing_is_fetched() -> None:
    source = NfeSource()
    invoice = {**event().invoice, "xml": nfe_xml(), "xml_url": "https://evil.example/x"}  # type: ignore[dict-item]
    document = asyncio.run(source.document(event(invoice=invoice), config()))
    assert document.access_key == ACCESS_KEY and source._clients == {}


def test_no_xml_at_all_is_invalid() -> None:
    with pytest.raises(DocumentError) as caught:
        asyncio.run(NfeSource().document(event(), config()))
    assert caught.value.reason_code == "NFE_XML_MISSING"


def test_an_inline_xml_too_large_for_a_record_is_refused_with_its_size() -> None:
    record = jsonable(event_record())
    record["invoice"]["xml"] = "<" + "x" * INLINE_XML_MAX_BYTES + ">"
    _, errors = parse_event(record)
    assert [str(e) for e in errors] == [
        f"invoice.xml: {INLINE_XML_MAX_BYTES + 2:,} bytes, over the {INLINE_XML_MAX_BYTES:,} "
        "an event may carry (a record is at most 1,000,000 bytes): give invoice.xml_url instead"
    ]
    record["invoice"]["xml"] = nfe_xml()
    assert parse_event(record)[1] == []


def test_the_erp_hosts_of_an_integration_round_trip_its_record() -> None:
    cfg = config(nfe_xml_hosts=["ERP.example", " erp.example:8443 "], nfe_attach_to_pack=True)
    assert cfg.nfe_xml_hosts == ("erp.example", "erp.example:8443")
    assert cfg.to_avro()["nfe_xml_hosts"] == ["erp.example", "erp.example:8443"]
    assert IntegrationConfig.from_avro(cfg.to_avro()) == cfg
    old = {k: v for k, v in cfg.to_avro().items() if not k.startswith(("nfe_", "seller_"))}
    assert IntegrationConfig.from_avro(old).seller_issues_nfe is True  # a v1 record


def test_an_erp_ca_file_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ORDERSYNC_ERP_CA_FILE"):
        Settings.from_env({"ORDERSYNC_ERP_CA_FILE": str(tmp_path / "none.pem")})
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    assert Settings.from_env({"ORDERSYNC_ERP_CA_FILE": str(ca)}).erp_ca_file == ca
