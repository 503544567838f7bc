"""Headers and keys from any producer, through the real broker: understood or INVALID, never a
crash, never an event acknowledged without its outcome."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

import schemas
from streams import topics
from streams.codec import Codec
from streams.headers import ATTEMPT, RESEND_FORCE, RESEND_OF
from streams.local import LocalRun
from streams.local.hostile import send_with_raw_header_name
from streams.records import EventType, order_key
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply

pytestmark = pytest.mark.integration


def test_headers_and_keys_from_a_producer_never_steer_or_stop_the_worker(
    settings: Settings, local_run: LocalRun
) -> None:
    apply(settings, local_run, config(store_url=f"{local_run.sandbox_url}/stores/loja-1/"))
    codec = Codec(settings)
    topic = settings.topic(topics.EVENTS)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    cases = {
        # name: (headers, key or "own", expected outcome, reason)
        "garbage attempt": ([(ATTEMPT, b"not-a-number")], "own", "INVALID", "FORGED_CONTROL_HEADER"),
        "attempt 2": ([(ATTEMPT, b"2")], "own", "INVALID", "FORGED_CONTROL_HEADER"),
        "forced resend": (
            [(RESEND_OF, b"x"), (RESEND_FORCE, b"1")], "own", "INVALID", "FORGED_CONTROL_HEADER",
        ),
        "header name not UTF-8": ([b"\xff\xfe"], "own", "SENT", "DELIVERED"),
        "header value not UTF-8": ([("x-trace", b"\xff\xfe")], "own", "SENT", "DELIVERED"),
        "no key": ([], None, "INVALID", "KEY_MISMATCH"),
        "another order's key": ([], b"acme/loja-1/other", "INVALID", "KEY_MISMATCH"),
        "valid, after all of them": ([], "own", "SENT", "DELIVERED"),
    }  # fmt: skip
    expected = {}
    for index, (name, (headers, key, outcome, reason)) in enumerate(cases.items()):
        record = event_record(EventType.INVOICE_AUTHORIZED, order=f"W{index}")
        own = order_key(record["tenant"], record["integration"], record["platform_order_id"])
        key = own.encode() if key == "own" else key
        value = codec.encode(topic, schemas.ORDER_EVENT, record)
        if headers and isinstance(headers[0], bytes):  # aiokafka's parser raised on it
            assert producer.flush(10) == 0
            send_with_raw_header_name(settings.kafka_bootstrap, topic, key, value, headers[0])
        else:
            producer.produce(topic, key=key, value=value, headers=headers)
        expected[record["event_id"]] = (name, outcome, reason)
    assert producer.flush(10) == 0

    result = local_run.wait_for_terminal(list(expected), timeout_s=60)
    got = {
        event_id: (expected[event_id][0], row["outcome"], row["reason_code"])
        for event_id, row in result["events"].items()
    }
    assert got == expected
    assert local_run.worker.proc is not None and local_run.worker.proc.poll() is None
    log = local_run.worker.log_path.read_text(errors="replace")
    assert "Crashed reason=" not in log and "Traceback" not in log
