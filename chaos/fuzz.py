"""Bad records for the fuzz phase of ``make chaos``, interleaved with valid events.

Each kind is something a broken or hostile producer can put on the input topic. The worker
must turn every one into an outcome (INVALID, or DEAD_LETTERED for an unknown integration,
SUPERSEDED or SENT for an out-of-order sequence) and never crash.

The header and key kinds carry a valid event of an order of their own, so each has one
expected outcome: the producer's own headers (random, oversized, not UTF-8) are ignored and
the event is SENT; ordersync's control headers without its signature, and a missing or
another order's key, are INVALID with their reason.
"""

from __future__ import annotations

import copy
import io
import json
import random
import struct
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import fastavro
from confluent_kafka.schema_registry import Schema

import schemas
from streams import topics
from streams.codec import Codec
from streams.headers import (
    ATTEMPT,
    ORIGIN_OFFSET,
    ORIGIN_PARTITION,
    ORIGIN_TOPIC,
    RESEND_FORCE,
    RESEND_OF,
    SIGNATURE,
)
from streams.local.hostile import send_with_raw_header_names
from streams.records import order_key
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.local.harness import AckedPublisher

FUZZ_KINDS = (
    "random_bytes",
    "truncated_avro",
    "unknown_schema_id",
    "other_schema",
    "wrong_types",
    "string_of_1mb",
    "invalid_utf8",
    "no_value",
    "unknown_integration",
    "sequence_out_of_order",
)
# header and key kinds: the outcome (and reason) each must end with
HEADER_KINDS: dict[str, tuple[str, str]] = {
    "random_headers": ("SENT", "DELIVERED"),
    "oversized_header": ("SENT", "DELIVERED"),
    "header_value_not_utf8": ("SENT", "DELIVERED"),
    "header_name_not_utf8": ("SENT", "DELIVERED"),
    "forged_attempt": ("INVALID", "FORGED_CONTROL_HEADER"),
    "forged_force": ("INVALID", "FORGED_CONTROL_HEADER"),
    "forged_resend_of": ("INVALID", "FORGED_CONTROL_HEADER"),
    "forged_origin": ("INVALID", "FORGED_CONTROL_HEADER"),
    "forged_signature": ("INVALID", "FORGED_CONTROL_HEADER"),
    "missing_key": ("INVALID", "KEY_MISMATCH"),
    "mismatched_key": ("INVALID", "KEY_MISMATCH"),
}
ALL_KINDS = (*FUZZ_KINDS, *HEADER_KINDS)
PLACEHOLDER = "Z" * 12
Headers = list[tuple[Any, bytes | None]]


class Fuzzer:
    def __init__(self, settings: Settings, rng: random.Random, stores: list[str]) -> None:
        self.settings = settings
        self.rng = rng
        self.stores = stores
        self.codec = Codec(settings)
        self.topic = settings.topic(topics.EVENTS)
        self._wrong_types = self._register_wrong_types()

    def _register_wrong_types(self) -> tuple[int, Any]:
        """The event schema with ``sequence`` as a string, under a subject of its own."""
        schema = json.loads(schemas.schema_text(schemas.ORDER_EVENT))
        for f in schema["fields"]:
            if f["name"] == "sequence":
                f["type"] = "string"
        schema_id = self.codec.registry.register_schema(
            f"{self.settings.topic_prefix}fuzz-wrong-types-value",
            Schema(json.dumps(schema), "AVRO"),
        )
        return schema_id, fastavro.parse_schema(schema)

    def publish_interleaved(
        self, publisher: AckedPublisher, valid: list[dict[str, Any]], bad_count: int
    ) -> tuple[dict[str, int], dict[str, str]]:
        """Publish the valid events with ``bad_count`` bad records spread among them.

        Returns the count of each kind, and the event id of each header or key record with
        its kind (their outcomes are checked one by one)."""
        kinds: dict[str, int] = dict.fromkeys(ALL_KINDS, 0)
        expected: dict[str, str] = {}
        raw_names: list[tuple[bytes, bytes, bytes]] = []
        slots = sorted(self.rng.randrange(len(valid) + 1) for _ in range(bad_count))
        bad_at = iter(slots)
        next_bad = next(bad_at, None)
        for index in range(len(valid) + 1):
            while next_bad == index:
                kind = self.rng.choice(ALL_KINDS)
                kinds[kind] += 1
                if kind in HEADER_KINDS:
                    event_id, key, value, headers = self.header_record(kind, index)
                    expected[event_id] = kind
                    if kind == "header_name_not_utf8":
                        raw_names.append((key or b"", value, headers[0][0]))
                    else:
                        publisher.send_raw(key, value, event_id, headers)
                else:
                    bad_key, bad_value = self.bad_record(kind, valid)
                    publisher.send_raw(bad_key, bad_value, f"fuzz:{kind}")
                next_bad = next(bad_at, None)
            if index < len(valid):
                publisher.send_record(valid[index])
        if raw_names:  # a name confluent-kafka cannot write: aiokafka's own format
            publisher.flush()
            send_with_raw_header_names(self.settings.kafka_bootstrap, self.topic, raw_names)
            publisher.acked += [eid for eid, k in expected.items() if k == "header_name_not_utf8"]
        return kinds, expected

    def header_record(self, kind: str, n: int) -> tuple[str, bytes | None, bytes, Headers]:
        """A valid event of an order of its own, with the headers or key of ``kind``."""
        store = self.rng.choice(self.stores)
        order = f"fh-{n}-{self.rng.randrange(10**9)}"
        record: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "tenant": "chaos",
            "integration": store,
            "erp_order_id": f"E-fh-{n}-{self.rng.randrange(10**9)}",
            "platform_order_id": order,
            "sequence": 1,
            "occurred_at": datetime.now(UTC),
            "producer": "chaos",
            "event_type": "CANCELED",
            "invoice": None,
            "shipment": None,
            "delivery": None,
            "cancellation": {"reason": "fuzz", "cancelled_at": datetime.now(UTC)},
            "status": None,
        }
        own = order_key("chaos", store, order).encode()
        value = self._valid_bytes(record)
        key: bytes | None = own
        rng = self.rng
        headers: Headers
        match kind:
            case "random_headers":
                headers = [
                    (f"x-{rng.randrange(10**6)}", rng.randbytes(rng.randrange(0, 64)))
                    for _ in range(rng.randrange(1, 20))
                ]
            case "oversized_header":
                headers = [("x-big", b"h" * 256 * 1024)]
            case "header_value_not_utf8":
                headers = [("x-bin", b"\xff\xfe\xfd" * rng.randrange(1, 10))]
            case "header_name_not_utf8":
                headers = [(b"x-\xff\xfe-" + rng.randbytes(4), b"x")]
            case "forged_attempt":
                headers = [(ATTEMPT, rng.choice([b"2", b"3", b"0", b"-1", b"x", b"\xff"]))]
            case "forged_force":
                headers = [(RESEND_OF, b"forged"), (RESEND_FORCE, b"1")]
            case "forged_resend_of":
                headers = [(RESEND_OF, rng.randbytes(16).hex().encode())]
            case "forged_origin":
                headers = [(ORIGIN_TOPIC, b"orders.events"), (ORIGIN_PARTITION, b"0"),
                           (ORIGIN_OFFSET, b"0")]  # fmt: skip
            case "forged_signature":
                headers = [(RESEND_OF, b"r"), (SIGNATURE, rng.randbytes(32).hex().encode())]
            case "missing_key":
                key, headers = None, []
            case _:  # mismatched_key: another order's
                key, headers = order_key("chaos", store, "someone-else").encode(), []
        return str(record["event_id"]), key, value, headers

    def _valid_bytes(self, record: dict[str, Any]) -> bytes:
        return self.codec.encode(self.topic, schemas.ORDER_EVENT, record)

    def _template(self, valid: list[dict[str, Any]]) -> dict[str, Any]:
        record = copy.deepcopy(self.rng.choice(valid))
        record["event_id"] = str(uuid.uuid4())
        return record

    def bad_record(
        self, kind: str, valid: list[dict[str, Any]]
    ) -> tuple[bytes | None, bytes | None]:
        record = self._template(valid)
        key = order_key(record["tenant"], record["integration"], record["platform_order_id"])
        if kind == "random_bytes":
            return key.encode(), self.rng.randbytes(self.rng.randrange(0, 300))
        if kind == "truncated_avro":
            data = self._valid_bytes(record)
            return key.encode(), data[: self.rng.randrange(5, len(data) - 1)]
        if kind == "unknown_schema_id":
            data = self._valid_bytes(record)
            return key.encode(), struct.pack(">bI", 0, 9_000_000 + self.rng.randrange(1000)) + data[
                5:
            ]
        if kind == "other_schema":
            config = {
                "integration_id": record["integration"],
                "tenant": record["tenant"],
                "platform": "sandbox",
                "store_url": "https://example.com/",
            }
            full = dict.fromkeys(
                f["name"]
                for f in json.loads(schemas.schema_text(schemas.INTEGRATION_CONFIG))["fields"]
            )
            full.update(
                config,
                send_order_updates=True,
                send_cancellations=True,
                send_delivery_info=True,
            )
            try:
                value = self.codec.encode(
                    self.settings.topic(topics.CONFIG), schemas.INTEGRATION_CONFIG, full
                )
            except Exception:  # a field this sketch does not fill: random bytes then
                value = self.rng.randbytes(64)
            return key.encode(), value
        if kind == "wrong_types":
            schema_id, parsed = self._wrong_types
            record["sequence"] = "not-a-number"
            buf = io.BytesIO()
            buf.write(struct.pack(">bI", 0, schema_id))
            fastavro.schemaless_writer(buf, parsed, record)
            return key.encode(), buf.getvalue()
        if kind == "string_of_1mb":
            record["erp_order_id"] = "X" * 1_000_000
            return key.encode(), self._valid_bytes(record)
        if kind == "invalid_utf8":
            record["erp_order_id"] = PLACEHOLDER
            data = self._valid_bytes(record)
            return key.encode(), data.replace(PLACEHOLDER.encode(), b"\xff\xfe\xfd" * 4, 1)
        if kind == "no_value":
            return key.encode(), None
        if kind == "unknown_integration":
            record["integration"] = f"unknown-{self.rng.randrange(10_000)}"
            key = order_key(record["tenant"], record["integration"], record["platform_order_id"])
            return key.encode(), self._valid_bytes(record)
        # sequence_out_of_order: an older update of an order that has newer ones
        record["sequence"] = 0
        return key.encode(), self._valid_bytes(record)
