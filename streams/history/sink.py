"""Writes outcomes into ClickHouse in batches, exactly once per batch of offsets.

The insert deduplication token is derived from the batch's topic/partition/offset
ranges, so a batch replayed after a crash (same offsets, same token) is dropped by
ClickHouse instead of doubling rows. While ClickHouse refuses, the sink keeps the
batch and retries with backoff; the outcomes stay in Kafka meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from faust.types import EventT

import schemas
from streams.codec import Codec
from streams.errors import DecodeError
from streams.history import metrics
from streams.history.store import HistoryStore
from streams.records import DispatchOutcome

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0


def dedup_token(offsets: Sequence[tuple[str, int, int]]) -> str:
    """A token naming the exact (topic, partition, offset) set of a batch."""
    ranges: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in offsets:
        ranges.setdefault((topic, partition), []).append(offset)
    return ";".join(
        f"{topic}:{partition}:{min(v)}-{max(v)}:{len(v)}"
        for (topic, partition), v in sorted(ranges.items())
    )


class HistorySink:
    def __init__(self, store: HistoryStore, codec: Codec, refuse_while: Path | None = None) -> None:
        self.store = store
        self.codec = codec
        self.refuse_while = refuse_while
        self.rows_written = 0
        self.batches_written = 0
        self.failures = 0
        self.repeated_terminals = 0

    async def _without_repeated_terminals(
        self, outcomes: Sequence[DispatchOutcome]
    ) -> list[DispatchOutcome]:
        """Drop a terminal outcome the history already holds (same idempotent id)."""
        terminals = [o for o in outcomes if o.terminal]
        seen: set[str] = set()
        if terminals:
            seen = await asyncio.to_thread(self.store.existing_outcome_ids, terminals)
        kept = []
        for outcome in outcomes:
            if outcome.terminal:
                if outcome.outcome_id in seen:
                    self.repeated_terminals += 1
                    continue
                seen.add(outcome.outcome_id)
            kept.append(outcome)
        return kept

    async def write_events(self, batch: Sequence[EventT[bytes]]) -> None:
        """One batch of the outcomes topic, as the sink agent takes it."""
        decoded = [(self.decode(e.message.value), e.message) for e in batch]
        outcomes = [o for o, _ in decoded if o is not None]
        offsets = [(m.topic, m.partition, m.offset) for _, m in decoded]
        await self.write(outcomes, offsets)

    def decode(self, raw: bytes | None) -> DispatchOutcome | None:
        try:
            return DispatchOutcome.from_avro(self.codec.decode(raw, schemas.DISPATCH_OUTCOME))
        except DecodeError:
            log.exception("skipping an undecodable record on the outcomes topic")
            return None

    async def write(
        self, outcomes: Sequence[DispatchOutcome], offsets: Sequence[tuple[str, int, int]]
    ) -> None:
        token = dedup_token(offsets)
        outcomes = await self._without_repeated_terminals(outcomes)
        backoff = 0.2
        while True:
            try:
                if self.refuse_while is not None and self.refuse_while.exists():
                    raise ConnectionError(f"ClickHouse refused: fault file {self.refuse_while}")
                await asyncio.to_thread(self.store.insert_outcomes, outcomes, token)
            except Exception:
                self.failures += 1
                metrics.SINK_FAILURES.inc()
                log.exception(
                    "history write of %d rows failed; retrying in %.1fs", len(outcomes), backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            metrics.SINK_BATCH.observe(len(outcomes))
            self.rows_written += len(outcomes)
            self.batches_written += 1
            return
