"""``ordersync publish``: validate a JSON Lines file of order events, then publish it.

Every line is checked before anything is sent. With ``strict`` (the default) one bad
line stops the whole file; otherwise the valid lines go and the bad ones are listed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from confluent_kafka import Producer

import schemas
from streams import topics
from streams.codec import Codec
from streams.errors import ConfigurationError, FieldError
from streams.records import order_key
from streams.settings import Settings
from streams.validation import parse_event

PROGRESS_EVERY = 1000
EXIT_OK = 0
EXIT_INVALID_NOTHING_SENT = 2
EXIT_PUBLISHED_WITH_REJECTS = 3
EXIT_DELIVERY_FAILED = 4


@dataclass
class LineError:
    line: int
    errors: list[FieldError]

    def __str__(self) -> str:
        return "\n".join(f"line {self.line}: {e}" for e in self.errors)


@dataclass
class PublishReport:
    published: int = 0
    rejected: list[LineError] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.delivery_errors:
            return EXIT_DELIVERY_FAILED
        if self.rejected:
            return EXIT_PUBLISHED_WITH_REJECTS if self.published else EXIT_INVALID_NOTHING_SENT
        return EXIT_OK


def parse_lines(
    lines: Iterable[str],
) -> Iterator[tuple[int, dict[str, Any] | None, list[FieldError]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:  # bytes the reader kept as surrogates
            yield number, None, [FieldError("", f"not valid UTF-8 at column {exc.start + 1}")]
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, [FieldError("", f"not valid JSON: {exc.msg} at column {exc.colno}")]
            continue
        record, errors = parse_event(obj)
        yield number, record, errors


def make_producer(settings: Settings) -> Producer:
    return Producer(
        topics.kafka_config(
            settings,
            {
                "enable.idempotence": True,  # retries never reorder or duplicate an order's events
                # a producer of instant events: a batch waits at most 1 ms for others to join
                # it (5 ms was most of an event's way to the broker); under load batches still
                # fill while earlier ones are in flight
                "linger.ms": 1,
                "compression.type": "lz4",
            },
        )
    )


def publish_records(
    settings: Settings,
    records: list[dict[str, Any]],
    codec: Codec | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    codec = codec or Codec(settings)
    producer = make_producer(settings)
    topic = settings.topic(topics.EVENTS)
    report = PublishReport()

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            report.delivery_errors.append(str(err))
        else:
            report.published += 1

    for record in records:
        key = order_key(record["tenant"], record["integration"], record["platform_order_id"])
        value = codec.encode(topic, schemas.ORDER_EVENT, record)
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        report.event_ids.append(record["event_id"])
        if progress is not None and len(report.event_ids) % PROGRESS_EVERY == 0:
            progress(len(report.event_ids), len(records))
    if progress is not None and records:
        progress(len(records), len(records))
    remaining = producer.flush(60)
    if remaining:
        report.delivery_errors.append(f"{remaining} message(s) not delivered within 60s")
    return report


def publish_file(
    settings: Settings,
    stream: IO[str],
    strict: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    valid: list[dict[str, Any]] = []
    rejected: list[LineError] = []
    for number, record, errors in parse_lines(stream):
        if errors:
            rejected.append(LineError(number, errors))
        elif record is not None:
            valid.append(record)
    if rejected and strict:
        return PublishReport(rejected=rejected)
    report = publish_records(settings, valid, progress=progress) if valid else PublishReport()
    report.rejected = rejected
    return report


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "-" * (width - filled)
    print(
        f"\r[{bar}] {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True
    )


def main_publish(settings: Settings, path: str, strict: bool) -> int:
    try:
        # bytes that are not UTF-8 reach parse_lines as surrogates: that line is rejected
        if path == "-":
            sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
            stream = sys.stdin
        else:
            stream = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror}") from exc
    with stream:
        progress = _progress_bar if sys.stderr.isatty() else None
        report = publish_file(settings, stream, strict=strict, progress=progress)
    for rejected in report.rejected:
        print(rejected, file=sys.stderr)
    for error in report.delivery_errors:
        print(f"delivery failed: {error}", file=sys.stderr)
    if report.rejected and strict:
        print(
            f"nothing published: {len(report.rejected)} invalid line(s) (use --skip-invalid to send the rest)",
            file=sys.stderr,
        )
    print(f"published {report.published}, rejected {len(report.rejected)}")
    return report.exit_code
