"""The dispatcher's ordering, retry, dedupe and failure rules, without Kafka.

The registry is replaced by an in-process schema table here (these are unit tests of the
dispatcher's logic); the integration tests run the same paths through the real stack.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import fastavro
import pytest

import schemas
from connectors.base import Connector, Delivery
from streams.codec import Codec
from streams.dispatch import ATTEMPT, ConnectorPool, Dispatcher, Handled, SourceMessage
from streams.errors import PermanentDeliveryError, RetryableDeliveryError
from streams.orderstate import OrderStates
from streams.records import Action, EventType, IntegrationConfig, OrderEvent, Outcome
from streams.settings import Settings
from tests.factories import config, event_record


class LocalCodec(Codec):
    def __init__(self) -> None:
        self._parsed = {name: fastavro.parse_schema(schemas.schema(name)) for name in schemas.ALL}
        self._ids = {name: i for i, name in enumerate(schemas.ALL, start=1)}

    def schema_id(self, topic: str, schema_name: str) -> int:
        return self._ids[schema_name]

    def _writer_schema(self, schema_id: int) -> Any:
        return self._parsed[schemas.ALL[schema_id - 1]]


class Configs:
    def __init__(self, *items: IntegrationConfig) -> None:
        self.items = {c.integration_id: c for c in items}

    def get(self, integration_id: str) -> IntegrationConfig | None:
        return self.items.get(integration_id)


class ScriptedConnector(Connector):
    """Answers each call with the next scripted result: None = success, else raise it."""

    platform = "sandbox"
    actions = frozenset(Action)
    script: ClassVar[list[Exception | None]] = []
    calls: ClassVar[list[tuple[str, int]]] = []

    async def send(
        self, action: Action, event: OrderEvent, platform_status: str | None = None
    ) -> Delivery:
        ScriptedConnector.calls.append((event.event_id, event.sequence))
        result = ScriptedConnector.script.pop(0) if ScriptedConnector.script else None
        if result is not None:
            raise result
        return Delivery(200, 1.0, already_done=False)


class Pool(ConnectorPool):
    def get(self, config: IntegrationConfig) -> Connector:
        return ScriptedConnector(config, None, None)  # type: ignore[arg-type]


@pytest.fixture
def dispatcher() -> Dispatcher:
    ScriptedConnector.script = []
    ScriptedConnector.calls = []
    settings = Settings.from_env({"ORDERSYNC_RETRY_DELAYS_S": "1,5"})
    return Dispatcher(settings, LocalCodec(), Configs(config()), Pool(settings), OrderStates({}))  # type: ignore[arg-type]


def message(record: dict[str, Any], attempt: int = 1, offset: int = 0) -> SourceMessage:
    codec = LocalCodec()
    value = codec.encode("orders.events", schemas.ORDER_EVENT, record)
    key = f"{record['tenant']}/{record['integration']}/{record['platform_order_id']}".encode()
    headers = {ATTEMPT: str(attempt).encode()} if attempt > 1 else {}
    return SourceMessage("orders.events", 0, offset, key, value, headers)


def handle(dispatcher: Dispatcher, msg: SourceMessage) -> Handled:
    return asyncio.run(dispatcher.handle(msg))


def outcomes(handled: Handled) -> list[tuple[str, Outcome, int]]:
    return [(o.event_id, o.outcome, o.attempt) for o in handled.outcomes]


def retryable() -> RetryableDeliveryError:
    return RetryableDeliveryError("503", reason_code="HTTP_SERVER_ERROR", http_status=503)


def test_later_events_wait_behind_a_retry_and_follow_it_in_order(dispatcher: Dispatcher) -> None:
    a1 = event_record(EventType.INVOICE_AUTHORIZED, sequence=1)
    a2 = event_record(EventType.SHIPPED, sequence=2)
    a3 = event_record(EventType.DELIVERED, sequence=3)
    ScriptedConnector.script = [retryable()]
    first = handle(dispatcher, message(a1))
    assert outcomes(first) == [(a1["event_id"], Outcome.RETRY_SCHEDULED, 1)]
    assert first.retry is not None and first.retry.topic == "orders.retry.1"
    assert first.retry.headers[0] == (ATTEMPT, b"2")
    # later events of the order are held: no call, no outcome yet
    assert handle(dispatcher, message(a2, offset=1)).outcomes == []
    assert handle(dispatcher, message(a3, offset=2)).outcomes == []
    assert ScriptedConnector.calls == [(a1["event_id"], 1)]
    # the retry succeeds and releases them, in order
    released = handle(dispatcher, message(a1, attempt=2))
    assert outcomes(released) == [
        (a1["event_id"], Outcome.SENT, 2),
        (a2["event_id"], Outcome.SENT, 1),
        (a3["event_id"], Outcome.SENT, 1),
    ]
    assert [seq for _, seq in ScriptedConnector.calls] == [1, 1, 2, 3]
    assert released.outcomes[1].source_offset == 1  # held events keep their source


def test_exhausted_retries_dead_letter_and_release_the_order(dispatcher: Dispatcher) -> None:
    a1 = event_record(sequence=1)
    a2 = event_record(EventType.CANCELED, sequence=2)
    ScriptedConnector.script = [retryable(), retryable(), retryable()]
    handle(dispatcher, message(a1))
    handle(dispatcher, message(a2, offset=1))
    second = handle(dispatcher, message(a1, attempt=2))
    assert outcomes(second) == [(a1["event_id"], Outcome.RETRY_SCHEDULED, 2)]
    assert second.retry is not None and second.retry.topic == "orders.retry.2"
    last = handle(dispatcher, message(a1, attempt=3))
    assert outcomes(last) == [
        (a1["event_id"], Outcome.DEAD_LETTERED, 3),
        (a2["event_id"], Outcome.SENT, 1),
    ]
    headers = dict(last.dead_letters[0].headers)
    assert headers["ordersync.attempts"] == b"3" and headers["ordersync.http.status"] == b"503"


def test_an_attempt_read_again_after_a_crash_is_not_made_twice(dispatcher: Dispatcher) -> None:
    a1 = event_record(sequence=1)
    ScriptedConnector.script = [retryable(), retryable()]
    handle(dispatcher, message(a1))  # attempt 1 fails: attempt 2 is scheduled
    # the event itself is read again (its offset was not committed before a kill)
    assert handle(dispatcher, message(a1)).outcomes == []
    second = handle(dispatcher, message(a1, attempt=2))
    assert outcomes(second) == [(a1["event_id"], Outcome.RETRY_SCHEDULED, 2)]
    # so is the attempt-2 record, once attempt 3 is scheduled
    assert handle(dispatcher, message(a1, attempt=2)).outcomes == []
    assert outcomes(handle(dispatcher, message(a1, attempt=3))) == [
        (a1["event_id"], Outcome.SENT, 3)
    ]
    assert ScriptedConnector.calls == [(a1["event_id"], 1)] * 3


def test_a_retry_record_of_a_resolved_event_is_not_sent(dispatcher: Dispatcher) -> None:
    a1 = event_record(sequence=1)
    ScriptedConnector.script = [retryable(), retryable(), retryable()]
    handle(dispatcher, message(a1))
    handle(dispatcher, message(a1, attempt=2))
    dead = handle(dispatcher, message(a1, attempt=3))
    assert outcomes(dead) == [(a1["event_id"], Outcome.DEAD_LETTERED, 3)]
    # a stray replay of the last attempt, the store healthy again: its terminal outcome is
    # recorded already, and an operator resends dead letters, so it must not go out
    assert handle(dispatcher, message(a1, attempt=3)).outcomes == []
    assert len(ScriptedConnector.calls) == 3


def test_permanent_failure_is_dead_lettered_at_once(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [
        PermanentDeliveryError("400", reason_code="HTTP_REJECTED", http_status=400)
    ]
    handled = handle(dispatcher, message(event_record()))
    assert [o.outcome for o in handled.outcomes] == [Outcome.DEAD_LETTERED]
    assert handled.retry is None and len(handled.dead_letters) == 1


def test_an_unexpected_exception_is_dead_lettered_not_lost(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [RuntimeError("connector bug")]
    handled = handle(dispatcher, message(event_record()))
    assert [(o.outcome, o.reason_code) for o in handled.outcomes] == [
        (Outcome.DEAD_LETTERED, "INTERNAL_ERROR")
    ]
    assert handled.dead_letters and handled.dead_letters[0].value is not None


def test_replayed_delivery_is_not_sent_twice(dispatcher: Dispatcher) -> None:
    record = event_record()
    assert outcomes(handle(dispatcher, message(record)))[0][1] is Outcome.SENT
    assert handle(dispatcher, message(record)).outcomes == []
    assert len(ScriptedConnector.calls) == 1


def test_older_update_is_superseded(dispatcher: Dispatcher) -> None:
    newer = event_record(EventType.SHIPPED, sequence=5)
    older = event_record(EventType.SHIPPED, sequence=4)
    handle(dispatcher, message(newer))
    handled = handle(dispatcher, message(older))
    assert [(o.outcome, o.reason_code) for o in handled.outcomes] == [
        (Outcome.SUPERSEDED, "SUPERSEDED_BY_NEWER")
    ]
    assert len(ScriptedConnector.calls) == 1


def test_retry_delay_honours_a_longer_retry_after(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [
        RetryableDeliveryError("429", reason_code="RATE_LIMITED", http_status=429, retry_after_s=30)
    ]
    handled = handle(dispatcher, message(event_record()))
    assert handled.retry is not None
    assert 29 < handled.retry.due_s - time.time() <= 30
