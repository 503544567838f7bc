"""The report's words and its CSV, without a history behind them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from streams.history import catalogue
from streams.history.export import ZoneError, to_csv, zone
from streams.reasons import ReasonCode
from streams.records import Action, EventType, Outcome


@pytest.mark.parametrize("lang", catalogue.LANGUAGES)
def test_every_code_has_a_text_in_each_language(lang: str) -> None:
    words = catalogue.catalogue(lang)
    assert set(words["outcomes"]) == {o.value for o in Outcome}
    assert set(words["event_types"]) == {e.value for e in EventType}
    assert set(words["actions"]) == {a.value for a in Action}
    assert set(words["reasons"]) == {r.value for r in ReasonCode}
    every = [*words["outcomes"].values(), *words["event_types"].values()]
    assert all(text.strip() and text != text.upper() for text in every)  # texts, not codes


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "decided_at": datetime(2026, 11, 27, 21, 59, 0, tzinfo=UTC),
        "occurred_at": datetime(2026, 11, 27, 21, 58, 30),  # naive: UTC, as chDB may give it
        "integration": "loja-1",
        "platform": "vtex",
        "erp_order_id": "ERP-1",
        "platform_order_id": "=1+1",
        "event_type": "INVOICE_AUTHORIZED",
        "action": "INVOICE",
        "outcome": "DEAD_LETTERED",
        "reason_code": "HTTP_SERVER_ERROR",
        "attempt": 3,
        "due_at": None,
        "http_status": 503,
        "latency_ms": 153.26,
        "error": "Serviço indisponível; tente já",
        "event_id": "e-1",
    }
    return base | overrides


def test_the_pt_csv_opens_in_a_brazilian_spreadsheet() -> None:
    text = to_csv([row()], "pt", zone("America/Sao_Paulo"))
    assert text.startswith("\ufeff")  # UTF-8 with a byte order mark: accents intact
    lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    header, cells = lines
    assert len(header) == len(cells)  # one column per field, even with ';' in a text
    got = dict(zip(header, cells, strict=True))
    assert got["Data"] == "27/11/2026 18:59:00"  # São Paulo time, not UTC
    assert got["Data no ERP"] == "27/11/2026 18:58:30"
    assert got["Resultado"] == "Com erro"
    assert got["Evento"] == "NF-e autorizada"
    assert got["Ação"] == "Enviar nota fiscal"
    assert got["Motivo"] == "Erro no servidor da plataforma"
    assert got["Código do motivo"] == "HTTP_SERVER_ERROR"
    assert got["Latência (ms)"] == "153,3"
    assert got["Pedido na plataforma"] == "'=1+1"  # shown, not run
    assert got["Detalhe técnico"] == "Serviço indisponível; tente já"


def test_the_en_csv_uses_commas_and_english() -> None:
    text = to_csv([row(outcome="WAITING", reason_code="ORDER_HELD")], "en", zone("UTC"))
    header, cells = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    got = dict(zip(header, cells, strict=True))
    assert got["Date"] == "2026-11-27 21:59:00"
    assert got["Outcome"] == "Waiting"
    assert got["Reason"] == "Waiting for the order's earlier event"


def test_an_unknown_zone_is_refused_by_name() -> None:
    with pytest.raises(ZoneError, match="Mars/Olympus"):
        zone("Mars/Olympus")
