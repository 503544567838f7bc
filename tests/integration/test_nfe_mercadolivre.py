"""The NF-e reaches Mercado Livre through the whole stack: ERP file -> Kafka -> worker ->
(the ERP's https document server) -> the Mercado Livre emulator -> ClickHouse.

Two documents end SENT and release their shipments' labels (one inline, one fetched from
the ERP's listed host); a URL on another host, a key mismatch, an unauthorized NF-e and an
oversized one each end with their own reason, and nothing of theirs is uploaded.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from connectors.emulators.mercadolivre import MercadoLivreEmulator
from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.ops.integrations import apply_configs
from streams.ops.publish import publish_file
from streams.records import EventType
from streams.settings import Settings
from tests.erp import ErpDocumentServer
from tests.factories import PAYLOADS, config, event_record, jsonable
from tests.nfe import OTHER_KEY, nfe_xml
from tests.tls import make_pki

pytestmark = pytest.mark.integration
TOKEN = "test-secret-value"  # the emulator's access token
MAX_BYTES = 20_000


class Server(Protocol):
    async def start(self) -> str: ...

    async def stop(self) -> None: ...


@contextmanager
def serving(*servers: Server) -> Iterator[list[str]]:
    """The servers on an event loop of their own, while the worker calls them."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield [asyncio.run_coroutine_threadsafe(s.start(), loop).result(10) for s in servers]
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def invoice_record(order: str, sequence: int = 1, **invoice: Any) -> dict[str, Any]:
    payload = {**PAYLOADS[EventType.INVOICE_AUTHORIZED]["invoice"], **invoice}
    return event_record(
        EventType.INVOICE_AUTHORIZED,
        integration="meli-1",
        order=order,
        sequence=sequence,
        invoice=payload,
    )


def test_the_nfe_releases_the_label_and_each_wrong_one_has_its_reason(
    settings: Settings, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    erp = ErpDocumentServer(pki.server_context())
    erp.documents["/nfe/O2.xml"] = nfe_xml().encode()
    erp.documents["/nfe/O6.xml"] = nfe_xml(padding=MAX_BYTES).encode()
    meli = MercadoLivreEmulator(TOKEN)
    orders = {f"O{n}": f"20000035084190{n:02d}" for n in range(1, 8)}
    for n, order in enumerate(orders.values(), start=1):
        logistic = "fulfillment" if n == 7 else "drop_off"
        meli.add_order(order, shipment_id=28264263900 + n, mode="me2", logistic_type=logistic)

    run_settings = replace(settings, nfe_max_bytes=MAX_BYTES, erp_ca_file=pki.ca_file)
    run = LocalRun(run_settings, tmp_path / "log", {"ORDERSYNC_SECRET_ML_TOKEN": TOKEN})
    with serving(meli, erp) as (meli_url, erp_url):
        try:
            run.start()
            apply_configs(
                settings,
                [
                    config(
                        integration_id="meli-1",
                        platform="mercadolivre",
                        store_url=meli_url,
                        credentials_ref="ML_TOKEN",
                        nfe_xml_hosts=[f"localhost:{erp.port}"],
                    )
                ],
            )
            wait_until(
                lambda: any(
                    c["integration_id"] == "meli-1" for c in run.worker_api("/api/integrations")
                ),
                30,
                "the worker to hold the integration",
            )
            other_host = erp_url.replace("localhost", "127.0.0.1")  # same server, not listed
            records = [
                invoice_record(orders["O1"], xml=nfe_xml()),
                invoice_record(orders["O2"], xml_url=f"{erp_url}/nfe/O2.xml"),
                invoice_record(orders["O3"], xml_url=f"{other_host}/nfe/O2.xml"),
                invoice_record(orders["O4"], xml=nfe_xml(key=OTHER_KEY)),
                invoice_record(orders["O5"], xml=nfe_xml(status="110")),
                invoice_record(orders["O6"], xml_url=f"{erp_url}/nfe/O6.xml"),
                invoice_record(orders["O7"]),
            ]
            lines = io.StringIO("\n".join(json.dumps(jsonable(r)) for r in records))
            report = publish_file(settings, lines)
            assert report.exit_code == 0 and report.published == len(records)
            result = run.wait_for_terminal(report.event_ids, timeout_s=90)
            outcomes = {
                eid: (row["outcome"], row["reason_code"]) for eid, row in result["events"].items()
            }
            ids = [r["event_id"] for r in records]
            assert [outcomes[i] for i in ids] == [
                ("SENT", "DELIVERED"),
                ("SENT", "DELIVERED"),
                ("DEAD_LETTERED", "NFE_URL_REFUSED"),
                ("INVALID", "NFE_KEY_MISMATCH"),
                ("INVALID", "NFE_NOT_AUTHORIZED"),
                ("INVALID", "NFE_TOO_LARGE"),
                ("SKIPPED", "NFE_ISSUED_BY_PLATFORM"),
            ]
            # the two documents released their labels; nothing else was uploaded
            released = {o for o in orders.values() if meli.label_available(o)}
            assert released == {orders["O1"], orders["O2"], orders["O7"]}  # Full never waited
            assert {i["fiscal_key"] for i in meli.invoices.values()} == {
                PAYLOADS[EventType.INVOICE_AUTHORIZED]["invoice"]["access_key"]
            }
            assert sorted(meli.invoices) == ["28264263901", "28264263902"]
            # orders run concurrently: in any order, and never from the other host
            assert sorted(erp.requests) == ["/nfe/O2.xml", "/nfe/O6.xml"]

            # the report names what is wrong, and where
            errors = {
                row["platform_order_id"]: row["error"]
                for row in run.api("/api/history?tab=erros&integration=meli-1")["rows"]
            }
            assert "'127.0.0.1'" in errors[orders["O3"]] and "nfe_xml_hosts" in errors[orders["O3"]]
            assert f"access key {OTHER_KEY}" in errors[orders["O4"]]
            assert "cStat is 110" in errors[orders["O5"]]
            assert f"over the {MAX_BYTES:,} bytes allowed" in errors[orders["O6"]]
            words = run.api("/api/catalogue?lang=pt")["reasons"]
            assert (
                words["NFE_KEY_MISMATCH"] == "Chave de acesso do XML diferente da chave do evento"
            )
        finally:
            run.stop()
            for process in run.processes:
                if process.log_path.exists():
                    print(f"--- {process.name} log (tail) ---")
                    print(
                        "\n".join(process.log_path.read_text(errors="replace").splitlines()[-30:])
                    )
