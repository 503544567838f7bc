"""What the bench reads from a running ordersync: the end offsets of a run's topics, a
process's Kafka request counters, the rows the history has written."""

from __future__ import annotations

import urllib.request

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from bench.measure import kafka_requests
from streams.local import LocalProcess, LocalRun, http_json
from streams.settings import Settings
from streams.topics import kafka_config

# confluent-kafka leaves OffsetSpec's constructors unannotated
LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]


class TopicEnds:
    """The end offsets (high watermarks) of every topic whose name starts with ``prefix``:
    ordersync's own, the Faust changelog and any other topic the run's apps made."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        self.admin = AdminClient(kafka_config(settings))
        self.prefix = prefix

    def read(self, timeout_s: float = 30.0) -> dict[str, int]:
        metadata = self.admin.list_topics(timeout=timeout_s)
        wanted = {
            TopicPartition(name, partition): LATEST
            for name, topic in metadata.topics.items()
            if name.startswith(self.prefix)
            for partition in topic.partitions
        }
        if not wanted:
            return {}
        ends: dict[str, int] = {}
        for partition, future in self.admin.list_offsets(wanted, request_timeout=timeout_s).items():
            ends[partition.topic] = ends.get(partition.topic, 0) + future.result().offset
        return ends


def process_kafka_requests(process: LocalProcess) -> dict[str, float] | None:
    """The process's Kafka requests by API, from its ``/metrics`` (open, no token);
    ``None`` when it does not answer or does not count them."""
    url = process.health_url.rsplit("/", 1)[0] + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            exposition = response.read().decode()
    except OSError:
        return None
    return kafka_requests(exposition)


def history_rows(run: LocalRun) -> int:
    """Outcomes the history process has written so far."""
    return int(http_json(run.history.health_url, timeout=10)["rows_written"])
