"""The history on the embedded ClickHouse engine: migrations and exactly-once batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from streams.history.migrations import MIGRATIONS
from streams.history.report import ReportFilters
from streams.history.store import HistoryStore
from streams.records import DispatchOutcome, Outcome, now_utc

pytestmark = pytest.mark.integration


def outcome(event_id: str) -> DispatchOutcome:
    return DispatchOutcome(
        event_id=event_id, tenant="acme", integration="loja-1", platform="sandbox",
        erp_order_id="E1", platform_order_id="P1", sequence=1, event_type="SHIPPED",
        action="SHIP", outcome=Outcome.SENT, reason_code="DELIVERED", attempt=1,
        occurred_at=now_utc(), decided_at=now_utc(), http_status=200, latency_ms=3.25,
    )  # fmt: skip


def test_migrations_are_idempotent_and_batches_deduplicate(tmp_path: Path) -> None:
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    assert store.migrate() == [version for version, _ in MIGRATIONS]
    assert store.migrate() == []
    batch = [outcome("e1"), outcome("e2")]
    store.insert_outcomes(batch, dedup_token="orders.outcomes:0:0-1:2")
    store.insert_outcomes(batch, dedup_token="orders.outcomes:0:0-1:2")  # a replayed batch
    store.insert_outcomes([outcome("e3")], dedup_token="orders.outcomes:0:2-2:1")
    rows = store.query(
        "SELECT event_id, http_status, latency_ms FROM status_send_history ORDER BY event_id"
    )
    assert [r["event_id"] for r in rows] == ["e1", "e2", "e3"]
    assert rows[0]["http_status"] == 200 and rows[0]["latency_ms"] == 3.25


def test_held_terminal_ids_are_found_within_their_orders(tmp_path: Path) -> None:
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    store.migrate()
    held = [outcome("e1"), replace(outcome("e2"), platform_order_id="P2")]
    store.insert_outcomes(held, dedup_token="orders.outcomes:0:0-1:2")
    other_order = replace(outcome("e3"), platform_order_id="P3", outcome_id=held[0].outcome_id)
    asked = [*held, outcome("e4"), other_order]
    # the same id in another order is not the outcome held: ids are per event, events per order
    assert store.existing_outcome_ids(asked) == {o.outcome_id for o in held}
    assert store.existing_outcome_ids([]) == set()


def test_views_answer_the_report_questions(tmp_path: Path) -> None:
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    store.migrate()
    start = now_utc()
    failed = replace(outcome("e1"), outcome=Outcome.DEAD_LETTERED, decided_at=start)
    later_sent = replace(outcome("e1"), decided_at=start + timedelta(seconds=1))
    still_failed = replace(
        outcome("e2"), outcome=Outcome.INVALID, decided_at=start + timedelta(seconds=2)
    )
    store.insert_outcomes([failed])
    store.insert_outcomes([later_sent, still_failed])
    latest = {
        r["event_id"]: r["outcome"]
        for r in store.query("SELECT event_id, outcome FROM latest_outcome")
    }
    assert latest == {"e1": "SENT", "e2": "INVALID"}
    assert [r["event_id"] for r in store.query("SELECT event_id FROM open_errors")] == ["e2"]
    timeline = store.query(
        "SELECT outcome FROM order_timeline(tenant='acme', integration='loja-1', order='P1')"
    )
    assert [r["outcome"] for r in timeline] == ["DEAD_LETTERED", "SENT", "INVALID"]
    daily = store.query(
        "SELECT outcome, sum(outcomes) AS n FROM daily_outcomes GROUP BY outcome ORDER BY outcome"
    )
    assert daily == [
        {"outcome": "DEAD_LETTERED", "n": 1},
        {"outcome": "INVALID", "n": 1},
        {"outcome": "SENT", "n": 1},
    ]


def test_a_terminal_outcome_stays_the_latest_until_a_resend(tmp_path: Path) -> None:
    """A worker killed before an event's state was written replays it: the replay's
    attempts come after the event's terminal outcome (their own terminal one is dropped
    as a repeat) and must not reopen it; a resend does."""
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    store.migrate()
    start = now_utc()

    def at(event_id: str, seconds: int, result: Outcome) -> DispatchOutcome:
        return replace(
            outcome(event_id), outcome=result, decided_at=start + timedelta(seconds=seconds)
        )

    store.insert_outcomes(
        [
            at("sent-then-replayed", 0, Outcome.SENT),
            at("sent-then-replayed", 1, Outcome.RETRY_SCHEDULED),
            at("failed-then-replayed", 0, Outcome.DEAD_LETTERED),
            at("failed-then-replayed", 1, Outcome.RETRY_SCHEDULED),
            at("resent-and-waiting", 0, Outcome.DEAD_LETTERED),
            at("resent-and-waiting", 1, Outcome.RESENT),
            at("resent-and-waiting", 2, Outcome.RETRY_SCHEDULED),
            at("waiting", 0, Outcome.RETRY_SCHEDULED),
        ]
    )
    latest = {
        r["event_id"]: r["outcome"]
        for r in store.query("SELECT event_id, outcome FROM latest_outcome")
    }
    assert latest == {
        "sent-then-replayed": "SENT",
        "failed-then-replayed": "DEAD_LETTERED",
        "resent-and-waiting": "RETRY_SCHEDULED",
        "waiting": "RETRY_SCHEDULED",
    }
    errors_tab, params = ReportFilters(tab="erros").page_query()
    assert [r["event_id"] for r in store.query(errors_tab, params)] == ["failed-then-replayed"]
    assert [r["event_id"] for r in store.query("SELECT event_id FROM open_errors")] == [
        "failed-then-replayed"
    ]


def test_pendentes_lists_what_is_not_finished_with_its_due_time(tmp_path: Path) -> None:
    store = HistoryStore(f"chdb://{tmp_path / 'ch'}")
    store.migrate()
    start = now_utc()
    due = start + timedelta(seconds=30)
    store.insert_outcomes(
        [
            replace(outcome("retrying"), outcome=Outcome.RETRY_SCHEDULED, due_at=due),
            replace(
                outcome("held"),
                outcome=Outcome.WAITING,
                reason_code="ORDER_HELD",
                erp_order_id="ERP-77",
                platform_order_id="P77",
            ),
            replace(outcome("done"), outcome=Outcome.WAITING, decided_at=start),
            replace(outcome("done"), decided_at=start + timedelta(seconds=1)),
        ]
    )
    sql, params = ReportFilters(tab="pendentes").page_query()
    rows = {r["event_id"]: r for r in store.query(sql, params)}
    assert set(rows) == {"retrying", "held"}
    assert abs((rows["retrying"]["due_at"] - due.replace(tzinfo=None)).total_seconds()) < 0.01
    assert rows["held"]["reason_code"] == "ORDER_HELD"
    counts = store.query(*ReportFilters(tab="pendentes").by_integration_query())
    assert counts == [{"integration": "loja-1", "rows": 2}]
    # an order is found by the start of its ERP id or of its platform id
    for prefix in ("ERP-7", "P7"):
        sql, params = ReportFilters(tab="pendentes", order=prefix).page_query()
        assert [r["event_id"] for r in store.query(sql, params)] == ["held"], prefix
