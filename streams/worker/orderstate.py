"""What ordersync remembers per order, kept in a changelogged table keyed by order key.

The table is co-partitioned with the order topics (same key, same partition count), so
an order's state moves with its partition on a rebalance and is restored from the
changelog after a crash. It holds:

- ``delivered``: per kind of update, the highest sequence delivered (no regression);
- ``recent``: the last delivered ``event_id:action`` pairs (dedupe after a replay);
- ``blocked_by``: the event of this order waiting in a retry topic or parked, if any,
  ``blocked_attempt``, the attempt its record is for, and ``parked_id``, the parked copy
  that may run (an event is parked when its store has its next seconds of work waiting);
- ``held``: later events of the order, in arrival order, waiting for it to resolve.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RECENT_LIMIT = 64


@dataclass
class HeldMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    resend_of: str | None = None
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = _b64(self.key)
        data["value"] = _b64(self.value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeldMessage:
        return cls(**(data | {"key": _unb64(data["key"]), "value": _unb64(data["value"])}))


@dataclass
class OrderRecord:
    delivered: dict[str, int] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)
    blocked_by: str | None = None
    blocked_attempt: int = 0
    held: list[HeldMessage] = field(default_factory=list)
    parked_id: str | None = None

    def was_delivered(self, event_id: str, action: str) -> bool:
        return f"{event_id}:{action}" in self.recent

    def record_delivery(self, event_id: str, action: str, kind: str, sequence: int) -> None:
        self.delivered[kind] = max(sequence, self.delivered.get(kind, sequence))
        self.recent.append(f"{event_id}:{action}")
        del self.recent[:-RECENT_LIMIT]

    def encode(self) -> bytes:
        return json.dumps(
            {
                "delivered": self.delivered,
                "recent": self.recent,
                "blocked_by": self.blocked_by,
                "blocked_attempt": self.blocked_attempt,
                "held": [h.to_json() for h in self.held],
                "parked_id": self.parked_id,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> OrderRecord:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            delivered=data.get("delivered", {}),
            recent=data.get("recent", []),
            blocked_by=data.get("blocked_by"),
            blocked_attempt=data.get("blocked_attempt", 0),
            held=[HeldMessage.from_json(h) for h in data.get("held", [])],
            parked_id=data.get("parked_id"),
        )


class OrderStates:
    """Order records over any mutable mapping of bytes (a ``ConfirmedTable`` in the worker)."""

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self.table = table

    def get(self, key: bytes | None) -> OrderRecord:
        return OrderRecord.decode(self.table.get(key or b""))

    async def put(self, key: bytes | None, record: OrderRecord) -> None:
        """Store the record; return once its changelog write is with the broker."""
        await self.confirmed(key, await self.write(key, record))

    async def write(self, key: bytes | None, record: OrderRecord) -> asyncio.Future[Any] | None:
        """Store the record and queue its changelog write: its delivery, for ``confirmed``
        (``None`` where there is none to wait for, or it could not be queued)."""
        name, value = key or b"", record.encode()
        write = getattr(self.table, "write", None)
        if write is None:
            self.table[name] = value
            return None
        try:
            delivery: asyncio.Future[Any] = await write(name, value)
        except Exception:
            log.exception("the changelog write of order %r could not be queued", key)
            return None
        return delivery

    async def confirmed(self, key: bytes | None, delivery: asyncio.Future[Any] | None) -> None:
        """Wait until the broker has the write (``write``'s delivery); a failure is logged.

        A handling cancelled at a stop leaves the record to the producer, which sends it
        all the same."""
        if delivery is None:
            return
        try:
            await delivery
        except Exception:
            # the state stays in memory; only a crash before the next write could replay
            log.exception("the changelog write of order %r failed", key)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
