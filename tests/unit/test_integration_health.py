"""The "Saúde" tab's queries and how their answers become one row per integration."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from streams.history.health import LATE_WAIT_S, combine, queries
from streams.history.report import ReportFilters

NOW = 1_800_000_000.0


def test_every_query_is_limited_to_the_tokens_tenant_and_the_period() -> None:
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    filters = ReportFilters.parse(
        {"since": since.isoformat(), "until": until.isoformat(), "order": "P1"}, "acme"
    )
    for name, (sql, params) in queries(filters).items():
        assert params["tenant"] == "acme", name
        assert "tenant = {tenant:String}" in sql, name
        assert params["since"] == since and params["until"] == until, name
        assert "order" not in params, name  # the tab is per integration, not per order


def test_a_token_for_every_tenant_reads_every_tenant() -> None:
    for sql, params in queries(ReportFilters.parse({}, None)).values():
        assert "tenant" not in params and "{tenant:" not in sql


def test_the_counts_come_from_the_tabs_own_queries() -> None:
    filters = ReportFilters.parse({"integration": "loja-1"}, "acme")
    built = queries(filters)
    errors_tab = ReportFilters.parse({"tab": "erros", "integration": "loja-1"}, "acme")
    assert built["open_errors"] == errors_tab.by_integration_query()
    pending_tab = ReportFilters.parse({"tab": "pendentes", "integration": "loja-1"}, "acme")
    assert built["pending"] == pending_tab.by_integration_query()


def period_row(integration: str, sent: int, errors: int, **rest: object) -> dict[str, object]:
    return {
        "integration": integration,
        "tenant": "acme",
        "sent": sent,
        "skipped": rest.get("skipped", 0),
        "errors": errors,
        "p50_ms": rest.get("p50_ms", math.nan),  # ClickHouse's quantile of no rows
        "p95_ms": rest.get("p95_ms", math.nan),
        "ever_sent": sent > 0,
        "last_success": rest.get("last_success", datetime(1970, 1, 1)),
    }


def store(integration: str, **fields: object) -> dict[str, object]:
    return {
        "integration_id": integration,
        "tenant": "acme",
        "in_flight": 0,
        "queued": 0,
        "parked": 0,
        "oldest_wait_s": 0.0,
        "oldest_parked_s": 0.0,
        "circuit_open_s": 0.0,
        "paused_until": None,
        **fields,
    }


def test_the_unhealthy_come_first_each_with_what_is_wrong() -> None:
    last = datetime(2026, 11, 27, 12, 0)
    rows = combine(
        period=[
            period_row("fine", 100, 0, p50_ms=1500.0, p95_ms=4200.0, last_success=last),
            period_row("refused", 5, 20),
            period_row("some-errors", 95, 5),
        ],
        open_errors=[{"integration": "refused", "rows": 20}, {"integration": "some-errors", "rows": 5}],
        pending=[{"integration": "down", "rows": 7}],
        backlog=[
            store("down", circuit_open_s=400.0, queued=3, parked=4, in_flight=1,
                  paused_until=NOW + 30),
            store("slow", oldest_wait_s=10.0, oldest_parked_s=LATE_WAIT_S + 1),
            store("paused-before", paused_until=NOW - 1),
        ],
        now=NOW,
    )  # fmt: skip
    by_name = {row["integration"]: row for row in rows}
    # the most problems first; as many: the most open errors first
    assert [row["integration"] for row in rows] == [
        "refused",  # open errors, low success
        "down",  # circuit open, paused
        "some-errors",  # open errors, 95 % success
        "slow",  # an event parked past 15 minutes
        "fine",
        "paused-before",
    ]
    assert by_name["down"]["problems"] == ["circuit_open", "paused"]
    assert by_name["down"]["paused_until"] == datetime.fromtimestamp(NOW + 30, UTC)
    assert (by_name["down"]["queued"], by_name["down"]["parked"], by_name["down"]["sending"]) == (
        3,
        4,
        1,
    )
    assert by_name["refused"]["problems"] == ["open_errors", "low_success"]
    assert by_name["refused"]["success_rate"] == 0.2
    assert by_name["slow"]["problems"] == ["late"]
    assert by_name["some-errors"]["success_rate"] == 0.95
    fine = by_name["fine"]
    assert fine["problems"] == [] and fine["success_rate"] == 1.0
    assert (fine["p50_ms"], fine["p95_ms"]) == (1500.0, 4200.0)
    assert fine["last_success"] == last.replace(tzinfo=UTC)
    assert by_name["paused-before"]["paused_until"] is None  # the pause is over
    assert by_name["down"]["success_rate"] is None and by_name["down"]["p50_ms"] is None


def test_an_integration_that_never_sent_has_no_last_success() -> None:
    (row,) = combine([period_row("new", 0, 3)], [], [], [], NOW)
    assert row["last_success"] is None and row["p95_ms"] is None and row["success_rate"] == 0.0
