"""Bad records for the fuzz phase of ``make chaos``, interleaved with valid events.

Each kind is something a broken or hostile producer can put on the input topic. The worker
must turn every one into an outcome (INVALID, or DEAD_LETTERED for an unknown integration,
SUPERSEDED or SENT for an out-of-order sequence) and never crash.
"""

from __future__ import annotations

import copy
import io
import json
import random
import struct
import uuid
from typing import TYPE_CHECKING, Any

import fastavro
from confluent_kafka.schema_registry import Schema

import schemas
from streams import topics
from streams.codec import Codec
from streams.records import order_key
from streams.settings import Settings

if TYPE_CHECKING:
    from chaos.run import AckedPublisher

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
PLACEHOLDER = "Z" * 12


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
    ) -> dict[str, int]:
        """Publish the valid events with ``bad_count`` bad records spread among them."""
        kinds: dict[str, int] = dict.fromkeys(FUZZ_KINDS, 0)
        slots = sorted(self.rng.randrange(len(valid) + 1) for _ in range(bad_count))
        bad_at = iter(slots)
        next_bad = next(bad_at, None)
        for index in range(len(valid) + 1):
            while next_bad == index:
                kind = self.rng.choice(FUZZ_KINDS)
                kinds[kind] += 1
                key, value = self.bad_record(kind, valid)
                publisher.send_raw(key, value, f"fuzz:{kind}")
                next_bad = next(bad_at, None)
            if index < len(valid):
                publisher.send_record(valid[index])
        return kinds

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
