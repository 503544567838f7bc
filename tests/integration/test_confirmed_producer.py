"""The worker's librdkafka producer against the real broker: a send resolves once the broker
has the record, in order per partition; a refused record fails its future; requests are
counted by kind."""

from __future__ import annotations

import asyncio
import json

import pytest
from confluent_kafka import Consumer, KafkaException
from prometheus_client import REGISTRY

from streams import topics
from streams.producer import ConfirmedProducer
from streams.settings import Settings

pytestmark = pytest.mark.integration


def read_back(settings: Settings, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    consumer = Consumer(
        topics.kafka_config(
            settings,
            {"group.id": f"{topic}-check", "auto.offset.reset": "earliest"},
        )
    )
    consumer.subscribe([topic])
    got: list[tuple[int, bytes, bytes]] = []
    try:
        for _ in range(100):
            if len(got) >= count:
                break
            for message in consumer.consume(count, timeout=0.5):
                assert message.error() is None, message.error()
                got.append((message.partition(), message.key(), message.value()))
    finally:
        consumer.close()
    return got


def test_sends_resolve_when_the_broker_has_them_in_order(settings: Settings) -> None:
    topic = settings.topic(topics.OUTCOMES)
    producer = ConfirmedProducer(settings)

    async def go() -> None:
        producer.start(asyncio.get_running_loop())
        sent = [
            producer.send(topic, b"k", str(n).encode(), [("h", b"v")], partition=3)
            for n in range(50)
        ]
        await asyncio.wait_for(asyncio.gather(*sent), 30)

    try:
        asyncio.run(go())
    finally:
        producer.close()
    got = read_back(settings, topic, 50)
    assert [(p, k) for p, k, _ in got] == [(3, b"k")] * 50
    assert [v for _, _, v in got] == [str(n).encode() for n in range(50)]


def test_a_record_the_broker_refuses_fails_its_send(settings: Settings) -> None:
    # orders.events takes the broker's default 1 MB; the producer allows the DLT's 2 MiB
    producer = ConfirmedProducer(settings)

    async def go() -> BaseException | None:
        producer.start(asyncio.get_running_loop())
        sent = producer.send(settings.topic(topics.EVENTS), b"k", b"x" * 1_500_000)
        try:
            await asyncio.wait_for(sent, 30)
        except KafkaException as exc:
            return exc
        return None

    try:
        error = asyncio.run(go())
    finally:
        producer.close()
    assert isinstance(error, KafkaException)
    assert "MSG_SIZE_TOO_LARGE" in str(error.args[0])


def test_requests_are_counted_by_kind_from_librdkafkas_statistics(settings: Settings) -> None:
    producer = ConfirmedProducer(settings)
    try:

        def produce_requests() -> float:
            return (
                REGISTRY.get_sample_value("ordersync_kafka_requests_total", {"api": "Produce"}) or 0
            )

        before = produce_requests()
        stats = {
            "brokers": {"a": {"req": {"Produce": 7, "Fetch": 0}}, "b": {"req": {"Produce": 3}}}
        }
        producer._count_requests(json.dumps(stats))
        assert produce_requests() == before + 10
        stats["brokers"]["a"]["req"]["Produce"] = 9
        producer._count_requests(json.dumps(stats))
        assert produce_requests() == before + 12
    finally:
        producer.close()
