"""Resend: put chosen events back on ``orders.events`` and record that an operator did.

The history knows where each event was read from (topic, partition, offset); the
original record is fetched from there and republished unchanged under its own key,
with headers naming the outcome it resends. A RESENT outcome is written for each, so
the error leaves the "Erros" tab at once and the new attempt's outcomes link back.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streams import topics
from streams.codec import Codec
from streams.history.report import latest
from streams.history.store import HistoryStore
from streams.reasons import ReasonCode
from streams.records import DispatchOutcome, Outcome, now_utc, order_key
from streams.republish import Republisher
from streams.settings import Settings

log = logging.getLogger(__name__)
MAX_RESEND = 10_000
MAX_REMEMBERED = 100_000
FETCH_DEADLINE_S = 60.0
OPEN_ERRORS = ("DEAD_LETTERED", "INVALID")


@dataclass(frozen=True)
class Selection:
    """Which events to resend: explicit ids, or a filter over latest outcomes."""

    tenant: str | None = None  # the caller's tenant: never resend another tenant's rows
    event_ids: tuple[str, ...] = ()
    integration: str | None = None
    order: str | None = None
    outcomes: tuple[str, ...] = OPEN_ERRORS
    reason: str | None = None
    since: str | None = None  # ISO-8601, on decided_at
    until: str | None = None
    limit: int = 1000

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.tenant:
            clauses.append("tenant = {tenant:String}")
            params["tenant"] = self.tenant
        if self.event_ids:
            clauses.append("event_id IN {ids:Array(String)}")
            params["ids"] = list(self.event_ids)
        if self.integration:
            clauses.append("integration = {integration:String}")
            params["integration"] = self.integration
        if self.order:
            clauses.append("platform_order_id = {order:String}")
            params["order"] = self.order
        return (" AND ".join(clauses) or "1"), params

    def having(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.outcomes and not self.event_ids:
            clauses.append("outcome IN {outcomes:Array(String)}")
            params["outcomes"] = list(self.outcomes)
        if self.reason:
            clauses.append("reason_code = {reason:String}")
            params["reason"] = self.reason
        if self.since:
            clauses.append("last_at >= parseDateTime64BestEffort({since:String}, 3)")
            params["since"] = self.since
        if self.until:
            clauses.append("last_at < parseDateTime64BestEffort({until:String}, 3)")
            params["until"] = self.until
        return (" AND ".join(clauses) or "1"), params


@dataclass
class ResendReport:
    selected: int = 0
    resent: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # original no longer in Kafka
    pending: list[str] = field(default_factory=list)  # resent already; its outcome not yet in
    not_found: list[str] = field(default_factory=list)  # asked for, not in the caller's history
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "resent": len(self.resent),
            "event_ids": self.resent,
            "missing": self.missing,
            "pending": self.pending,
            "not_found": self.not_found,
            "dry_run": self.dry_run,
        }


class Resender:
    def __init__(self, settings: Settings, store: HistoryStore, codec: Codec) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        # event id -> the outcome it was resent from. The RESENT outcome reaches the history
        # through Kafka, so until it does the event still looks open: a second click must
        # not send it twice. An event that failed again has a newer outcome and may go.
        self._resent_from: dict[str, str] = {}
        self._lock = threading.Lock()

    def select(self, selection: Selection) -> list[dict[str, Any]]:
        """The latest outcome row of each selected event (the row that will be resent)."""
        where, params = selection.where()
        having, having_params = selection.having()
        limit = max(1, min(selection.limit, MAX_RESEND))
        event = (
            "tuple(tenant, integration, platform, erp_order_id, platform_order_id, "
            "sequence, event_type, occurred_at)"
        )
        return self.store.query(
            f"""
            SELECT event_id, latest_outcome_id AS outcome_id, latest_outcome AS outcome,
                   latest_reason_code AS reason_code, last_at, event, source
            FROM (
                SELECT event_id,
                       {latest("outcome_id")} AS latest_outcome_id,
                       {latest("outcome")} AS latest_outcome,
                       {latest("reason_code")} AS latest_reason_code,
                       max(decided_at) AS last_at,
                       {latest(event)} AS event,
                       argMaxIf(tuple(source_topic, source_partition, source_offset), decided_at,
                                source_offset >= 0) AS source
                FROM status_send_history
                WHERE {where} AND event_id != ''
                GROUP BY event_id
            )
            WHERE {having}
            ORDER BY last_at
            LIMIT {limit}
            """,
            params | having_params,
        )

    def resend(
        self, selection: Selection, operator: str, dry_run: bool = False, force: bool = False
    ) -> ResendReport:
        with self._lock:
            return self._resend(selection, operator, dry_run, force)

    def _resend(
        self, selection: Selection, operator: str, dry_run: bool, force: bool
    ) -> ResendReport:
        rows = self.select(selection)
        report = ResendReport(selected=len(rows), dry_run=dry_run)
        found = {r["event_id"] for r in rows}
        report.not_found = [e for e in dict.fromkeys(selection.event_ids) if e not in found]
        report.pending = [
            r["event_id"]
            for r in rows
            if self._resent_from.get(r["event_id"]) == str(r["outcome_id"])
        ]
        pending = set(report.pending)
        rows = [r for r in rows if r["event_id"] not in pending]
        if dry_run or not rows:
            report.resent = [r["event_id"] for r in rows] if dry_run else []
            return report
        republisher = Republisher(self.settings, self.codec)  # refuses without a signing key
        originals = self._fetch([tuple(r["source"]) for r in rows])
        for row in rows:
            original = originals.get(tuple(row["source"]))
            if original is None:
                tenant, integration, _, _, order, *_ = row["event"]
                log.warning(
                    "resend of %s: no record at %s (the original is no longer in Kafka?)",
                    row["event_id"],
                    ":".join(str(part) for part in row["source"]),
                    extra={
                        "event_id": row["event_id"],
                        "order": order_key(tenant, integration, order),
                        "integration": integration,
                        "tenant": tenant,
                    },
                )
                report.missing.append(row["event_id"])
                continue
            key, value = original
            republisher.republish(key, value, self._resent_outcome(row, operator), operator, force)
            report.resent.append(row["event_id"])
        republisher.flush("resent events")
        if len(self._resent_from) > MAX_REMEMBERED:
            self._resent_from.clear()  # old entries only guard resends long since recorded
        sent = set(report.resent)
        for row in rows:
            if row["event_id"] in sent:
                self._resent_from[row["event_id"]] = str(row["outcome_id"])
        return report

    def _resent_outcome(self, row: dict[str, Any], operator: str) -> DispatchOutcome:
        tenant, integration, platform, erp_order, order, sequence, event_type, occurred = row[
            "event"
        ]
        return DispatchOutcome(
            event_id=row["event_id"],
            tenant=tenant,
            integration=integration,
            platform=platform,
            erp_order_id=erp_order,
            platform_order_id=order,
            sequence=sequence,
            event_type=event_type,
            action="",
            outcome=Outcome.RESENT,
            reason_code=ReasonCode.OPERATOR_RESEND.value,
            attempt=0,
            occurred_at=occurred,
            decided_at=now_utc(),
            error=f"resent by {operator}",
            resend_of=str(row["outcome_id"]),
            outcome_id=str(uuid.uuid4()),
        )

    def _fetch(
        self, sources: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], tuple[bytes | None, bytes | None]]:
        """The original (key, value) at each (topic, partition, offset) still in Kafka.

        One consumer reads every partition concerned from its lowest wanted offset to its
        highest, until each has reached it or ``FETCH_DEADLINE_S`` passed: a busy broker
        may be slow to answer a new consumer's first fetch, and an end-of-partition notice
        or a second of silence proves nothing. An offset below the partition's start was
        deleted by retention and is not read.
        """
        wanted: dict[tuple[str, int], set[int]] = {}
        for topic, partition, offset in sources:
            if topic and offset >= 0:
                wanted.setdefault((topic, partition), set()).add(offset)
        found: dict[tuple[Any, ...], tuple[bytes | None, bytes | None]] = {}
        if not wanted:
            return found
        consumer = Consumer(
            topics.kafka_config(
                self.settings,
                {
                    "group.id": f"{self.settings.topic_prefix}ordersync-resend",
                    "enable.auto.commit": False,
                    "fetch.message.max.bytes": topics.MAX_RECORD_BYTES,
                },
            )
        )
        try:
            starts, remaining = [], {}
            for (topic, partition), offsets in wanted.items():
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                readable = [o for o in offsets if low <= o < high]
                if readable:
                    starts.append(TopicPartition(topic, partition, min(readable)))
                    remaining[(topic, partition)] = max(readable)
            consumer.assign(starts)
            deadline = time.monotonic() + FETCH_DEADLINE_S
            while remaining and time.monotonic() < deadline:
                for message in consumer.consume(1000, timeout=0.5):
                    if message.error() is not None:
                        continue
                    where = (message.topic() or "", message.partition() or 0)
                    offset = message.offset() or 0
                    if offset in wanted.get(where, ()):
                        found[(*where, offset)] = (message.key(), message.value())
                    if offset >= remaining.get(where, offset + 1):
                        del remaining[where]
        finally:
            consumer.close()
        return found
