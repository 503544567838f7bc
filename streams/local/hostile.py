"""Records a careless or hostile producer can write, for the tests and the chaos run's fuzz.

``confluent-kafka`` writes every header name as UTF-8 (it even turns bytes into their
``repr``), so a header name that is not UTF-8 is written here with aiokafka's own record
format, in a process of its own: the pure-Python record builder must be chosen before
aiokafka is first imported.

    python -m streams.local.hostile BOOTSTRAP TOPIC < records   (one "KEY VALUE NAME" per
    line, each in hex)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

Record = tuple[bytes, bytes, bytes]  # key, value, header name


class RawName(str):
    """A header name that encodes to the bytes it was given, UTF-8 or not."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("utf-8", errors="replace"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def send_with_raw_header_names(bootstrap: str, topic: str, records: list[Record]) -> None:
    """Publish each (key, value, header name) record, the name's bytes as they are; returns
    once the broker has acknowledged every one."""
    lines = "".join(f"{k.hex()} {v.hex()} {n.hex()}\n" for k, v, n in records)
    subprocess.run(
        [sys.executable, "-m", __name__, bootstrap, topic],
        input=lines.encode(),
        check=True,
        env=os.environ | {"AIOKAFKA_NO_EXTENSIONS": "1"},
        timeout=120,
    )


def send_with_raw_header_name(
    bootstrap: str, topic: str, key: bytes | None, value: bytes | None, name: bytes
) -> None:
    send_with_raw_header_names(bootstrap, topic, [(key or b"", value or b"", name)])


async def _send(bootstrap: str, topic: str, records: list[Record]) -> None:
    from aiokafka import AIOKafkaProducer

    producer: Any = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key, headers=[(RawName(name), b"x")])
            for key, value, name in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _main() -> None:
    given = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    records = [(bytes.fromhex(k), bytes.fromhex(v), bytes.fromhex(n)) for k, v, n in given]
    asyncio.run(_send(sys.argv[1], sys.argv[2], records))


if __name__ == "__main__":
    _main()
