"""What every dispatch worker has waiting, per store, as the workers last said.

The workers publish ``StoreBacklog`` snapshots on the compacted ``orders.backlog`` topic
(``streams.worker.backlog``). The history follows all of it and keeps each worker's last
one; ``by_store`` adds them up per integration. A snapshot with work in it that is older
than three of its intervals is from a worker that stopped or died before it could say it
had nothing left: its sends were read again by another worker, which reports them now.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import schemas
from streams.codec import Codec
from streams.errors import DecodeError

log = logging.getLogger(__name__)
STALE_AFTER_INTERVALS = 3


class BacklogView:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._snapshots: dict[str, dict[str, Any]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        worker = (key or b"").decode("utf-8", errors="replace")
        if value is None:
            self._snapshots.pop(worker, None)
            return
        try:
            snapshot = self.codec.decode(value, schemas.STORE_BACKLOG)
        except DecodeError as exc:
            log.error("backlog snapshot of worker %s ignored: %s", worker, exc)
            return
        self._snapshots[worker] = snapshot

    def by_store(self, tenant: str | None, now: float | None = None) -> list[dict[str, Any]]:
        """Per integration (of ``tenant``; None: every tenant), summed over the live
        snapshots: in flight, queued, parked, the oldest wait and the oldest parked event, how
        long its circuit has been open, until when it is paused (epoch seconds), and the
        workers holding it."""
        now_ms = (time.time() if now is None else now) * 1000
        stores: dict[str, dict[str, Any]] = {}
        for snapshot in list(self._snapshots.values()):
            age_ms = now_ms - _millis(snapshot["at"])
            if age_ms > STALE_AFTER_INTERVALS * snapshot["interval_ms"]:
                continue
            for row in snapshot["stores"]:
                if tenant is not None and row["tenant"] != tenant:
                    continue
                total = stores.setdefault(
                    row["integration_id"],
                    {
                        "integration_id": row["integration_id"],
                        "tenant": row["tenant"],
                        "in_flight": 0,
                        "queued": 0,
                        "parked": 0,
                        "oldest_wait_s": 0.0,
                        "oldest_parked_s": 0.0,
                        "circuit_open_s": 0.0,
                        "paused_until": None,
                        "workers": 0,
                        "as_of": None,
                    },
                )
                total["in_flight"] += row["in_flight"]
                total["queued"] += row["queued"]
                total["parked"] += row["parked"]
                # the wait grew since the snapshot was taken, if the event still waits
                waited_s = (row["oldest_wait_ms"] + age_ms) / 1000 if row["queued"] else 0.0
                total["oldest_wait_s"] = round(max(total["oldest_wait_s"], waited_s), 3)
                # rows of snapshots written before these fields existed lack them
                parked_ms = row.get("oldest_parked_ms") or 0
                away_s = (parked_ms + age_ms) / 1000 if row["parked"] and parked_ms else 0.0
                total["oldest_parked_s"] = round(max(total["oldest_parked_s"], away_s), 3)
                open_ms = row.get("circuit_open_ms") or 0
                open_s = (open_ms + age_ms) / 1000 if open_ms else 0.0
                total["circuit_open_s"] = round(max(total["circuit_open_s"], open_s), 3)
                until = row.get("paused_until")
                if until is not None and _millis(until) > now_ms:
                    until_s = _millis(until) / 1000
                    held = total["paused_until"]
                    total["paused_until"] = until_s if held is None else max(held, until_s)
                total["workers"] += 1
                at = _millis(snapshot["at"]) / 1000
                total["as_of"] = at if total["as_of"] is None else min(total["as_of"], at)
        return sorted(
            stores.values(), key=lambda s: (-(s["queued"] + s["parked"]), s["integration_id"])
        )


def _millis(at: Any) -> float:
    """fastavro reads timestamp-millis as an aware datetime."""
    return at.timestamp() * 1000 if hasattr(at, "timestamp") else float(at)
