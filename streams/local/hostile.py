"""Records a careless or hostile producer can write, for the tests and the chaos run's fuzz.

``confluent-kafka`` writes every header name as UTF-8 (it even turns bytes into their
``repr``), so a header name that is not UTF-8 is written here with aiokafka's own record
format, in a process of its own: the pure-Python record builder must be chosen before
aiokafka is first imported.

    python -m streams.local.hostile BOOTSTRAP TOPIC KEY_HEX VALUE_HEX NAME_HEX
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any


class RawName(str):
    """A header name that encodes to the bytes it was given, UTF-8 or not."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("utf-8", errors="replace"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def send_with_raw_header_name(
    bootstrap: str, topic: str, key: bytes | None, value: bytes | None, name: bytes
) -> None:
    """Publish one record whose header name is ``name``, bytes as they are."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            __name__,
            bootstrap,
            topic,
            (key or b"").hex(),
            (value or b"").hex(),
            name.hex(),
        ],
        check=True,
        env=os.environ | {"AIOKAFKA_NO_EXTENSIONS": "1"},
        timeout=60,
    )


async def _send(bootstrap: str, topic: str, key: bytes, value: bytes, name: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer: Any = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=[(RawName(name), b"x")])
    finally:
        await producer.stop()


if __name__ == "__main__":
    bootstrap, topic, key, value, name = sys.argv[1:6]
    asyncio.run(
        _send(bootstrap, topic, bytes.fromhex(key), bytes.fromhex(value), bytes.fromhex(name))
    )
