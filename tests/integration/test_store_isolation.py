"""One metered store's burst, on the real broker: the other stores are served meanwhile; the
burst's events beyond a second of the store's work are parked and come back in order; the
backlog is visible in the worker's API, its metrics and the history API while it lasts."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.local import LocalRun, http_json
from streams.local.stack.process import wait_until
from streams.ops.publish import publish_records
from streams.records import EventType
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply

pytestmark = pytest.mark.integration

BIG = "big"
OTHERS = [f"small-{i:02d}" for i in range(20)]
BURST = 200  # at 5 calls/s: about 40 s of the big store's work


@pytest.fixture
def run(settings: Settings, tmp_path: Path) -> Iterator[LocalRun]:
    # a second of a store's work waits in memory; the rest is parked
    local = LocalRun(settings, tmp_path / "log", {"ORDERSYNC_STORE_QUEUE_S": "1"})
    try:
        local.start()
        yield local
    finally:
        local.stop()


def big_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((row for row in rows if row["integration_id"] == BIG), None)


def test_a_metered_stores_burst_holds_back_no_other_store(
    settings: Settings, run: LocalRun
) -> None:
    for store in [BIG, *OTHERS]:
        apply(
            settings,
            run,
            config(integration_id=store, store_url=f"{run.sandbox_url}/stores/{store}/"),
        )
    http_json(
        f"{run.sandbox_url}/_model", {"store": "*", "latency": {"median_ms": 50, "p99_ms": 150}}
    )
    http_json(
        f"{run.sandbox_url}/_model",
        {
            "store": BIG,
            "latency": {"median_ms": 50, "p99_ms": 150},
            "bucket": {"capacity": 5, "drain_per_s": 5},
        },
    )
    # the burst: one order invoiced and shipped (its order must hold through parking),
    # the rest invoiced once each
    burst = [event_record(EventType.INVOICE_AUTHORIZED, integration=BIG, order="B-HELD")]
    burst += [
        event_record(EventType.INVOICE_AUTHORIZED, integration=BIG, order=f"B{n}")
        for n in range(BURST - 2)
    ]
    burst.append(event_record(EventType.SHIPPED, integration=BIG, order="B-HELD", sequence=2))
    burst_ids = publish_records(settings, burst).event_ids

    # the worker parks what is beyond the store's next second
    def parked() -> bool:
        row = big_row(run.worker_api("/api/backlog")["stores"])
        return row is not None and row["parked"] > 0

    wait_until(parked, 30, "the big store's events to be parked", 0.1)
    with urllib.request.urlopen(f"{run.worker_url}/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    assert f'ordersync_store_parked{{store="{BIG}",tenant="acme"}}' in metrics

    others = [
        event_record(EventType.INVOICE_AUTHORIZED, integration=store, order=f"S-{store}")
        for store in OTHERS
    ]
    other_ids = publish_records(settings, others).event_ids
    run.wait_for_terminal(other_ids, timeout_s=30)
    big_done = int(http_json(f"{run.sandbox_url}/_stats?store={BIG}")["received"])
    assert big_done < BURST - 20, (
        "the burst was through before the other stores: nothing was tested"
    )

    # the history serves the backlog the workers report
    def reported() -> bool:
        row = big_row(run.api("/api/backlog")["stores"])
        return row is not None and row["queued"] + row["parked"] > 0

    wait_until(reported, 30, "the history to report the big store's backlog", 0.2)
    # and Pendentes lists the parked events, with when they come back
    pending = run.api(f"/api/history?tab=pendentes&integration={BIG}&page_size=500")
    queued = [r for r in pending["rows"] if r["reason_code"] == "STORE_QUEUED"]
    assert queued and all(r["outcome"] == "WAITING" and r["due_at"] for r in queued)
    assert pending["by_integration"][0]["integration"] == BIG

    result = run.wait_for_terminal(burst_ids, timeout_s=150)
    assert result["terminal"] == BURST
    stats = http_json(f"{run.sandbox_url}/_stats?store={BIG}")
    assert stats["received"] == BURST
    assert http_json(f"{run.sandbox_url}/_stats")["duplicates"] == 0
    held = [
        c for c in http_json(f"{run.sandbox_url}/_received?store={BIG}") if c["order"] == "B-HELD"
    ]
    assert [c["sequence"] for c in held] == [1, 2], held

    # nothing of the burst is pending once it is through
    assert run.api(f"/api/history?tab=pendentes&integration={BIG}")["total"] == 0
    # once through, the worker says it has nothing left, and the history drops the store
    wait_until(
        lambda: big_row(run.api("/api/backlog")["stores"]) is None, 30, "the backlog to clear", 0.2
    )
