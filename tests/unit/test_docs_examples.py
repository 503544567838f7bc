"""The examples ERP teams copy from docs/events.md are valid, and are the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path

from streams.records import EventType
from streams.validation import parse_event

ROOT = Path(__file__).resolve().parent.parent.parent


def doc_lines() -> list[str]:
    return [
        line
        for line in (ROOT / "docs" / "events.md").read_text().splitlines()
        if line.startswith("{")
    ]


def test_one_valid_example_per_event_type() -> None:
    types = set()
    for line in doc_lines():
        record, errors = parse_event(json.loads(line))
        assert errors == [], line
        types.add(record["event_type"])
    assert types == {t.value for t in EventType}


def test_samples_file_is_the_documented_examples() -> None:
    assert (ROOT / "samples" / "events.jsonl").read_text().splitlines() == doc_lines()
