"""``ordersync publish`` on a file mixing valid and invalid lines, through the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.local import child_env
from streams.records import EventType
from streams.settings import Settings
from tests.factories import event_record, jsonable

pytestmark = pytest.mark.integration


def count_on_topic(settings: Settings) -> int:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "count"})
    topic = settings.topic("orders.events")
    total = 0
    for partition in range(settings.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        total += high - low
    consumer.close()
    return total


def run_publish(settings: Settings, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = child_env(settings)
    env.pop("ORDERSYNC_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-m", "streams.ops.cli", "publish", str(path), *flags],
        capture_output=True, text=True, env=env, timeout=120, cwd=os.getcwd(),
    )  # fmt: skip


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    good = [jsonable(event_record(t, order=f"P{i}")) for i, t in enumerate(EventType)]
    short_key = jsonable(event_record())
    short_key["invoice"]["access_key"] = "1" * 43
    lines = (
        [json.dumps(g) for g in good[:3]]
        + [json.dumps(short_key), "{broken json"]
        + [json.dumps(g) for g in good[3:]]
    )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_strict_publishes_nothing_and_names_each_bad_line(
    settings: Settings, mixed_file: Path
) -> None:
    result = run_publish(settings, mixed_file)
    assert result.returncode == 2, result.stderr
    assert "line 4: invoice.access_key: expected 44 digits, got 43" in result.stderr
    assert "line 5: not valid JSON" in result.stderr
    assert "published 0, rejected 2" in result.stdout
    assert count_on_topic(settings) == 0


def test_skip_invalid_publishes_the_valid_lines(settings: Settings, mixed_file: Path) -> None:
    result = run_publish(settings, mixed_file, "--skip-invalid")
    assert result.returncode == 3, result.stderr
    assert "published 6, rejected 2" in result.stdout
    assert count_on_topic(settings) == 6


def test_all_valid_exits_zero(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(jsonable(event_record())) + "\n")
    result = run_publish(settings, path)
    assert result.returncode == 0, result.stderr
    assert count_on_topic(settings) == 1
