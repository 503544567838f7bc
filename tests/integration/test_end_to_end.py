"""One path through everything: ERP file -> Kafka -> worker -> sandbox platform -> ClickHouse."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from confluent_kafka import Consumer, Message, Producer

import schemas
from streams.codec import Codec
from streams.local import LocalRun, http_json
from streams.local.stack.process import wait_until
from streams.ops.integrations import apply_configs
from streams.ops.publish import publish_file
from streams.records import EventType
from streams.settings import Settings
from tests.factories import config, event_record, jsonable

pytestmark = pytest.mark.integration


def apply(settings: Settings, run: LocalRun, *configs: object) -> None:
    apply_configs(settings, list(configs))  # type: ignore[arg-type]
    names = {c.integration_id for c in configs}  # type: ignore[attr-defined]

    def held() -> bool:
        return names <= {c["integration_id"] for c in run.worker_api("/api/integrations")}

    wait_until(held, 30, "the worker to hold the integrations")


def test_events_reach_the_platform_and_the_history(settings: Settings, local_run: LocalRun) -> None:
    store = f"{local_run.sandbox_url}/stores/loja-1/"
    apply(settings, local_run, config(store_url=store, credentials_ref="SANDBOX_TOKEN"),
          config(integration_id="loja-ff", store_url=store, fulfillment_mode=True))  # fmt: skip
    records = [
        event_record(EventType.INVOICE_AUTHORIZED, order="P1", sequence=1),
        event_record(EventType.SHIPPED, order="P1", sequence=2),
        event_record(EventType.DELIVERED, order="P1", sequence=3),
        event_record(EventType.DELIVERED, order="P2", sequence=1, integration="loja-ff"),
    ]
    lines = io.StringIO("\n".join(json.dumps(jsonable(r)) for r in records))
    report = publish_file(settings, lines)
    assert report.exit_code == 0 and report.published == 4

    result = local_run.wait_for_terminal(report.event_ids, timeout_s=60)
    outcomes = {eid: (row["outcome"], row["reason_code"]) for eid, row in result["events"].items()}
    ids = [r["event_id"] for r in records]
    assert outcomes == {
        ids[0]: ("SENT", "DELIVERED"),
        ids[1]: ("SENT", "DELIVERED"),
        ids[2]: ("SENT", "DELIVERED"),
        ids[3]: ("SKIPPED", "FULFILLMENT_MODE"),
    }
    received = http_json(f"{local_run.sandbox_url}/_received?store=loja-1")
    assert [(c["order"], c["action"], c["sequence"]) for c in received] == [
        ("P1", "invoice", 1),
        ("P1", "ship_with_tracking", 2),
        ("P1", "deliver", 3),
    ]
    assert all(c["authorized"] for c in received)
    timeline = local_run.api("/api/orders/acme/loja-1/P1")
    assert [row["sequence"] for row in timeline] == [1, 2, 3]
    assert all(row["latency_ms"] is not None and row["http_status"] == 200 for row in timeline)

    # what Prometheus and the log collector see
    worker_metrics = (
        urllib.request.urlopen(f"{local_run.worker_url}/metrics", timeout=5).read().decode()
    )
    assert 'ordersync_platform_sends_total{outcome="SENT",platform="sandbox"} 3.0' in worker_metrics
    assert (
        'ordersync_decisions_total{outcome="SKIPPED",reason="FULFILLMENT_MODE"} 1.0'
        in worker_metrics
    )
    assert "ordersync_delivery_latency_seconds_count 3.0" in worker_metrics
    history_metrics = (
        urllib.request.urlopen(f"{local_run.history_url}/metrics", timeout=5).read().decode()
    )
    assert "ordersync_sink_batch_rows_count" in history_metrics
    log_lines = local_run.worker.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in log_lines if line.startswith("{")]
    assert any(e["msg"].startswith("integration loja-1 applied") for e in entries)


def bad_records(settings: Settings) -> dict[str, bytes]:
    """One record of each kind of bad input, keyed by the reason it must be given."""
    codec = Codec(settings)
    topic = settings.topic("orders.events")

    def framed(**changes: object) -> bytes:
        return codec.encode(topic, schemas.ORDER_EVENT, event_record(**changes))  # type: ignore[arg-type]

    short_key = event_record()
    short_key["invoice"]["access_key"] = "1" * 43
    wrong_payload = event_record() | {"event_type": "CANCELED"}  # an invoice on a cancellation
    valid = framed()
    return {
        "NOT_FRAMED": b"not avro at all",
        "UNKNOWN_SCHEMA": b"\x00\x7f\xff\xff\xf0" + valid[5:],
        "UNDECODABLE": valid[:24],
        "OVERSIZED": valid[:5] + b"\x00" * 1_000_100,
        "INVALID_EVENT/access_key": codec.encode(topic, schemas.ORDER_EVENT, short_key),
        "INVALID_EVENT/order_id": framed(platform_order_id=" "),
        "INVALID_EVENT/payload": codec.encode(topic, schemas.ORDER_EVENT, wrong_payload),
    }


def test_each_kind_of_bad_record_gives_one_invalid_outcome_and_one_dead_letter(
    settings: Settings, local_run: LocalRun
) -> None:
    apply(settings, local_run, config(store_url=f"{local_run.sandbox_url}/stores/loja-1/"))
    bad = bad_records(settings)
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "message.max.bytes": 2_000_000}
    )
    topic = settings.topic("orders.events")
    for i, value in enumerate(bad.values()):
        producer.produce(topic, key=f"acme/loja-1/BAD{i}".encode(), value=value)
    assert producer.flush(10) == 0
    good = event_record(order="GOOD")
    report = publish_file(settings, io.StringIO(json.dumps(jsonable(good))))
    assert report.published == 1
    # the valid event after the bad ones is still delivered
    latest = local_run.wait_for_terminal([good["event_id"]], timeout_s=60)["events"]
    assert latest[good["event_id"]]["outcome"] == "SENT"

    def invalid_rows() -> list[dict[str, object]]:
        return local_run.api("/api/history?outcome=INVALID")["rows"]  # type: ignore[no-any-return]

    wait_until(lambda: len(invalid_rows()) >= len(bad), 30, "an INVALID outcome per bad record")
    rows = invalid_rows()
    assert sorted(str(r["reason_code"]) for r in rows) == sorted(k.split("/")[0] for k in bad)
    assert len({(r["source_partition"], r["source_offset"]) for r in rows}) == len(bad)

    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}check",
        "auto.offset.reset": "earliest", "fetch.message.max.bytes": 2_000_000,
    })  # fmt: skip
    consumer.subscribe([settings.topic("orders.dlt")])
    dead: list[Message] = []

    def collect() -> bool:
        dead.extend(m for m in consumer.consume(10, 1.0) if not m.error())
        return len(dead) >= len(bad)

    wait_until(collect, 30, "a dead-letter record per bad record")
    assert not collect() or len(dead) == len(bad)  # and no more than one each
    consumer.close()
    assert sorted(m.value() for m in dead) == sorted(bad.values())
    for message in dead:
        headers = dict(message.headers() or [])
        assert headers["ordersync.original.topic"] == topic.encode()
        assert int(headers["ordersync.original.offset"]) >= 0
        assert headers["ordersync.error.reason"].decode().split("/")[0] in {
            k.split("/")[0] for k in bad
        }
        assert headers["ordersync.error.message"]


def publish_one(settings: Settings, record: dict[str, object]) -> str:
    report = publish_file(settings, io.StringIO(json.dumps(jsonable(record))))
    assert report.published == 1, report
    return str(record["event_id"])


def test_config_changes_apply_to_the_next_event_without_restart(
    settings: Settings, local_run: LocalRun
) -> None:
    store = f"{local_run.sandbox_url}/stores/loja-1/"
    apply(settings, local_run, config(store_url=store, send_cancellations=False))
    first = publish_one(settings, event_record(EventType.CANCELED, order="C1"))
    result = local_run.wait_for_terminal([first], timeout_s=60)["events"][first]
    assert (result["outcome"], result["reason_code"]) == ("SKIPPED", "AUTOMATION_CANCELLATIONS_OFF")

    apply_configs(settings, [config(store_url=store, send_cancellations=True)])
    wait_until(
        lambda: local_run.worker_api("/api/integrations")[0]["send_cancellations"],
        30,
        "the worker to see the change",
    )
    second = publish_one(settings, event_record(EventType.CANCELED, order="C2"))
    result = local_run.wait_for_terminal([second], timeout_s=60)["events"][second]
    assert (result["outcome"], result["reason_code"]) == ("SENT", "DELIVERED")

    # a tombstone removes the integration: its events become visible errors, not drops
    apply_configs(settings, ["loja-1"])
    wait_until(lambda: local_run.worker_api("/api/integrations") == [], 30, "removal")
    third = publish_one(settings, event_record(EventType.CANCELED, order="C3"))
    result = local_run.wait_for_terminal([third], timeout_s=60)["events"][third]
    assert (result["outcome"], result["reason_code"]) == ("DEAD_LETTERED", "UNKNOWN_INTEGRATION")
