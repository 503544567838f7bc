"""Following a one-partition compacted topic from its beginning, with a group-less consumer.

Every process that keeps a view of such a topic (the workers' integration configs, the
history's backlog of the workers) reads all of it on start and then every change within
milliseconds; ``caught_up`` is called once the reader has reached what the topic held when
it started, so nothing is judged against a half-loaded view.
"""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

Apply = Callable[[bytes | None, bytes | None], None]


async def follow(bootstrap: str, topic: str, apply: Apply, caught_up: Callable[[], None]) -> None:
    """Hand every (key, value) of ``topic`` to ``apply`` in order, for as long as it runs."""
    # a fetch returns as soon as a record lands; while none does, one a few seconds
    # costs the broker next to nothing
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=5000,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        waiting = end > 0  # for the records the topic held at the start
        if not waiting:
            caught_up()
        while True:
            batch = await consumer.getmany(partition, timeout_ms=500)
            for message in batch.get(partition, []):
                apply(message.key, message.value)
            if waiting and await consumer.position(partition) >= end:
                waiting = False
                caught_up()
    finally:
        await consumer.stop()
