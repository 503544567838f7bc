"""The report's selection as a CSV a spreadsheet in the operator's language opens as is.

pt-BR spreadsheets (Excel, LibreOffice) split on ``;`` and read UTF-8 only after a byte
order mark; decimals take a comma there. Times are the operator's local times; codes are
given as texts (the reason's code beside it); a cell that starts like a formula is
quoted so it is shown, not run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.history.catalogue import COLUMNS, text

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = {"pt": "%d/%m/%Y %H:%M:%S", "en": "%Y-%m-%d %H:%M:%S"}
DEFAULT_ZONE = "America/Sao_Paulo"


class ZoneError(ValueError):
    pass


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(f"tz: unknown time zone {name!r}") from None


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet will show, not run: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def local_time(value: Any, tz: ZoneInfo, lang: str) -> str:
    if not isinstance(value, datetime):
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime(TIME_FORMAT[lang])


def cells(row: dict[str, Any], tz: ZoneInfo, lang: str) -> list[Any]:
    def value(column: str) -> Any:
        if column in ("decided_at", "occurred_at", "due_at"):
            return local_time(row.get(column), tz, lang)
        if column == "outcome":
            return text("outcomes", row.get("outcome") or "", lang)
        if column == "event_type":
            return text("event_types", row.get("event_type") or "", lang)
        if column == "action":
            return text("actions", row.get("action") or "", lang)
        if column == "reason":
            return text("reasons", row.get("reason_code") or "", lang)
        found = row.get(column)
        if column == "latency_ms" and found is not None:
            number = f"{float(found):.1f}"
            return number.replace(".", ",") if lang == "pt" else number
        return "" if found is None else found

    return [spreadsheet_safe(value(column)) for column in COLUMNS[lang]]


def to_csv(rows: Iterable[dict[str, Any]], lang: str, tz: ZoneInfo) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";" if lang == "pt" else ",", lineterminator="\r\n")
    writer.writerow(COLUMNS[lang].values())
    for row in rows:
        writer.writerow(cells(row, tz, lang))
    return out.getvalue()
