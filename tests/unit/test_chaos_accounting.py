"""The chaos run's accounting: each repeated delivery is held to the worker fault it
followed; every event's fate is counted from its outcomes; the resends are waited for; and
the run fails when a count that must be 0 is not."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import chaos.run as chaos_run
from chaos.run import (
    EVENT_OUTCOMES_SQL,
    MUST_BE_ZERO,
    TERMINAL,
    Chaos,
    attribute_repeats,
    failures,
    fates,
    valid_with_outcome,
)
from streams.history.store import HistoryStore
from streams.records import DispatchOutcome, Outcome


def test_repeats_are_held_to_the_sends_in_flight_at_each_fault() -> None:
    faults = [
        {"signal": "SIGKILL", "at": 100.0, "gone_at": 100.2, "sending": ["a", "b"]},
        {"signal": "SIGTERM", "at": 200.0, "gone_at": 203.0, "sending": ["c"]},
    ]
    repeated = [
        {"event_id": "a", "action": "invoice", "first_received_at": 99.0},  # in the snapshot
        {"event_id": "x", "action": "invoice", "first_received_at": 100.9},  # sent after it
        {"event_id": "c", "action": "invoice", "first_received_at": 199.0},  # graceful: a fault
        {"event_id": "z", "action": "cancel", "first_received_at": 150.0},  # no fault near
    ]
    blame = attribute_repeats(repeated, faults)
    assert blame["counts"] == {"SIGKILL": 2, "SIGTERM": 1}
    assert [r["event_id"] for r in blame["outside"]] == ["z"]


# -- every event's fate, counted from its outcomes -----------------------------------------
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def row(event_id: str, outcome: Outcome, second: int, resend_of: str | None = None) -> Any:
    return DispatchOutcome(
        event_id=event_id, tenant="chaos", integration="chaos-000", platform="sandbox",
        erp_order_id=f"E-{event_id}", platform_order_id=f"P-{event_id}", sequence=1,
        event_type="SHIPPED", action="SHIP", outcome=outcome, reason_code="X", attempt=1,
        occurred_at=T0, decided_at=T0 + timedelta(seconds=second), resend_of=resend_of,
    )  # fmt: skip


# each event's history, and what it must count as (lost, several terminals, dead-lettered
# at first, sent at all)
HISTORIES: dict[str, tuple[list[tuple[Outcome, int, str | None]], tuple[int, int, int, int]]] = {
    "sent": ([(Outcome.SENT, 1, None)], (0, 0, 0, 1)),
    "skipped": ([(Outcome.SKIPPED, 1, None)], (0, 0, 0, 0)),
    "retried-then-sent": (
        [(Outcome.RETRY_SCHEDULED, 1, None), (Outcome.SENT, 3, None)],
        (0, 0, 0, 1),
    ),
    "only-retries": ([(Outcome.RETRY_SCHEDULED, 1, None)], (1, 0, 0, 0)),
    "never-seen": ([], (1, 0, 0, 0)),
    "two-terminals": ([(Outcome.SENT, 1, None), (Outcome.DEAD_LETTERED, 2, None)], (0, 1, 1, 1)),
    # dead-lettered, resent, then sent: the report's latest outcome is SENT
    "resent-and-sent": (
        [
            (Outcome.DEAD_LETTERED, 1, None),
            (Outcome.RESENT, 2, None),
            (Outcome.SENT, 3, "resend-1"),
        ],
        (0, 0, 1, 1),
    ),
    # sent, then resent by hand and not handled yet: the report's latest outcome is RESENT
    "sent-then-resent": ([(Outcome.SENT, 1, None), (Outcome.RESENT, 2, None)], (0, 0, 0, 1)),
    # a resend's terminal outcome is not a second terminal of the event's first run
    "resent-twice": (
        [
            (Outcome.DEAD_LETTERED, 1, None),
            (Outcome.RESENT, 2, None),
            (Outcome.DEAD_LETTERED, 3, "resend-1"),
        ],
        (0, 0, 1, 0),
    ),
}


def test_the_fates_are_counted_from_the_outcomes_the_history_holds(tmp_path: Path) -> None:
    """The chaos run's own query, on the embedded ClickHouse, over histories where the
    report's latest-outcome rule and the outcomes themselves tell different stories."""
    store = HistoryStore(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        store.migrate()
        outcomes = [
            row(event_id, outcome, second, resend_of)
            for event_id, (history, _) in HISTORIES.items()
            for outcome, second, resend_of in history
        ]
        other_tenant = replace(row("sent", Outcome.SENT, 5), tenant="someone-else")
        store.insert_outcomes([*outcomes, other_tenant, replace(other_tenant, event_id="x")])
        rows = store.query(EVENT_OUTCOMES_SQL, {"terminal": TERMINAL, "tenant": "chaos"})
    finally:
        store.close()
    by_event = {r["event_id"]: r for r in rows}
    for event_id, (_, (lost, multi, dead, sent)) in HISTORIES.items():
        got = fates([event_id], by_event)
        assert (got["lost"], got["multi_terminal"], got["dead_lettered"], got["sent"]) == (
            lost,
            multi,
            dead,
            sent,
        ), event_id
        assert got["terminal_once"] == (1 if not lost and not multi else 0), event_id
    everything = fates(HISTORIES, by_event)
    assert everything == {
        "published": 9,
        "terminal_once": 6,
        "lost": 2,
        "multi_terminal": 1,
        "dead_lettered": 3,
        "sent": 5,
    }


# -- the fuzz phase's valid events ---------------------------------------------------------
def test_a_valid_event_counts_only_with_an_outcome_a_valid_event_may_end_with() -> None:
    lookup = {
        "sent": {"outcome": "SENT"},
        "skipped": {"outcome": "SKIPPED"},
        "superseded": {"outcome": "SUPERSEDED"},
        "dead": {"outcome": "DEAD_LETTERED"},
        "invalid": {"outcome": "INVALID"},  # taken for a bad record: not a valid event's end
        "retrying": {"outcome": "RETRY_SCHEDULED"},
        "waiting": {"outcome": "WAITING"},
        "resent": {"outcome": "RESENT"},
    }
    assert valid_with_outcome([*lookup, "never-seen"], lookup) == 4
    assert valid_with_outcome(["invalid"], lookup) == 0


# -- waiting for the resends ---------------------------------------------------------------
class LookupRun:
    """The history's /api/lookup over outcomes that change as the test says."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes
        self.asked: list[list[str]] = []

    def api(self, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        assert path == "/api/lookup"
        self.asked.append(list(body["event_ids"]))
        events = {e: {"outcome": self.outcomes[e]} for e in body["event_ids"] if e in self.outcomes}
        return {"events": events}


def chaos_object() -> Chaos:
    chaos = Chaos.__new__(Chaos)  # no stack: only the accounting is used
    chaos.log = []
    return chaos


def test_resends_that_do_not_settle_in_time_are_returned_and_fail_the_run() -> None:
    run = LookupRun({"a": "SENT", "b": "RESENT", "c": "RETRY_SCHEDULED"})
    waiting = chaos_object().wait_for_resends(run, ["a", "b", "c", "d"], 0.1, 0.01)  # type: ignore[arg-type]
    assert waiting == ["b", "c", "d"]
    assert failures(clean_result() | {"resends_unsettled": len(waiting)}) == [
        "resends_unsettled = 3"
    ]


def test_resends_that_settle_are_waited_for() -> None:
    run = LookupRun({"a": "RESENT", "b": "DEAD_LETTERED"})
    calls = iter([None, {"a": "SENT"}])

    def api(path: str, body: Any = None, timeout: float = 30.0) -> Any:
        change = next(calls, None)
        if change:
            run.outcomes.update(change)
        return LookupRun.api(run, path, body, timeout)

    run.api = api  # type: ignore[method-assign]
    assert chaos_object().wait_for_resends(run, ["a", "b"], 30, 0.01) == []  # type: ignore[arg-type]
    assert run.asked == [["a", "b"], ["a"]]  # settled ones are not asked again


# -- make chaos's exit status ------------------------------------------------------------------
def clean_result() -> dict[str, Any]:
    return dict.fromkeys(MUST_BE_ZERO, 0)


@pytest.mark.parametrize("name", MUST_BE_ZERO)
def test_each_count_that_must_be_zero_fails_the_run(name: str) -> None:
    assert failures(clean_result()) == []
    assert failures(clean_result() | {name: 1}) == [f"{name} = 1"]
    assert failures({k: v for k, v in clean_result().items() if k != name}) == [f"{name} = None"]


class FakeStack:
    def up(self) -> None:
        pass

    def down(self) -> None:
        pass


def faults_and_fuzz(**bad: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the two phases hand ``main``, all well unless ``bad`` says otherwise."""
    first = {
        "published": 10, "terminal_once": 10, "lost": 0, "multi_terminal": 0,
        "duplicate_deliveries": 0, "dead_lettered": 2, "sent": 8,
    }  # fmt: skip
    first.update({k: v for k, v in bad.items() if k in ("lost", "multi_terminal")})
    faults = {
        "first": first,
        "after_resend": first | {"sent": 10},
        "repeats_after_graceful_stop": bad.get("repeats_after_graceful_stop", 0),
        "repeats_outside_worker_kills": bad.get("repeats_outside_worker_kills", []),
        "resends_unsettled": bad.get("resends_unsettled", []),
    }
    fuzz = {"fuzz_records": 5, "fuzz_crashes": bad.get("fuzz_crashes", 0)}
    fuzz["header_and_key_unexpected"] = []
    return faults, fuzz


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"lost": 1},
        {"multi_terminal": 2},
        {"fuzz_crashes": 1},
        {"repeats_outside_worker_kills": [{"event_id": "z"}]},
        {"repeats_after_graceful_stop": 1},
        {"resends_unsettled": ["b"]},
    ],
    ids=lambda bad: next(iter(bad), "clean"),
)
def test_make_chaos_exits_non_zero_when_a_count_that_must_be_zero_is_not(
    bad: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults, fuzz = faults_and_fuzz(**bad)

    class Phases:
        def __init__(self, settings: Any) -> None:
            self.stack = FakeStack()
            self.log: list[str] = []

        def note(self, text: str) -> None:
            self.log.append(text)

        def faults_run(self) -> dict[str, Any]:
            return faults

        def fuzz_run(self) -> dict[str, Any]:
            return fuzz

    monkeypatch.setattr(chaos_run, "Chaos", Phases)
    monkeypatch.setattr(chaos_run, "chaos_settings", lambda: None)
    monkeypatch.setattr(chaos_run, "console_logging", lambda: None)
    monkeypatch.setattr(chaos_run, "RESULTS", tmp_path)
    assert chaos_run.main() == (1 if bad else 0)
    written = json.loads((tmp_path / "latest.json").read_text())
    counted = {name: len(v) if isinstance(v, list) else v for name, v in bad.items()}
    assert {name: written[name] for name in MUST_BE_ZERO} == clean_result() | counted
