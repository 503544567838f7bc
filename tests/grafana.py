"""The Grafana dashboards' queries as their datasources run them.

The ClickHouse panels use grafana-clickhouse-datasource, whose backend expands its macros
before sending the SQL; ``expand_clickhouse_macros`` expands them the same way for a time
range, and refuses any macro it does not know (the plugin would fail the panel too).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
CLICKHOUSE = "grafana-clickhouse-datasource"
PROMETHEUS = "prometheus"


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def targets(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every panel whose datasource is of ``kind``."""
    found = []
    for dashboard in dashboards().values():
        for panel in dashboard["panels"]:
            if panel["datasource"]["type"] == kind:
                found += [(panel["title"], target) for target in panel["targets"]]
    return found


def _seconds(t: datetime) -> str:
    return f"toDateTime({int(t.timestamp())})"


def _millis(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"


def _date(t: datetime) -> str:
    return f"toDate('{t.strftime('%Y-%m-%d')}')"


def expand_clickhouse_macros(
    sql: str, start: datetime, end: datetime, interval_s: int = 3600
) -> str:
    with_argument = {
        "timeFilter": lambda c: f"{c} >= {_seconds(start)} AND {c} <= {_seconds(end)}",
        "timeFilter_ms": lambda c: f"{c} >= {_millis(start)} AND {c} <= {_millis(end)}",
        "dateFilter": lambda c: f"{c} >= {_date(start)} AND {c} <= {_date(end)}",
        "timeInterval": lambda c: (
            f"toStartOfInterval(toDateTime({c}), INTERVAL {max(interval_s, 1)} second)"
        ),
    }
    plain = {
        "fromTime_ms": _millis(start),
        "toTime_ms": _millis(end),
        "fromTime": _seconds(start),
        "toTime": _seconds(end),
        "interval_s": str(max(interval_s, 1)),
    }

    def call(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2).strip()
        if name not in with_argument:
            raise ValueError(f"unknown macro $__{name}(...)")
        return with_argument[name](argument)

    sql = re.sub(r"\$__(\w+)\(([^)]*)\)", call, sql)
    for name, value in plain.items():  # longest names first: fromTime_ms before fromTime
        sql = sql.replace(f"$__{name}", value)
    if "$__" in sql or re.search(r"\$\{?\w", sql):
        raise ValueError(f"a macro or variable left unexpanded: {sql}")
    return sql
