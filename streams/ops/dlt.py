"""``ordersync dlt replay``: put dead-lettered events back on ``orders.events``.

Reads the whole dead-letter topic, keeps the records that match the filters, and
republishes each original record under its original key, once per run even when the
topic holds it several times. Each replayed event gets a RESENT outcome whose link
names the dead-letter record, and the new attempt's outcomes link back to it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

import schemas
from streams import topics
from streams.codec import Codec
from streams.errors import InvalidInputError
from streams.headers import ERROR_REASON, LAST_FAILURE
from streams.reasons import ReasonCode
from streams.records import DispatchOutcome, OrderEvent, Outcome
from streams.republish import Republisher
from streams.settings import Settings


@dataclass(frozen=True)
class ReplayFilter:
    integration: str | None = None
    tenant: str | None = None
    reason: str | None = None
    since: datetime | None = None  # on the last failure time
    until: datetime | None = None
    limit: int | None = None


@dataclass
class ReplayReport:
    scanned: int = 0
    matched: int = 0
    replayed: int = 0
    duplicates_skipped: int = 0
    undecodable: int = 0  # bad records cannot be replayed into anything but the same error
    event_ids: list[str] = field(default_factory=list)


def _headers(message: Message) -> dict[str, str]:
    headers: list[tuple[str, bytes]] = message.headers() or []  # type: ignore[assignment]
    return {name: (value or b"").decode("utf-8", errors="replace") for name, value in headers}


def read_dlt(settings: Settings) -> list[Message]:
    """Every record on the dead-letter topic, oldest first per partition."""
    topic = settings.topic(topics.DLT)
    consumer = Consumer(
        topics.kafka_config(
            settings,
            {
                "group.id": f"{settings.topic_prefix}ordersync-dlt-replay",
                "enable.auto.commit": False,
                "fetch.message.max.bytes": topics.MAX_RECORD_BYTES,
            },
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        messages: list[Message] = []
        done: set[int] = set()
        while len(done) < len(ends):
            for message in consumer.consume(500, timeout=2.0):
                if message.error():
                    continue
                messages.append(message)
                partition, offset = message.partition() or 0, message.offset() or 0
                if offset >= ends[partition][1] - 1:
                    done.add(partition)
        return messages
    finally:
        consumer.close()


def replay(
    settings: Settings,
    selection: ReplayFilter,
    dry_run: bool = False,
    operator: str = "cli",
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    codec = Codec(settings)
    report = ReplayReport()
    chosen: list[tuple[Message, OrderEvent]] = []
    seen: set[str] = set()
    for message in read_dlt(settings):
        report.scanned += 1
        headers = _headers(message)
        try:
            event = OrderEvent.from_avro(codec.decode(message.value(), schemas.ORDER_EVENT))
        except (InvalidInputError, KeyError, ValueError):
            report.undecodable += 1
            continue
        if not _matches(event, headers, selection):
            continue
        report.matched += 1
        if event.event_id in seen:
            report.duplicates_skipped += 1
            continue
        seen.add(event.event_id)
        chosen.append((message, event))
        if selection.limit is not None and len(chosen) >= selection.limit:
            break
    report.event_ids = [event.event_id for _, event in chosen]
    if dry_run:
        return report
    republisher = Republisher(settings, codec)  # refuses without a signing key
    for index, (message, event) in enumerate(chosen, start=1):
        resent = DispatchOutcome.for_event(
            event,
            "",
            outcome=Outcome.RESENT,
            reason_code=ReasonCode.OPERATOR_RESEND.value,
            error=f"replayed from the dead-letter topic by {operator}",
            resend_of=f"dlt:{message.partition()}:{message.offset()}",
            outcome_id=str(uuid.uuid4()),
        )
        republisher.republish(message.key(), message.value(), resent, operator)
        report.replayed += 1
        if progress is not None:
            progress(index, len(chosen))
    republisher.flush("replayed events")
    return report


def _matches(event: OrderEvent, headers: dict[str, str], selection: ReplayFilter) -> bool:
    if selection.integration and event.integration != selection.integration:
        return False
    if selection.tenant and event.tenant != selection.tenant:
        return False
    if selection.reason and headers.get(ERROR_REASON) != selection.reason:
        return False
    if selection.since or selection.until:
        try:
            failed_at = datetime.fromisoformat(headers.get(LAST_FAILURE, ""))
        except ValueError:
            return False
        if selection.since and failed_at < selection.since:
            return False
        if selection.until and failed_at >= selection.until:
            return False
    return True


def main_replay(settings: Settings, args: Any) -> int:
    def when(text: str | None) -> datetime | None:
        if not text:
            return None
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.astimezone()

    selection = ReplayFilter(
        integration=args.integration,
        tenant=args.tenant,
        reason=args.reason,
        since=when(args.since),
        until=when(args.until),
        limit=args.limit,
    )

    def bar(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        end = "\n" if done == total else ""
        print(
            f"\r[{'#' * filled}{'-' * (30 - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    report = replay(
        settings, selection, args.dry_run, progress=bar if sys.stderr.isatty() else None
    )
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"scanned {report.scanned} dead letter(s): {report.matched} matched, {verb} "
        f"{len(report.event_ids) if args.dry_run else report.replayed}, "
        f"{report.duplicates_skipped} duplicate(s) skipped, {report.undecodable} not replayable (bad records)"
    )
    for event_id in report.event_ids:
        print(f"  {event_id}")
    return 0


__all__ = ["ReplayFilter", "ReplayReport", "main_replay", "read_dlt", "replay"]
