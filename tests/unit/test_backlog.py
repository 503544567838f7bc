"""The backlog a worker reports and the history adds up, without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from streams.errors import DecodeError
from streams.history.backlog import BacklogView
from streams.reasons import ReasonCode
from streams.worker.backlog import BacklogCollector, BacklogReport
from streams.worker.stores import Stores


def report(stores: Stores) -> BacklogReport:
    return BacklogReport(stores, lambda store: f"tenant-of-{store}", "host:1", 5.0)


def test_an_idle_worker_publishes_nothing() -> None:
    stores = Stores(4, 64)
    stores.gate("loja-1")  # known, but with nothing under way
    assert report(stores).due() is None


def test_a_worker_with_work_publishes_until_it_says_it_has_none() -> None:
    stores = Stores(4, 64)
    reporter = report(stores)
    gate = stores.gate("loja-1")
    gate.in_flight, gate.parked = 3, 7
    snapshot = reporter.due()
    assert snapshot is not None
    assert snapshot["worker"] == "host:1" and snapshot["interval_ms"] == 5000
    assert snapshot["stores"] == [
        {
            "integration_id": "loja-1",
            "tenant": "tenant-of-loja-1",
            "in_flight": 3,
            "queued": 0,
            "parked": 7,
            "oldest_wait_ms": 0,
            "limit": 4,
            "rate_per_s": None,
            "oldest_parked_ms": 0,
            "circuit_open_ms": 0,
            "paused_until": None,
        }
    ]
    gate.in_flight, gate.parked = 0, 0
    last = reporter.due()
    assert last is not None and last["stores"] == []  # once, to clear what it said
    assert reporter.due() is None


def test_the_collector_reads_the_gates_at_scrape_time() -> None:
    stores = Stores(4, 64)
    collector = BacklogCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.track(report(stores))
    stores.gate("loja-1").parked = 2
    text = generate_latest(registry).decode()
    assert 'ordersync_store_parked{store="loja-1",tenant="tenant-of-loja-1"} 2.0' in text
    stores.gate("loja-1").parked = 0
    assert 'store="loja-1"' not in generate_latest(registry).decode()


class JsonCodec:
    """Snapshots as JSON: the view's decoding is the codec's, tested with the registry."""

    def decode(self, value: bytes, schema_name: str) -> dict[str, Any]:
        try:
            record: dict[str, Any] = json.loads(value)
        except ValueError as exc:
            raise DecodeError(str(exc), ReasonCode.UNDECODABLE) from exc
        record["at"] = datetime.fromtimestamp(record["at"] / 1000, UTC)
        return record


def snapshot(worker: str, at_s: float, **rows: dict[str, Any]) -> bytes:
    stores = [
        {
            "integration_id": store,
            "tenant": row.get("tenant", "acme"),
            "in_flight": row.get("in_flight", 0),
            "queued": row.get("queued", 0),
            "parked": row.get("parked", 0),
            "oldest_wait_ms": row.get("oldest_wait_ms", 0),
            "limit": 4,
            "rate_per_s": None,
        }
        for store, row in rows.items()
    ]
    return json.dumps(
        {"worker": worker, "at": int(at_s * 1000), "interval_ms": 5000, "stores": stores}
    ).encode()


def view() -> BacklogView:
    return BacklogView(JsonCodec())  # type: ignore[arg-type]


def test_the_view_adds_up_the_workers_per_store() -> None:
    backlog = view()
    backlog.apply(b"w1", snapshot("w1", 1000.0, a={"queued": 5, "oldest_wait_ms": 2000}))
    backlog.apply(b"w2", snapshot("w2", 1001.0, a={"parked": 10, "in_flight": 2}, b={"queued": 1}))
    rows = backlog.by_store(None, now=1002.0)
    assert [r["integration_id"] for r in rows] == ["a", "b"]  # the most waiting first
    a = rows[0]
    assert (a["queued"], a["parked"], a["in_flight"], a["workers"]) == (5, 10, 2, 2)
    assert a["oldest_wait_s"] == 4.0  # 2 s at the snapshot, 2 s since


def test_a_later_snapshot_replaces_the_workers_earlier_one() -> None:
    backlog = view()
    backlog.apply(b"w1", snapshot("w1", 1000.0, a={"queued": 5}))
    backlog.apply(b"w1", snapshot("w1", 1005.0))
    assert backlog.by_store(None, now=1006.0) == []


def test_a_stale_snapshot_is_from_a_worker_that_is_gone() -> None:
    backlog = view()
    backlog.apply(b"w1", snapshot("w1", 1000.0, a={"queued": 5}))
    assert backlog.by_store(None, now=1014.0) != []
    assert backlog.by_store(None, now=1016.0) == []  # three intervals on


def test_each_tenant_sees_only_its_stores() -> None:
    backlog = view()
    backlog.apply(
        b"w1", snapshot("w1", 1000.0, a={"queued": 1}, b={"queued": 1, "tenant": "globex"})
    )
    assert [r["integration_id"] for r in backlog.by_store("globex", now=1001.0)] == ["b"]


def test_an_undecodable_snapshot_is_ignored_and_a_tombstone_removes_the_worker() -> None:
    backlog = view()
    backlog.apply(b"w1", snapshot("w1", 1000.0, a={"queued": 1}))
    backlog.apply(b"w2", b"not json")
    backlog.apply(b"w1", None)
    assert backlog.by_store(None, now=1001.0) == []
