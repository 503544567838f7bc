"""What the alerts read: how long a store's circuit has been open or its pauses have held
it, how long its parked events have been away, which integration dead-letters, readiness."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from connectors import budget
from connectors.budget import CircuitBreaker, RateLimiter
from streams.records import DispatchOutcome, Outcome
from streams.settings import Settings
from streams.worker import metrics
from streams.worker.backlog import BacklogCollector, BacklogReport
from streams.worker.limits import AdaptiveLimit
from streams.worker.messages import Handled, OutgoingRecord
from streams.worker.pool import ConnectorPool, StoreHealth
from streams.worker.stores import PARKED_LOST_AFTER_S, StoreGate, Stores
from tests.factories import config, event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(budget.time, "monotonic", fake)
    return fake


def test_a_breaker_counts_its_open_time_across_failed_probes(clock: Clock) -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=10)
    for _ in range(2):
        breaker.unanswered()
    assert breaker.open_for_s() == 0.0  # not open yet
    breaker.unanswered()
    clock.now += 25
    breaker.unanswered()  # the probe went unanswered: open again, since the first time
    clock.now += 5
    assert breaker.open_for_s() == 30.0
    breaker.answered()
    assert breaker.open_for_s() == 0.0


def test_pauses_one_after_another_are_one_run(clock: Clock) -> None:
    limiter = RateLimiter(None, longest_pause_s=60)
    limiter.pause(60)
    clock.now += 61  # the pause ended; the next call was refused again a second later
    assert limiter.paused_run_s() == 0.0
    limiter.pause(60)
    clock.now += 30
    assert limiter.paused_run_s() == 91.0
    clock.now += 30 + budget.PAUSE_RUN_GAP_S + 1  # a quiet while, then a new refusal
    limiter.pause(10)
    assert limiter.paused_run_s() == 0.0
    clock.now += 4
    assert limiter.paused_run_s() == 4.0


def test_a_gate_knows_how_long_its_parked_events_have_been_away() -> None:
    gate = StoreGate("loja-1", AdaptiveLimit(4))
    assert gate.oldest_parked_s() == 0.0
    gate.park("p1", due_s=time.time() + 60)
    gate.park("p2", due_s=time.time() + 60)
    gate._parked_at["p1"] = (time.time() - 120, time.time() + 60)  # parked two minutes ago
    assert gate.parked == 2 and 119 < gate.oldest_parked_s() < 125
    gate.unpark("p1")
    assert gate.parked == 1 and gate.oldest_parked_s() < 5
    # due long ago and never back here: another worker took it after a rebalance
    gate._parked_at["p2"] = (time.time() - 2000, time.time() - PARKED_LOST_AFTER_S - 1)
    assert gate.oldest_parked_s() == 0.0


def test_the_pool_names_the_stores_it_is_not_calling(tmp_path: Path) -> None:
    pool = ConnectorPool(Settings.from_env({"ORDERSYNC_SECRETS_DIR": str(tmp_path)}))
    quiet = pool.get(config(integration_id="loja-ok"))
    down = pool.get(config(integration_id="loja-down"))
    paused = pool.get(config(integration_id="loja-429", tenant="globex"))
    assert pool.health() == []
    for _ in range(3):
        down.breaker.unanswered()
    paused.limiter.pause(30)
    rows = {row.store: row for row in pool.health()}
    assert set(rows) == {"loja-down", "loja-429"} and quiet is not None
    assert rows["loja-down"].paused_until is None and rows["loja-down"].paused_s == 0.0
    assert rows["loja-429"].tenant == "globex" and rows["loja-429"].circuit_open_s == 0.0
    assert rows["loja-429"].paused_until is not None
    assert 25 < rows["loja-429"].paused_until - time.time() <= 30


def test_a_store_not_called_is_in_the_snapshot_and_the_gauges() -> None:
    stores = Stores(4, 64)
    until = time.time() + 30
    report = BacklogReport(
        stores,
        lambda store: "acme",
        "host:1",
        5.0,
        lambda: [StoreHealth("loja-2", "acme", 120.0, 700.0, until)],
    )
    snapshot = report.due()
    assert snapshot is not None
    (row,) = snapshot["stores"]
    assert row["integration_id"] == "loja-2" and row["circuit_open_ms"] == 120_000
    assert row["paused_until"] == round(until * 1000) and row["queued"] == 0
    registry = CollectorRegistry()
    collector = BacklogCollector()
    registry.register(collector)
    collector.track(report)
    text = generate_latest(registry).decode()
    assert 'ordersync_store_circuit_open_seconds{store="loja-2",tenant="acme"} 120.0' in text
    assert 'ordersync_store_paused_seconds{store="loja-2",tenant="acme"} 700.0' in text


def dead_letter() -> OutgoingRecord:
    return OutgoingRecord("orders.dlt", b"k", b"v", [("ordersync.error.reason", b"HTTP_4XX")])


def test_dead_letters_are_counted_per_integration() -> None:
    failed = DispatchOutcome.for_event(
        event(integration="loja-9"), "sandbox", outcome=Outcome.DEAD_LETTERED, reason_code="X"
    )
    before = metrics.DEAD_LETTERS.labels("acme", "loja-9", "HTTP_4XX")._value.get()
    metrics.observe_handled(Handled([failed], dead_letters=[dead_letter()]), None)
    after = metrics.DEAD_LETTERS.labels("acme", "loja-9", "HTTP_4XX")._value.get()
    assert after == before + 1


def test_an_invalid_events_names_are_not_made_labels() -> None:
    invalid = DispatchOutcome.for_event(
        event(integration="whatever-the-input-said"), "", outcome=Outcome.INVALID, reason_code="X"
    )
    before = metrics.DEAD_LETTERS.labels("", "", "HTTP_4XX")._value.get()
    metrics.observe_handled(Handled([invalid], dead_letters=[dead_letter()]), None)
    assert metrics.DEAD_LETTERS.labels("", "", "HTTP_4XX")._value.get() == before + 1
    assert 'integration="whatever-the-input-said"' not in generate_latest().decode()
