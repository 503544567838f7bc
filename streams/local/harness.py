"""What ``make bench``, ``make chaos`` and the integration tests share: an acknowledged
publisher, record factories, and the sandbox platform's faults and models as data.

    sandbox = Sandbox(run.sandbox_url)
    sandbox.apply("*", StoreModel(latency=Latency(150, 1000)))
    sandbox.apply("loja-7", Fault("fail", status=503))
    publisher = AckedPublisher(settings)
    for record in cancel_events(stores, 10_000, "t"):
        publisher.send_record(record)
    publisher.flush()
"""

from __future__ import annotations

import logging
import time
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Producer

import schemas
from connectors.emulators.sandbox import StoreModel
from streams import logs, topics
from streams.codec import Codec
from streams.ops.client import http_json
from streams.records import EventType, order_key
from streams.settings import Settings

NOW = datetime.now(UTC)


# -- console ---------------------------------------------------------------------------
def console_logging() -> None:
    """bench and chaos print their own progress; beside it, what the libraries warn of
    (librdkafka's lines while a broker is killed) with the time, in the same form."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    logs.quiet_libraries()


# -- records ---------------------------------------------------------------------------
ACCESS_KEY = "35261112345678000199550010000012341000012345"


def payload(event_type: EventType, at: datetime = NOW) -> dict[str, Any]:
    """The payload fields of a valid event of ``event_type`` (the others ``None``); the
    tests' factories use the same (``tests/factories.py``)."""
    fields: dict[str, Any] = dict.fromkeys(
        ("invoice", "shipment", "delivery", "cancellation", "status")
    )
    if event_type is EventType.INVOICE_AUTHORIZED:
        fields["invoice"] = {
            "number": "1234",
            "series": "1",
            "access_key": ACCESS_KEY,
            "issued_at": at,
            "total_cents": 25990,
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 12995}],
            "xml_url": None,
            "xml": None,
        }
    elif event_type is EventType.PICKING_STARTED:
        fields["status"] = {"code": "20", "name": "Em separação"}
    elif event_type is EventType.STATUS_CHANGED:
        fields["status"] = {"code": "30", "name": "Pronto"}
    elif event_type is EventType.SHIPPED:
        fields["shipment"] = {
            "carrier": "Correios",
            "service": "SEDEX",
            "tracking_code": "QB123456789BR",
            "tracking_url": None,
            "shipped_at": at,
        }
    elif event_type is EventType.DELIVERED:
        fields["delivery"] = {"delivered_at": at, "receiver": "Ana", "tracking_events": []}
    else:
        fields["cancellation"] = {"reason": "cliente desistiu", "cancelled_at": at}
    return fields


def record(
    store: str,
    order: str,
    event_type: EventType = EventType.CANCELED,
    *,
    tenant: str = "bench",
    sequence: int = 1,
    producer: str = "harness",
) -> dict[str, Any]:
    """One valid OrderEvent record, as the codec encodes it."""
    return {
        "event_id": str(uuid.uuid4()),
        "tenant": tenant,
        "integration": store,
        "erp_order_id": f"E-{order}",
        "platform_order_id": order,
        "sequence": sequence,
        "occurred_at": NOW,
        "producer": producer,
        "event_type": event_type.value,
        **payload(event_type),
    }


def cancel_events(
    stores: Sequence[str], count: int, tag: str, tenant: str = "bench"
) -> list[dict[str, Any]]:
    """``count`` events spread over ``stores`` in turn, four per order."""
    return [
        record(stores[n % len(stores)], f"{tag}-{n // 4}", tenant=tenant, sequence=n % 4 + 1)
        for n in range(count)
    ]


LIFE = (
    EventType.INVOICE_AUTHORIZED,
    EventType.PICKING_STARTED,
    EventType.SHIPPED,
    EventType.DELIVERED,
)


def lifecycle_records(
    count: int, tag: str, stores: Sequence[str], tenant: str = "chaos"
) -> list[dict[str, Any]]:
    """Orders of four updates each (invoice, picking, shipped, delivered), in publish order."""
    orders = (count + len(LIFE) - 1) // len(LIFE)
    out: list[dict[str, Any]] = []
    for step, event_type in enumerate(LIFE):
        for n in range(orders):
            if len(out) == count:
                break
            out.append(
                record(
                    stores[n % len(stores)],
                    f"{tag}-{n}",
                    event_type,
                    tenant=tenant,
                    sequence=step + 1,
                    producer=tenant,
                )
            )
    return out


# -- publishing ------------------------------------------------------------------------
class AckedPublisher:
    """Publishes, and keeps the ids the broker acknowledged (those are "published") and
    when each record was handed to the producer."""

    def __init__(self, settings: Settings, linger_ms: float = 1) -> None:
        self.codec = Codec(settings)
        self.topic = settings.topic(topics.EVENTS)
        self.producer = Producer(
            topics.kafka_config(
                settings,
                {
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": linger_ms,
                    "message.timeout.ms": 600_000,  # rides out a broker's kill and restart
                    "message.max.bytes": 1_048_588,  # the broker's own limit: 1 MB strings fit
                },
            )
        )
        self.acked: list[str] = []
        self.failed: list[str] = []
        self.sent_at: dict[str, float] = {}

    def _report(self, tag: str) -> Any:
        def done(err: Any, _msg: Any) -> None:
            (self.failed if err else self.acked).append(tag)

        return done

    def send_record(self, record: dict[str, Any]) -> None:
        key = order_key(record["tenant"], record["integration"], record["platform_order_id"])
        value = self.codec.encode(self.topic, schemas.ORDER_EVENT, record)
        self.send_raw(key.encode(), value, record["event_id"])

    def send_records(self, records: Iterable[dict[str, Any]]) -> None:
        for one in records:
            self.send_record(one)
        self.flush()

    def send_raw(
        self, key: bytes | None, value: bytes | None, tag: str, headers: Any = None
    ) -> None:
        while True:
            try:
                self.sent_at[tag] = time.time()
                self.producer.produce(
                    self.topic, key=key, value=value, headers=headers, on_delivery=self._report(tag)
                )
                break
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:  # refused before it left: not published
                self.failed.append(f"{tag}: {exc}")
                break
        self.producer.poll(0)

    def flush(self) -> None:
        while self.producer.flush(5) > 0:
            pass


# -- the sandbox platform's behaviour, as data (its StoreModel, and faults) ---------------
@dataclass(frozen=True)
class Fault:
    """``fail`` with ``status``, answer ``slow``ly (``delay_ms`` more), or ``hang``; for the
    next ``count`` calls (-1: until cleared)."""

    kind: str = "fail"
    status: int = 503
    count: int = -1
    delay_ms: float = 0
    retry_after_s: int = 1


class Sandbox:
    """The control API of a running sandbox platform."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def apply(self, store: str, behaviour: StoreModel | Fault) -> None:
        if isinstance(behaviour, StoreModel):
            body = {
                "store": store,
                "latency": asdict(behaviour.latency) if behaviour.latency else None,
                "bucket": asdict(behaviour.bucket) if behaviour.bucket else None,
            }
            http_json(f"{self.url}/_model", body)
        else:
            http_json(f"{self.url}/_faults", {"store": store, **asdict(behaviour)})

    def clear(self) -> None:
        for path in ("/_faults", "/_model"):
            request = urllib.request.Request(f"{self.url}{path}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()

    def received(self, store: str | None = None) -> list[dict[str, Any]]:
        query = f"?store={store}" if store else ""
        calls: list[dict[str, Any]] = http_json(f"{self.url}/_received{query}", timeout=120)
        return calls

    def stats(self, store: str | None = None) -> dict[str, Any]:
        query = f"?store={store}" if store else ""
        stats: dict[str, Any] = http_json(f"{self.url}/_stats{query}", timeout=30)
        return stats

    def duplicates(self) -> list[dict[str, Any]]:
        repeated: list[dict[str, Any]] = http_json(f"{self.url}/_duplicates", timeout=60)
        return repeated
