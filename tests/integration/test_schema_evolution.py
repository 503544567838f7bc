"""Schemas evolve BACKWARD-compatibly: the current schema reads every released version's data."""

from __future__ import annotations

import copy
import io
import json
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from fastavro.utils import generate_many

import schemas
from streams.codec import Codec
from streams.settings import Settings

HISTORY = Path(schemas.__file__).resolve().parent / "history"
RELEASED = sorted(HISTORY.glob("*.v*.avsc"))


def versions_of(name: str) -> list[Path]:
    return sorted(
        (p for p in RELEASED if p.name.startswith(f"{name}.v")),
        key=lambda p: int(p.name.rsplit(".v", 1)[1].split(".")[0]),
    )


def test_every_schema_has_released_versions() -> None:
    for name in schemas.ALL:
        assert versions_of(name), f"no released version of {name} in schemas/history"


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.name)
def test_current_schema_reads_data_written_with_each_released_version(path: Path) -> None:
    name = path.name.split(".v")[0]
    writer = fastavro.parse_schema(json.loads(path.read_text()))
    reader = fastavro.parse_schema(schemas.schema(name))
    for record in generate_many(writer, 50):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, record)
        buf.seek(0)
        fastavro.schemaless_reader(buf, writer, reader)  # raises if incompatible


def breaking_change(schema: dict[str, Any]) -> dict[str, Any]:
    """A new required field without a default: old data cannot be read with it."""
    changed = copy.deepcopy(schema)
    changed["fields"].append({"name": "added_without_default", "type": "string"})
    return changed


@pytest.mark.integration
@pytest.mark.parametrize("name", schemas.ALL)
def test_registry_confirms_backward_compatibility(settings: Settings, name: str) -> None:
    registry = Codec(settings).registry
    subject = f"{settings.topic_prefix}evolution-{name}-{uuid.uuid4().hex[:6]}-value"
    released = versions_of(name)
    registry.register_schema(subject, Schema(released[0].read_text(), "AVRO"))
    registry.set_compatibility(subject, "BACKWARD")
    for path in released[1:]:
        registry.register_schema(subject, Schema(path.read_text(), "AVRO"))
    assert registry.test_compatibility(subject, Schema(schemas.schema_text(name), "AVRO"))
    # and the check can fail: a breaking change is refused
    broken = json.dumps(breaking_change(schemas.schema(name)))
    assert not registry.test_compatibility(subject, Schema(broken, "AVRO"))
