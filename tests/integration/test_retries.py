"""Up to three attempts through the retry topics, then the dead-letter topic; per-order order.

The sandbox platform fails on cue (``POST /_faults``); everything else is real.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import zlib

import pytest
from confluent_kafka import Consumer, Message

from streams.local import LocalRun, http_json
from streams.local.stack.process import wait_until
from streams.ops.publish import publish_records
from streams.records import EventType
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one

pytestmark = pytest.mark.integration


def fault(
    run: LocalRun, store: str, status: int, count: int, delay_ms: int = 0, retry_after_s: int = 1
) -> None:
    http_json(
        f"{run.sandbox_url}/_faults",
        {
            "store": store,
            "status": status,
            "count": count,
            "delay_ms": delay_ms,
            "retry_after_s": retry_after_s,
        },
    )


def events_partition(settings: Settings, keys: set[bytes]) -> dict[bytes, int]:
    """Where each order's events landed in ``orders.events``."""
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}where",
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    consumer.subscribe([settings.topic("orders.events")])
    found: dict[bytes, int] = {}

    def all_found() -> bool:
        for m in consumer.consume(50, 0.5):
            if not m.error() and m.key() in keys:
                found[m.key()] = m.partition()
        return set(found) == keys

    try:
        wait_until(all_found, 30, "the orders' events in orders.events")
    finally:
        consumer.close()
    return found


def timeline(run: LocalRun, integration: str, order: str) -> list[tuple[str, int]]:
    rows = run.api(f"/api/orders/acme/{integration}/{order}")
    return [(r["outcome"], r["attempt"]) for r in rows]


def setup_store(settings: Settings, run: LocalRun, name: str) -> None:
    apply(settings, run, config(integration_id=name, store_url=f"{run.sandbox_url}/stores/{name}/"))


def dead_letters(settings: Settings, count: int) -> list[Message]:
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}dlt-check",
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    consumer.subscribe([settings.topic("orders.dlt")])
    found: list[Message] = []

    def enough() -> bool:
        found.extend(m for m in consumer.consume(10, 0.5) if not m.error())
        return len(found) >= count

    try:
        wait_until(enough, 30, f"{count} dead-letter record(s)")
    finally:
        consumer.close()
    return found


def test_fails_twice_then_sent_at_attempt_three(settings: Settings, local_run: LocalRun) -> None:
    setup_store(settings, local_run, "flaky")
    fault(local_run, "flaky", 503, count=2)
    event_id = publish_one(settings, event_record(integration="flaky", order="F1"))
    result = local_run.wait_for_terminal([event_id], timeout_s=60)["events"][event_id]
    assert result["outcome"] == "SENT"
    assert timeline(local_run, "flaky", "F1") == [
        ("RETRY_SCHEDULED", 1),
        ("RETRY_SCHEDULED", 2),
        ("SENT", 3),
    ]


def test_always_failing_is_dead_lettered_after_exactly_three_attempts(
    settings: Settings, local_run: LocalRun
) -> None:
    setup_store(settings, local_run, "down")
    fault(local_run, "down", 503, count=-1)
    record = event_record(integration="down", order="D1")
    event_id = publish_one(settings, record)
    local_run.wait_for_terminal([event_id], timeout_s=60)
    assert timeline(local_run, "down", "D1") == [
        ("RETRY_SCHEDULED", 1),
        ("RETRY_SCHEDULED", 2),
        ("DEAD_LETTERED", 3),
    ]
    [dead] = dead_letters(settings, 1)
    headers = {k: v.decode() for k, v in dead.headers() or []}
    assert dead.key() == b"acme/down/D1"
    assert headers["ordersync.attempts"] == "3"
    assert headers["ordersync.http.status"] == "503"
    assert headers["ordersync.original.topic"] == settings.topic("orders.events")
    assert int(headers["ordersync.original.offset"]) >= 0
    assert headers["ordersync.error.reason"] == "HTTP_SERVER_ERROR"
    assert headers["ordersync.failure.first"] <= headers["ordersync.failure.last"]
    assert "503" in headers["ordersync.error.message"]


def test_a_400_is_dead_lettered_after_one_attempt(settings: Settings, local_run: LocalRun) -> None:
    setup_store(settings, local_run, "strict")
    fault(local_run, "strict", 400, count=-1)
    event_id = publish_one(settings, event_record(integration="strict", order="S1"))
    local_run.wait_for_terminal([event_id], timeout_s=60)
    assert timeline(local_run, "strict", "S1") == [("DEAD_LETTERED", 1)]


def test_one_order_waits_in_retry_while_others_flow_and_its_later_event_follows(
    settings: Settings, local_run: LocalRun
) -> None:
    setup_store(settings, local_run, "store-a")
    setup_store(settings, local_run, "store-b")
    fault(local_run, "store-a", 503, count=1)
    records = [
        event_record(EventType.INVOICE_AUTHORIZED, integration="store-a", order="A", sequence=1),
        event_record(EventType.SHIPPED, integration="store-a", order="A", sequence=2),
        *(event_record(integration="store-b", order=f"B{i}") for i in range(3)),
    ]
    started = time.time()
    report = publish_records(settings, records)
    assert report.published == 5
    a1, a2, *b_ids = report.event_ids
    local_run.wait_for_terminal([a1, a2, *b_ids], timeout_s=60)
    received = http_json(f"{local_run.sandbox_url}/_received")
    at = {c["event_id"]: c["received_at"] for c in received}
    # order A: its retry waited at least the first retry delay; its later event came after it
    assert at[a1] - started >= settings.retry_delays_s[0]
    assert at[a1] < at[a2]
    # order B was not held behind order A's retry
    assert all(at[b] < at[a1] for b in b_ids)
    # the later event waited (WAITING: held behind the retry), then went after it
    assert timeline(local_run, "store-a", "A") == [
        ("RETRY_SCHEDULED", 1),
        ("WAITING", 1),
        ("SENT", 2),
        ("SENT", 1),
    ]


def test_a_long_retry_after_does_not_hold_back_the_retries_behind_it(
    settings: Settings, local_run: LocalRun
) -> None:
    setup_store(settings, local_run, "patient")
    setup_store(settings, local_run, "quick")
    # two orders whose events, and so retry records, share a partition (the producer's
    # default partitioner is CRC-32 of the key; checked below against the topic itself)
    slow_key = b"acme/patient/P1"
    quick_order = next(
        f"Q{n}"
        for n in range(1000)
        if zlib.crc32(f"acme/quick/Q{n}".encode()) % settings.partitions
        == zlib.crc32(slow_key) % settings.partitions
    )
    fault(local_run, "patient", 429, count=1, retry_after_s=40)
    patient = publish_one(settings, event_record(integration="patient", order="P1"))
    wait_until(
        lambda: timeline(local_run, "patient", "P1") == [("RETRY_SCHEDULED", 1)],
        30,
        "the patient store's retry, due in 40 s, at the head of orders.retry.1",
    )
    fault(local_run, "quick", 503, count=1)
    quick = publish_one(settings, event_record(integration="quick", order=quick_order))
    quick_key = f"acme/quick/{quick_order}".encode()
    where = events_partition(settings, {slow_key, quick_key})
    assert where[slow_key] == where[quick_key]
    # its own retry delay is 2 s; behind the head's due time it would be 40
    result = local_run.wait_for_terminal([quick], timeout_s=20)["events"][quick]
    assert result["outcome"] == "SENT"
    assert timeline(local_run, "quick", quick_order) == [("RETRY_SCHEDULED", 1), ("SENT", 2)]
    assert timeline(local_run, "patient", "P1") == [("RETRY_SCHEDULED", 1)]
    assert patient not in {c["event_id"] for c in http_json(f"{local_run.sandbox_url}/_received")}


def test_resending_dead_letters_after_recovery_leaves_every_event_sent(
    settings: Settings, local_run: LocalRun
) -> None:
    setup_store(settings, local_run, "outage")
    fault(local_run, "outage", 503, count=-1)
    ids = [
        publish_one(settings, event_record(integration="outage", order=f"O{i}")) for i in range(4)
    ]
    latest = local_run.wait_for_terminal(ids, timeout_s=90)["events"]
    assert {latest[i]["outcome"] for i in ids} == {"DEAD_LETTERED"}
    clear = urllib.request.Request(f"{local_run.sandbox_url}/_faults", method="DELETE")
    urllib.request.urlopen(clear, timeout=5).close()  # the platform recovers
    report = local_run.api("/api/resend", {"integration": "outage"})
    assert report["resent"] == 4

    def all_sent() -> bool:
        rows = local_run.api("/api/lookup", {"event_ids": ids})["events"]
        return all(rows[i]["outcome"] == "SENT" for i in ids)

    wait_until(all_sent, 60, "every resent event to be SENT")


def test_dlt_replay_filters_dry_runs_and_replays_each_event_once(
    settings: Settings, local_run: LocalRun
) -> None:
    setup_store(settings, local_run, "replay-me")
    setup_store(settings, local_run, "leave-me")
    fault(local_run, "replay-me", 400, count=-1)
    fault(local_run, "leave-me", 400, count=-1)
    mine = [
        publish_one(settings, event_record(integration="replay-me", order=f"R{i}"))
        for i in range(3)
    ]
    other = publish_one(settings, event_record(integration="leave-me", order="L1"))
    local_run.wait_for_terminal([*mine, other], timeout_s=60)
    dead_letters(settings, 4)
    env = local_run.env

    def replay(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streams.ops.cli", "dlt", "replay", "--integration", "replay-me", *flags],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    dry = replay("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "3 matched, would replay 3" in dry.stdout
    assert sorted(line.strip() for line in dry.stdout.splitlines()[1:]) == sorted(mine)

    clear = urllib.request.Request(f"{local_run.sandbox_url}/_faults", method="DELETE")
    urllib.request.urlopen(clear, timeout=5).close()
    done = replay("--limit", "2")
    assert done.returncode == 0, done.stderr
    assert "replayed 2" in done.stdout
    replayed = [line.strip() for line in done.stdout.splitlines()[1:]]

    def sent() -> bool:
        rows = local_run.api("/api/lookup", {"event_ids": replayed})["events"]
        return all(rows[i]["outcome"] == "SENT" for i in replayed)

    wait_until(sent, 60, "the replayed events to be SENT")
    received = http_json(f"{local_run.sandbox_url}/_received")
    assert sorted(c["event_id"] for c in received) == sorted(replayed)
    latest = local_run.api("/api/lookup", {"event_ids": [other]})["events"][other]
    assert latest["outcome"] == "DEAD_LETTERED"  # the filter left the other integration alone
