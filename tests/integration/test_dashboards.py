"""Every ClickHouse panel of the Grafana dashboards runs, macros expanded as the
datasource plugin expands them, against the embedded engine holding outcomes written by
the history store itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from streams.history.store import HistoryStore
from streams.records import DispatchOutcome, Outcome, now_utc
from tests.grafana import CLICKHOUSE, expand_clickhouse_macros, targets

pytestmark = pytest.mark.integration


def outcome(event_id: str, **fields: object) -> DispatchOutcome:
    decided = now_utc()
    base = DispatchOutcome(
        event_id=event_id, tenant="acme", integration="loja-1", platform="sandbox",
        erp_order_id="E1", platform_order_id=f"P-{event_id}", sequence=1,
        event_type="SHIPPED", action="SHIP", outcome=Outcome.SENT, reason_code="DELIVERED",
        attempt=1, occurred_at=decided - timedelta(seconds=1), decided_at=decided,
        http_status=200, latency_ms=120.0,
    )  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> HistoryStore:
    store = HistoryStore(f"chdb://{tmp_path_factory.mktemp('dashboards') / 'ch'}")
    store.migrate()
    now = now_utc()
    rows = []
    # loja-1: twenty sends over two days, the ERP's event 1..20 s before the answer
    for i in range(20):
        decided = now - timedelta(hours=2 * i)
        rows.append(
            outcome(f"s{i}", decided_at=decided, occurred_at=decided - timedelta(seconds=i + 1))
        )
    rows += [
        outcome("d1", integration="loja-2", platform="tray", outcome=Outcome.DEAD_LETTERED,
                reason_code="AUTH_REJECTED", http_status=401),
        outcome("w1", integration="loja-2", platform="tray", outcome=Outcome.WAITING,
                reason_code="STORE_QUEUED", action="", attempt=0, latency_ms=None),
        outcome("r1", integration="loja-1", outcome=Outcome.RETRY_SCHEDULED,
                reason_code="RATE_LIMITED", http_status=429),
        outcome("k1", integration="loja-ff", outcome=Outcome.SKIPPED,
                reason_code="FULFILLMENT_MODE", action="", attempt=0, latency_ms=None),
    ]  # fmt: skip
    store.insert_outcomes(rows)
    return store


PANELS = targets(CLICKHOUSE)


def test_the_dashboards_have_the_panels_the_operators_need() -> None:
    sql = " ".join(target["rawSql"] for _, target in PANELS)
    for source in ("daily_outcomes", "open_errors", "latest_outcome", "quantile(0.95)"):
        assert source in sql


@pytest.mark.parametrize(("title", "target"), PANELS, ids=[title for title, _ in PANELS])
def test_each_clickhouse_panel_runs_and_finds_the_outcomes(
    history: HistoryStore, title: str, target: dict[str, str]
) -> None:
    end = now_utc() + timedelta(minutes=1)  # the plugin sends whole seconds
    sql = expand_clickhouse_macros(target["rawSql"], end - timedelta(days=7), end)
    rows = history.query(sql)
    assert rows, f"{title}: no rows from {sql}"


def test_time_to_platform_per_integration_is_measured_from_the_erp_event(
    history: HistoryStore,
) -> None:
    (target,) = [t for title, t in PANELS if "p50/p95 por integração" in title]
    end = now_utc() + timedelta(minutes=1)  # the plugin sends whole seconds
    sql = expand_clickhouse_macros(target["rawSql"], end - timedelta(days=7), end)
    rows = {row["integration"]: row for row in history.query(sql)}
    assert set(rows) == {"loja-1"}  # only sends count; loja-2 sent nothing
    # 1..20 s from the ERP's event to the answer: ClickHouse's quantile interpolates
    assert rows["loja-1"]["sent"] == 20
    assert 9.5 <= rows["loja-1"]["p50_s"] <= 11.5 and 18.0 <= rows["loja-1"]["p95_s"] <= 20.0


def test_the_period_is_honoured(history: HistoryStore) -> None:
    (target,) = [t for title, t in PANELS if "p50/p95 por integração" in title]
    end = now_utc() + timedelta(minutes=1)  # the plugin sends whole seconds
    sql = expand_clickhouse_macros(target["rawSql"], end - timedelta(hours=5), end)
    (row,) = history.query(sql)
    assert row["sent"] == 3  # decided 0, 2 and 4 hours ago


def test_an_unknown_macro_is_refused(tmp_path: Path) -> None:
    end = now_utc() + timedelta(minutes=1)  # the plugin sends whole seconds
    with pytest.raises(ValueError, match="unknown macro"):
        expand_clickhouse_macros("SELECT 1 WHERE $__notAMacro(x)", end, end)
    with pytest.raises(ValueError, match="unexpanded"):
        expand_clickhouse_macros("SELECT 1 WHERE x = $tenant", end, end)
