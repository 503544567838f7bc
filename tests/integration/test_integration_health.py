"""The "Saúde" tab's queries on the embedded engine, over outcomes the history store wrote."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from streams.history.health import combine, queries
from streams.history.report import ReportFilters
from streams.history.store import HistoryStore
from streams.records import Outcome, now_utc
from tests.integration.test_dashboards import outcome

pytestmark = pytest.mark.integration


def test_each_integration_of_the_tenant_with_its_figures(tmp_path: Path) -> None:
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    store.migrate()
    now = now_utc()
    rows = [
        outcome(f"s{i}", decided_at=now - timedelta(minutes=i),
                occurred_at=now - timedelta(minutes=i, seconds=i + 1))
        for i in range(10)
    ]  # fmt: skip
    rows += [
        outcome("x1", integration="loja-2", outcome=Outcome.DEAD_LETTERED, reason_code="AUTH_REJECTED"),
        outcome("x2", integration="loja-2", outcome=Outcome.RETRY_SCHEDULED, reason_code="TIMEOUT"),
        outcome("x3", integration="loja-2", outcome=Outcome.SKIPPED, reason_code="FULFILLMENT_MODE"),
        # fixed since: sent after its dead letter, so not an open error
        outcome("x4", integration="loja-2", outcome=Outcome.DEAD_LETTERED, decided_at=now - timedelta(hours=1)),
        outcome("x4", integration="loja-2", outcome=Outcome.RESENT, decided_at=now - timedelta(minutes=50)),
        outcome("x4", integration="loja-2", decided_at=now - timedelta(minutes=49)),
        # another tenant's, and one outside the period
        outcome("g1", tenant="globex", integration="loja-g", outcome=Outcome.DEAD_LETTERED),
        outcome("old", decided_at=now - timedelta(days=3)),
    ]  # fmt: skip
    store.insert_outcomes(rows)
    filters = ReportFilters.parse({"since": (now - timedelta(days=1)).isoformat()}, "acme")
    answers = {name: store.query(sql, params) for name, (sql, params) in queries(filters).items()}
    health = {
        row["integration"]: row
        for row in combine(answers["period"], answers["open_errors"], answers["pending"], [], 0)
    }
    assert set(health) == {"loja-1", "loja-2"}
    first = health["loja-1"]
    assert (first["sent"], first["errors"], first["success_rate"]) == (10, 0, 1.0)
    # 1..10 s from the ERP's event to the answer
    assert first["p50_ms"] in (5000.0, 6000.0) and first["p95_ms"] == 10000.0
    assert abs((first["last_success"] - now).total_seconds()) < 1
    second = health["loja-2"]
    assert (second["sent"], second["skipped"], second["errors"]) == (1, 1, 2)
    assert (second["open_errors"], second["pending"]) == (1, 1)
    assert second["success_rate"] == round(1 / 3, 4)
    assert second["problems"] == ["open_errors", "low_success"]
