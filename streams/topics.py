"""The topics ordersync owns, and their creation with the partition counts it needs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams import logs
from streams.errors import ConfigurationError
from streams.settings import Settings

EVENTS = "orders.events"
OUTCOMES = "orders.outcomes"
RETRY_1 = "orders.retry.1"
RETRY_2 = "orders.retry.2"
PARKED = "orders.parked"
DLT = "orders.dlt"
CONFIG = "integrations.config"
BACKLOG = "orders.backlog"
MAX_RECORD_BYTES = 2 * 1024 * 1024


def kafka_config(settings: Settings, options: Mapping[str, object] | None = None) -> dict[str, Any]:
    """A confluent-kafka client's configuration: the cluster, librdkafka's lines sent
    through the process's logging, and the client's own ``options``."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "logger": logs.LIBRDKAFKA,
        **(options or {}),
    }


def topic_specs(settings: Settings) -> list[NewTopic]:
    keyed = [EVENTS, OUTCOMES, RETRY_1, RETRY_2, PARKED, DLT]
    specs = [
        NewTopic(
            settings.topic(name),
            num_partitions=settings.partitions,
            replication_factor=1,
            # a dead letter is the original record plus headers: it must fit whatever the
            # events topic accepted
            config={"max.message.bytes": str(MAX_RECORD_BYTES)} if name == DLT else {},
        )
        for name in keyed
    ]
    specs.append(
        NewTopic(
            settings.topic(CONFIG),
            num_partitions=1,  # every worker reads all of it into a global table
            replication_factor=1,
            config={"cleanup.policy": "compact"},
        )
    )
    specs.append(
        NewTopic(
            settings.topic(BACKLOG),
            num_partitions=1,  # the history reads all of it
            replication_factor=1,
            # each worker's last snapshot; a day after a worker last wrote, its key goes
            config={"cleanup.policy": "compact,delete", "retention.ms": str(86_400_000)},
        )
    )
    return specs


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; returns the names created. Safe to call repeatedly."""
    admin = AdminClient(kafka_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [spec for spec in topic_specs(settings) if spec.topic not in existing]
    if not missing:
        return []
    futures = admin.create_topics(missing, operation_timeout=timeout_s, request_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ConfigurationError(f"could not create topic {name}: {exc}") from exc
    # the controller answers before the broker serves the new partitions; a worker joining
    # in between would be assigned nothing and wait for its next metadata refresh (minutes)
    wanted = {spec.topic: spec.num_partitions for spec in missing}
    deadline = time.monotonic() + timeout_s
    while not _served(admin, wanted):
        if time.monotonic() > deadline:
            raise ConfigurationError(f"topics {sorted(wanted)} were created but are not served")
        time.sleep(0.1)
    return created


def _served(admin: AdminClient, wanted: dict[str, int]) -> bool:
    topics = admin.list_topics(timeout=10).topics
    for name, count in wanted.items():
        meta = topics.get(name)
        if meta is None or meta.error is not None or len(meta.partitions) < count:
            return False
        if any(p.leader < 0 for p in meta.partitions.values()):
            return False
    return True
