"""One path through everything: ERP file -> Kafka -> worker -> sandbox platform -> ClickHouse."""

from __future__ import annotations

import io
import json

import pytest
from confluent_kafka import Consumer, Producer

from streams.integrations import apply_configs
from streams.local import LocalRun, http_json
from streams.publish import publish_file
from streams.records import EventType
from streams.settings import Settings
from streams.stack.process import wait_until
from tests.factories import config, event_record, jsonable

pytestmark = pytest.mark.integration


def apply(settings: Settings, run: LocalRun, *configs: object) -> None:
    apply_configs(settings, list(configs))  # type: ignore[arg-type]
    names = {c.integration_id for c in configs}  # type: ignore[attr-defined]

    def held() -> bool:
        return names <= {
            c["integration_id"] for c in http_json(f"{run.worker_url}/api/integrations")
        }

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
    timeline = http_json(f"{local_run.history_url}/api/orders/acme/loja-1/P1")
    assert [row["sequence"] for row in timeline] == [1, 2, 3]
    assert all(row["latency_ms"] is not None and row["http_status"] == 200 for row in timeline)


def test_bad_records_become_invalid_outcomes_and_dead_letters(
    settings: Settings, local_run: LocalRun
) -> None:
    apply(settings, local_run, config(store_url=f"{local_run.sandbox_url}/stores/loja-1/"))
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    topic = settings.topic("orders.events")
    bad = [b"not avro at all", b"\x00\x7f\xff\xff\xf0garbage", b"\x00"]
    for i, value in enumerate(bad):
        producer.produce(topic, key=f"acme/loja-1/BAD{i}".encode(), value=value)
    producer.flush(10)
    good = event_record(order="GOOD")
    report = publish_file(settings, io.StringIO(json.dumps(jsonable(good))))
    assert report.published == 1
    local_run.wait_for_terminal([good["event_id"]], timeout_s=60)

    def invalid_rows() -> list[dict[str, object]]:
        rows = []
        for i in range(len(bad)):
            rows += http_json(f"{local_run.history_url}/api/orders/acme/loja-1/BAD{i}")
        return rows

    wait_until(lambda: len(invalid_rows()) == len(bad), 30, "an INVALID outcome per bad record")
    rows = sorted(invalid_rows(), key=lambda r: str(r["platform_order_id"]))
    assert [(r["outcome"], r["reason_code"]) for r in rows] == [
        ("INVALID", "NOT_FRAMED"),
        ("INVALID", "UNKNOWN_SCHEMA"),
        ("INVALID", "NOT_FRAMED"),
    ]
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}check",
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    consumer.subscribe([settings.topic("orders.dlt")])
    dead = []
    wait_until(lambda: bool(dead.extend(m for m in consumer.consume(10, 1.0) if not m.error())) or len(dead) >= 3,
               30, "three dead-letter records")  # fmt: skip
    consumer.close()
    assert sorted(m.value() for m in dead) == sorted(bad)
    headers = dict(dead[0].headers())
    assert headers["ordersync.original.topic"] == topic.encode()
    assert headers["ordersync.error.reason"] in (b"NOT_FRAMED", b"UNKNOWN_SCHEMA")


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
        lambda: http_json(f"{local_run.worker_url}/api/integrations")[0]["send_cancellations"],
        30,
        "the worker to see the change",
    )
    second = publish_one(settings, event_record(EventType.CANCELED, order="C2"))
    result = local_run.wait_for_terminal([second], timeout_s=60)["events"][second]
    assert (result["outcome"], result["reason_code"]) == ("SENT", "DELIVERED")

    # a tombstone removes the integration: its events become visible errors, not drops
    apply_configs(settings, ["loja-1"])
    wait_until(lambda: http_json(f"{local_run.worker_url}/api/integrations") == [], 30, "removal")
    third = publish_one(settings, event_record(EventType.CANCELED, order="C3"))
    result = local_run.wait_for_terminal([third], timeout_s=60)["events"][third]
    assert (result["outcome"], result["reason_code"]) == ("DEAD_LETTERED", "UNKNOWN_INTEGRATION")
