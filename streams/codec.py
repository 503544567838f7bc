"""Avro with Confluent framing, through a Confluent-compatible schema registry.

Every value on every ordersync topic is ``0x00 | schema id (4 bytes, big endian) |
Avro body``. Subjects follow the topic name (``<topic>-value``); schemas are
registered on first use. Decoding classifies what is wrong with bad bytes so the
worker can record a precise reason instead of crashing.
"""

from __future__ import annotations

import io
import json
import struct
from functools import lru_cache
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

import schemas
from streams.errors import DecodeError
from streams.reasons import ReasonCode
from streams.settings import Settings

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
MAX_MESSAGE_BYTES = 1_000_000


class Codec:
    def __init__(self, settings: Settings) -> None:
        self.registry = SchemaRegistryClient({"url": settings.registry_url})
        self._schema_ids: dict[tuple[str, str], int] = {}
        self._parsed = {name: fastavro.parse_schema(schemas.schema(name)) for name in schemas.ALL}

    def prepare(self, writes: list[tuple[str, str]], reads: list[tuple[str, str]]) -> None:
        """Ask the registry now what the first encode and decode would ask it.

        Its client blocks, and a worker asks it from the event loop: done on the first
        record, every event in flight waited for the answers. ``writes`` and ``reads``
        are (topic, schema name) pairs; a read schema nobody registered yet is skipped.
        """
        for topic, name in writes:
            self.schema_id(topic, name)
        for topic, name in reads:
            try:
                registered = self.registry.lookup_schema(
                    f"{topic}-value", Schema(schemas.schema_text(name), "AVRO")
                )
            except SchemaRegistryError:
                continue
            if registered.schema_id is not None:
                self._schemas_for(registered.schema_id, name)

    # -- encoding --------------------------------------------------------------------
    def schema_id(self, topic: str, schema_name: str) -> int:
        key = (topic, schema_name)
        if key not in self._schema_ids:
            subject = SerializationContext(topic, MessageField.VALUE)
            self._schema_ids[key] = self.registry.register_schema(
                f"{subject.topic}-value", Schema(schemas.schema_text(schema_name), "AVRO")
            )
        return self._schema_ids[key]

    def encode(self, topic: str, schema_name: str, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(HEADER.pack(MAGIC_BYTE, self.schema_id(topic, schema_name)))
        fastavro.schemaless_writer(buf, self._parsed[schema_name], record)
        return buf.getvalue()

    # -- decoding --------------------------------------------------------------------
    def decode(self, data: bytes | None, schema_name: str) -> dict[str, Any]:
        """Decode framed Avro written with any registered version of ``schema_name``."""
        if data is None:
            raise DecodeError("empty message (no value)", ReasonCode.NOT_FRAMED)
        if len(data) > MAX_MESSAGE_BYTES:
            raise DecodeError(
                f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}", ReasonCode.OVERSIZED
            )
        if len(data) < HEADER.size or data[0] != MAGIC_BYTE:
            raise DecodeError(
                "not Confluent-framed Avro (expected magic byte 0 and a 4-byte schema id)",
                ReasonCode.NOT_FRAMED,
            )
        _, schema_id = HEADER.unpack_from(data)
        writer, reader = self._schemas_for(schema_id, schema_name)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[HEADER.size :]), writer, reader)
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise DecodeError(
                f"Avro body does not decode with schema id {schema_id}: {type(exc).__name__}: {exc}",
                ReasonCode.UNDECODABLE,
            ) from exc
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} is not a record", ReasonCode.UNDECODABLE)
        return record

    @lru_cache(maxsize=256)  # noqa: B019 - one Codec per process; ids are immutable
    def _schemas_for(self, schema_id: int, schema_name: str) -> tuple[Any, Any]:
        """(writer, reader) for fastavro; no reader when they are the same schema, which
        spares fastavro comparing the two on every record (more than half a decode)."""
        writer = self._writer_schema(schema_id)
        reader = self._parsed[schema_name]
        return writer, None if writer == reader else reader

    @lru_cache(maxsize=256)  # noqa: B019 - one Codec per process; ids are immutable
    def _writer_schema(self, schema_id: int) -> Any:
        try:
            registered = self.registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            raise DecodeError(
                f"schema id {schema_id} is unknown to the registry ({exc.http_status_code})",
                ReasonCode.UNKNOWN_SCHEMA,
            ) from exc

        return fastavro.parse_schema(json.loads(registered.schema_str or "null"))
