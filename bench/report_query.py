"""The report's queries over a large history on the embedded engine.

    .venv/bin/python -m bench.report_query [--rows 1000000] [--repeat 7]

Fills a fresh chDB history with synthetic outcomes (20 tenants, 200 integrations,
one month, ~8 % errors), then times the queries the report page runs — one page plus
the total count — for typical filters, and writes ``bench/results/report_query.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.history.report import ReportFilters
from streams.history.store import COLUMNS, HistoryStore

RESULTS = Path(__file__).resolve().parent / "results" / "report_query.json"
OUTCOMES = (
    ["SENT"] * 85
    + ["SKIPPED"] * 5
    + ["RETRY_SCHEDULED"] * 2
    + ["DEAD_LETTERED"] * 6
    + ["INVALID"] * 2
)
EVENT_TYPES = [
    "INVOICE_AUTHORIZED",
    "PICKING_STARTED",
    "SHIPPED",
    "DELIVERED",
    "CANCELED",
    "STATUS_CHANGED",
]


def fill(store: HistoryStore, rows: int, start: datetime) -> None:
    rng = random.Random(7)
    batch = 100_000
    for first in range(0, rows, batch):
        data = []
        for n in range(first, min(first + batch, rows)):
            tenant = f"tenant-{n % 20:02d}"
            integration = f"{tenant}-loja-{n % 200:03d}"
            outcome = rng.choice(OUTCOMES)
            at = start + timedelta(seconds=rng.randrange(30 * 86400))
            values = {
                "outcome_id": uuid.UUID(int=rng.getrandbits(128)),
                "event_id": f"ev-{n // 2}",
                "tenant": tenant,
                "integration": integration,
                "platform": "vtex",
                "erp_order_id": f"E{n // 8}",
                "platform_order_id": f"P{n // 8}",
                "sequence": n % 8,
                "event_type": rng.choice(EVENT_TYPES),
                "action": "INVOICE",
                "outcome": outcome,
                "reason_code": "DELIVERED" if outcome == "SENT" else "HTTP_SERVER_ERROR",
                "attempt": 1,
                "http_status": 200 if outcome == "SENT" else 503,
                "latency_ms": rng.uniform(5, 300),
                "error": None if outcome == "SENT" else "GET /x answered 503",
                "occurred_at": at,
                "decided_at": at + timedelta(milliseconds=rng.randrange(5000)),
                "resend_of": None,
                "source_topic": "orders.events",
                "source_partition": n % 12,
                "source_offset": n,
            }
            data.append([values[c] for c in COLUMNS])
        store.client.insert("status_send_history", data, column_names=list(COLUMNS))


def timed(store: HistoryStore, filters: ReportFilters, repeat: int) -> dict[str, Any]:
    page_sql, params = filters.page_query()
    count_sql, _ = filters.count_query()
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = store.query(page_sql, params)
        total = store.query(count_sql, params)[0]["total"]
        durations.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(durations), 1),
        "max_ms": round(max(durations), 1),
        "rows_on_page": len(rows),
        "total": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="ordersync-bench-"))
    try:
        store = HistoryStore(f"chdb://{path}")
        store.migrate()
        start = datetime(2026, 10, 1, tzinfo=UTC)
        began = time.perf_counter()
        fill(store, args.rows, start)
        fill_s = time.perf_counter() - began
        week = (start + timedelta(days=10), start + timedelta(days=17))
        cases = {
            "todos, one tenant, one week": ReportFilters(
                tenant="tenant-03", since=week[0], until=week[1]
            ),
            "todos, one tenant, one integration, outcome": ReportFilters(
                tenant="tenant-03", integration="tenant-03-loja-003", outcome="DEAD_LETTERED"
            ),
            "todos, one order": ReportFilters(tenant="tenant-03", order="P1005"),
            "erros, one tenant": ReportFilters(tab="erros", tenant="tenant-03"),
            "erros, one tenant, one week": ReportFilters(
                tab="erros", tenant="tenant-03", since=week[0], until=week[1]
            ),
            "todos, all tenants, page 100": ReportFilters(page=100),
        }
        results = {name: timed(store, f, args.repeat) for name, f in cases.items()}
        for name, r in results.items():
            print(
                f"{name:<48} median {r['median_ms']:>7.1f} ms  max {r['max_ms']:>7.1f} ms  ({r['total']} rows)"
            )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "rows": args.rows,
                    "fill_seconds": round(fill_s, 1),
                    "repeat": args.repeat,
                    "queries": results,
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
