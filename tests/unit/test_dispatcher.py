"""The dispatcher's ordering, retry, dedupe and failure rules, without Kafka.

The registry is replaced by an in-process schema table here (these are unit tests of the
dispatcher's logic); the integration tests run the same paths through the real stack.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import fastavro
import pytest

import schemas
from connectors.base import Connector, Delivery
from connectors.emulators.base import Fault
from connectors.emulators.tray import TrayEmulator
from streams.codec import Codec
from streams.errors import DocumentError, PermanentDeliveryError, RetryableDeliveryError
from streams.headers import ATTEMPT, ERROR_REASON, RESEND_FORCE, RESEND_OF, signed
from streams.reasons import ReasonCode
from streams.records import Action, EventType, IntegrationConfig, OrderEvent, Outcome
from streams.secrets import Secret
from streams.settings import Settings
from streams.worker.dispatch import Dispatcher
from streams.worker.messages import Handled, SourceMessage
from streams.worker.orderstate import OrderStates
from streams.worker.pool import ConnectorPool
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
    script: ClassVar[list[Exception | Delivery | None]] = []
    calls: ClassVar[list[tuple[str, int]]] = []

    async def send(
        self, action: Action, event: OrderEvent, platform_status: str | None = None
    ) -> Delivery:
        ScriptedConnector.calls.append((event.event_id, event.sequence))
        result = ScriptedConnector.script.pop(0) if ScriptedConnector.script else None
        if isinstance(result, Delivery):
            return result
        if result is not None:
            raise result
        return Delivery(200, 1.0, already_done=False)


class Pool(ConnectorPool):
    def get(self, config: IntegrationConfig) -> Connector:
        return ScriptedConnector(config, None, None)  # type: ignore[arg-type]


SIGNING_KEY = "signing-key-of-the-unit-tests-0123456789"
ENV = {"ORDERSYNC_RETRY_DELAYS_S": "1,5", "ORDERSYNC_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture
def dispatcher() -> Dispatcher:
    ScriptedConnector.script = []
    ScriptedConnector.calls = []
    settings = Settings.from_env(ENV)
    return Dispatcher(settings, LocalCodec(), Configs(config()), Pool(settings), OrderStates({}))  # type: ignore[arg-type]


def message(record: dict[str, Any], attempt: int = 1, offset: int = 0) -> SourceMessage:
    """The event as read from orders.events, or, for a later attempt, from its retry topic."""
    codec = LocalCodec()
    value = codec.encode("orders.events", schemas.ORDER_EVENT, record)
    key = f"{record['tenant']}/{record['integration']}/{record['platform_order_id']}".encode()
    if attempt == 1:
        return SourceMessage("orders.events", 0, offset, key, value)
    topic = "orders.retry.1" if attempt == 2 else "orders.retry.2"
    return SourceMessage(topic, 0, offset, key, value, ((ATTEMPT, str(attempt).encode()),))


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
    assert first.outcomes[0].due_at is not None  # when the 2nd attempt is due, for Pendentes
    # later events of the order are held: no call, a WAITING outcome naming why
    for held, offset in ((a2, 1), (a3, 2)):
        waiting = handle(dispatcher, message(held, offset=offset))
        assert outcomes(waiting) == [(held["event_id"], Outcome.WAITING, 1)]
        assert waiting.outcomes[0].reason_code == "ORDER_HELD"
        assert not waiting.outcomes[0].terminal
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


def test_a_document_unfit_to_send_is_invalid_at_once(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [
        DocumentError(
            "the XML is the NF-e of access key 1..., not 3...", reason_code="NFE_KEY_MISMATCH"
        )
    ]
    handled = handle(dispatcher, message(event_record()))
    assert [(o.outcome, o.reason_code, o.action) for o in handled.outcomes] == [
        (Outcome.INVALID, "NFE_KEY_MISMATCH", "INVOICE")
    ]
    assert "access key" in (handled.outcomes[0].error or "")
    assert handled.retry is None and len(handled.dead_letters) == 1
    assert dict(handled.dead_letters[0].headers)[ERROR_REASON] == b"NFE_KEY_MISMATCH"


def test_a_skip_the_platform_showed_is_recorded_not_delivered(dispatcher: Dispatcher) -> None:
    skip = Delivery(200, 3.0, already_done=False, skipped=ReasonCode.NFE_ISSUED_BY_PLATFORM)
    ScriptedConnector.script = [skip, skip]
    msg = message(event_record())
    handled = handle(dispatcher, msg)
    assert [(o.outcome, o.reason_code, o.action, o.http_status) for o in handled.outcomes] == [
        (Outcome.SKIPPED, "NFE_ISSUED_BY_PLATFORM", "INVOICE", 200)
    ]
    assert handled.outcomes[0].terminal and not handled.dead_letters
    # not recorded as delivered: read again, the platform is asked again
    again = handle(dispatcher, msg)
    assert [o.outcome for o in again.outcomes] == [Outcome.SKIPPED]
    assert len(ScriptedConnector.calls) == 2


def test_an_unexpected_exception_is_dead_lettered_not_lost(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [RuntimeError("connector bug")]
    handled = handle(dispatcher, message(event_record()))
    assert [(o.outcome, o.reason_code) for o in handled.outcomes] == [
        (Outcome.DEAD_LETTERED, "INTERNAL_ERROR")
    ]
    assert handled.dead_letters and handled.dead_letters[0].value is not None


def test_replayed_delivery_is_not_sent_twice_and_its_outcome_is_recorded_again(
    dispatcher: Dispatcher,
) -> None:
    record = event_record()
    [sent] = handle(dispatcher, message(record)).outcomes
    assert sent.outcome is Outcome.SENT
    [again] = handle(dispatcher, message(record)).outcomes
    assert len(ScriptedConnector.calls) == 1
    assert (again.outcome, again.reason_code) == (Outcome.SENT, "ALREADY_DELIVERED")
    # the history keeps the first record of a terminal outcome: the same id drops this one
    assert again.outcome_id == sent.outcome_id


def resend(msg: SourceMessage, force: bool = False, key: str = SIGNING_KEY) -> SourceMessage:
    """What ordersync's resend puts back on orders.events: signed control headers."""
    control = [(RESEND_OF, b"resend-1"), *([(RESEND_FORCE, b"1")] if force else [])]
    headers = signed(msg.key, msg.value, control, Secret(key))
    return replace(msg, offset=msg.offset + 100, headers=tuple(headers))  # type: ignore[arg-type]


def test_a_resend_of_a_delivered_event_is_recorded_not_sent_unless_forced(
    dispatcher: Dispatcher,
) -> None:
    record = event_record()
    handle(dispatcher, message(record))
    [again] = handle(dispatcher, resend(message(record))).outcomes
    assert (again.outcome, again.reason_code) == (Outcome.SENT, "ALREADY_DELIVERED")
    assert again.resend_of == "resend-1"
    assert len(ScriptedConnector.calls) == 1
    [forced] = handle(dispatcher, resend(message(record), force=True)).outcomes
    assert (forced.outcome, forced.reason_code) == (Outcome.SENT, "DELIVERED")
    assert len(ScriptedConnector.calls) == 2


class Writes:
    """The broker side of a handling: records when each write starts and lands."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.lose_outcomes = False

    async def publish(self, handled: Handled) -> None:
        self.log.append("outcomes sent")
        await asyncio.sleep(0.01)
        if self.lose_outcomes:  # the broker never answers: the worker stops first
            await asyncio.Event().wait()
        self.log.append("outcomes landed")


class LoggedStates(OrderStates):
    def __init__(self, writes: Writes) -> None:
        super().__init__({})
        self.writes = writes

    async def write(self, key: bytes | None, record: Any) -> asyncio.Future[Any] | None:
        self.writes.log.append("state sent")
        await super().write(key, record)
        loop = asyncio.get_running_loop()
        landed: asyncio.Future[Any] = loop.create_future()

        def land() -> None:
            self.writes.log.append("state landed")
            landed.set_result(None)

        loop.call_later(0.005, land)
        return landed


def logged_dispatcher(writes: Writes, states: OrderStates | None = None) -> Dispatcher:
    settings = Settings.from_env(ENV)
    return Dispatcher(
        settings,
        LocalCodec(),
        Configs(config()),  # type: ignore[arg-type]
        Pool(settings),
        states or LoggedStates(writes),
        writes.publish,
    )


def test_a_first_delivery_sends_its_outcome_and_its_state_together() -> None:
    ScriptedConnector.script, ScriptedConnector.calls = [], []
    writes = Writes()
    handle(logged_dispatcher(writes), message(event_record()))
    assert writes.log == ["state sent", "outcomes sent", "state landed", "outcomes landed"]


@pytest.mark.parametrize(
    ("script", "attempt"),
    [
        ([retryable()], 1),  # a retry record: the replay would defer to it
        ([PermanentDeliveryError("400", reason_code="HTTP_REJECTED", http_status=400)], 1),
        ([None], 2),  # a retry's outcome: its record is dropped once the state says resolved
    ],
    ids=["retry-record", "dead-letter", "retry-attempt"],
)
def test_records_a_replay_cannot_rebuild_land_before_the_state(
    script: list[Exception | None], attempt: int
) -> None:
    ScriptedConnector.script, ScriptedConnector.calls = script, []
    writes = Writes()
    states = LoggedStates(writes)
    record = event_record()
    if attempt > 1:  # the order waits for this retry
        ScriptedConnector.script = [retryable(), *script]
        handle(logged_dispatcher(writes, states), message(record))
        writes.log.clear()
    handle(logged_dispatcher(writes, states), message(record, attempt=attempt))
    assert writes.log == ["outcomes sent", "outcomes landed", "state sent", "state landed"]


def test_a_state_that_landed_without_its_outcome_gets_the_outcome_from_the_replay() -> None:
    ScriptedConnector.script, ScriptedConnector.calls = [], []
    writes = Writes()
    states = LoggedStates(writes)
    writes.lose_outcomes = True
    record = event_record()

    async def stopped_after_the_state_landed() -> None:
        handling = asyncio.ensure_future(logged_dispatcher(writes, states).handle(message(record)))
        for _ in range(200):
            if "state landed" in writes.log:
                break
            await asyncio.sleep(0.005)
        handling.cancel()  # the worker stops
        with pytest.raises(asyncio.CancelledError):
            await handling

    asyncio.run(stopped_after_the_state_landed())
    assert "outcomes landed" not in writes.log
    assert states.get(message(record).key).was_delivered(record["event_id"], "INVOICE")
    writes.lose_outcomes = False  # restarted: the message is read again
    [again] = handle(logged_dispatcher(writes, states), message(record)).outcomes
    assert (again.outcome, again.reason_code) == (Outcome.SENT, "ALREADY_DELIVERED")
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


def test_a_token_the_platform_refused_is_read_again_for_the_retry(tmp_path: Path) -> None:
    """A credentials store renews Tray's 3-hour tokens by rewriting the secret's file."""
    secret = tmp_path / "TRAY_TOKEN"
    secret.write_text("token-before")
    emulator = TrayEmulator("token-after")
    emulator.add_order("5678")
    record = event_record(EventType.CANCELED, order="5678")

    async def go() -> tuple[Handled, Handled]:
        base = await emulator.start()
        settings = Settings.from_env(
            {
                "ORDERSYNC_SECRETS_DIR": str(tmp_path),
                "ORDERSYNC_ALLOWED_NETWORKS": "127.0.0.0/8",
                "ORDERSYNC_RETRY_DELAYS_S": "1,5",
            }
        )
        cfg = config(platform="tray", store_url=f"{base}/web_api/", credentials_ref="TRAY_TOKEN")
        pool = ConnectorPool(settings)
        dispatcher = Dispatcher(settings, LocalCodec(), Configs(cfg), pool, OrderStates({}))  # type: ignore[arg-type]
        try:
            first = await dispatcher.handle(message(record))
            secret.write_text("token-after")
            second = await dispatcher.handle(message(record, attempt=2))
        finally:
            await pool.close()
            await emulator.stop()
        return first, second

    first, second = asyncio.run(go())
    assert [(o.outcome, o.reason_code) for o in first.outcomes] == [
        (Outcome.RETRY_SCHEDULED, "TOKEN_EXPIRED")
    ]
    assert [(o.outcome, o.attempt) for o in second.outcomes] == [(Outcome.SENT, 2)]
    assert [c.query["access_token"] for c in emulator.calls] == ["token-before", "token-after"]


# -- headers and keys are input ----------------------------------------------------------
def invalid_reason(handled: Handled) -> tuple[Outcome, str]:
    [outcome] = handled.outcomes
    assert len(handled.dead_letters) == 1, "an INVALID record is dead-lettered"
    return outcome.outcome, outcome.reason_code


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (((ATTEMPT, b"not-a-number"),), "FORGED_CONTROL_HEADER"),
        (((ATTEMPT, b"2"),), "FORGED_CONTROL_HEADER"),  # was acked with no outcome
        (((RESEND_FORCE, b"1"),), "FORGED_CONTROL_HEADER"),  # would skip dedupe
        (((RESEND_OF, b"x"), ("ordersync.signature", b"00" * 32)), "FORGED_CONTROL_HEADER"),
        (((ATTEMPT, None),), "FORGED_CONTROL_HEADER"),
    ],
    ids=["garbage-attempt", "attempt-2", "force", "bad-signature", "empty-value"],
)
def test_control_headers_from_a_producer_are_invalid_not_obeyed(
    dispatcher: Dispatcher, headers: Any, reason: str
) -> None:
    record = event_record()
    handled = handle(dispatcher, replace(message(record), headers=headers))
    assert invalid_reason(handled) == (Outcome.INVALID, reason)
    assert handled.outcomes[0].event_id == record["event_id"]  # the report names the event
    assert ScriptedConnector.calls == []


def test_a_resend_signed_with_another_key_or_altered_is_refused(dispatcher: Dispatcher) -> None:
    record = event_record()
    forged = resend(message(record), force=True, key="someone-elses-key-0123456789-abcdef")
    assert invalid_reason(handle(dispatcher, forged)) == (Outcome.INVALID, "FORGED_CONTROL_HEADER")
    other = event_record(EventType.CANCELED, order=record["platform_order_id"])
    # the signature covers the value: the headers cannot be moved to another event
    moved = replace(resend(message(record), force=True), value=message(other).value)
    assert invalid_reason(handle(dispatcher, moved)) == (Outcome.INVALID, "FORGED_CONTROL_HEADER")
    assert ScriptedConnector.calls == []


def test_headers_outside_the_prefix_are_the_producers_own(dispatcher: Dispatcher) -> None:
    headers = (("traceparent", b"00-abc"), ("\ufffd\ufffd", b"\xff\xfe"), ("x-empty", None))
    handled = handle(dispatcher, replace(message(event_record()), headers=headers))
    assert [o.outcome for o in handled.outcomes] == [Outcome.SENT]


@pytest.mark.parametrize(
    "headers",
    [
        ((ATTEMPT, b"two"),),
        ((ATTEMPT, b"\xff\xfe"),),
        ((ATTEMPT, b"2"), (ATTEMPT, b"3")),
        ((ATTEMPT, b"-1"),),
        ((ATTEMPT, b"2"), ("ordersync.original.topic", b"orders.events")),
        ((ATTEMPT, b"2"), ("ordersync.retry.due", b"soon")),
    ],
    ids=["word", "not-utf8", "twice", "negative", "origin-half", "due"],
)
def test_a_retry_record_whose_headers_do_not_parse_is_invalid(
    dispatcher: Dispatcher, headers: Any
) -> None:
    handled = handle(dispatcher, replace(message(event_record(), attempt=2), headers=headers))
    assert invalid_reason(handled) == (Outcome.INVALID, "BAD_CONTROL_HEADER")
    assert ScriptedConnector.calls == []


@pytest.mark.parametrize("key", [None, b"", b"acme/loja-1/another-order", b"\xff\xfe"])
def test_a_key_that_is_not_the_events_order_is_invalid(
    dispatcher: Dispatcher, key: bytes | None
) -> None:
    record = event_record()
    handled = handle(dispatcher, replace(message(record), key=key))
    assert invalid_reason(handled) == (Outcome.INVALID, "KEY_MISMATCH")
    assert handled.outcomes[0].platform_order_id == record["platform_order_id"]
    assert dispatcher.states.table == {}, "no order's state is touched"
    assert ScriptedConnector.calls == []


# -- a store's pause ---------------------------------------------------------------------
class HeldPool(ConnectorPool):
    """One scripted connector per integration, kept: its limiter's pause lasts."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.held: dict[str, Connector] = {}

    def get(self, config: IntegrationConfig) -> Connector:
        if config.integration_id not in self.held:
            self.held[config.integration_id] = ScriptedConnector(config, None, None)  # type: ignore[arg-type]
        return self.held[config.integration_id]


def test_a_paused_store_holds_no_shared_slot() -> None:
    """Store A was told Retry-After: its events wait for the pause at its own gate, taking
    none of the places sends share, and store B's event goes out meanwhile."""
    ScriptedConnector.script, ScriptedConnector.calls = [], []
    settings = Settings.from_env(
        ENV | {"ORDERSYNC_MAX_IN_FLIGHT": "2", "ORDERSYNC_STORE_CONCURRENCY": "2"}
    )
    pool = HeldPool(settings)
    configs = Configs(config(integration_id="loja-a"), config(integration_id="loja-b"))
    dispatcher = Dispatcher(settings, LocalCodec(), configs, pool, OrderStates({}))  # type: ignore[arg-type]
    a1, a2, a3 = (event_record(integration="loja-a", order=f"A{n}") for n in range(3))
    b = event_record(integration="loja-b", order="B1")

    async def go() -> None:
        await dispatcher.handle(message(a1))  # A is known to the pool, then paused
        pool.held["loja-a"].limiter.pause(30)
        waiting = [dispatcher.submit(message(r)) for r in (a2, a3)]
        sent = await asyncio.wait_for(dispatcher.submit(message(b)), 2)
        assert [o.outcome for o in sent.outcomes] == [Outcome.SENT]
        assert not any(task.done() for task in waiting)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    asyncio.run(go())
    assert [event_id for event_id, _ in ScriptedConnector.calls] == [a1["event_id"], b["event_id"]]


def test_an_infinite_retry_after_is_bounded_for_the_retry_record(dispatcher: Dispatcher) -> None:
    ScriptedConnector.script = [
        RetryableDeliveryError(
            "429", reason_code="RATE_LIMITED", http_status=429, retry_after_s=float("inf")
        )
    ]
    handled = handle(dispatcher, message(event_record()))
    assert handled.retry is not None
    assert 59 < handled.retry.due_s - time.time() <= 60


# -- log lines name their event ----------------------------------------------------------
def test_every_log_line_written_while_an_event_is_handled_names_it(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from streams.logs import JsonFormatter, stamp_ids

    stamp_ids()
    record = event_record()
    later = event_record(EventType.SHIPPED, sequence=2)
    ScriptedConnector.script = [retryable()]
    with caplog.at_level(logging.INFO):
        handle(dispatcher, message(record))
        handle(dispatcher, message(later, offset=1))  # held: logged
        handle(dispatcher, message(record))  # read again: logged
        handle(dispatcher, replace(message(record), key=b"acme/loja-1/other"))
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    about_events = [line for line in lines if "event" in line["msg"]]
    assert len(about_events) >= 2
    for line in about_events:
        assert {"event_id", "order", "integration"} <= set(line), line
    held = next(line for line in lines if "held behind" in line["msg"])
    assert held["event_id"] == later["event_id"]
    assert held["order"] == "acme/loja-1/PED-1" and held["integration"] == "loja-1"


# -- parking ---------------------------------------------------------------------------
def parked_dispatcher(queue_s: str = "0") -> tuple[Dispatcher, HeldPool]:
    ScriptedConnector.script, ScriptedConnector.calls = [], []
    settings = Settings.from_env(
        ENV | {"ORDERSYNC_STORE_QUEUE_S": queue_s, "ORDERSYNC_STORE_CONCURRENCY": "1"}
    )
    pool = HeldPool(settings)
    dispatcher = Dispatcher(settings, LocalCodec(), Configs(config()), pool, OrderStates({}))  # type: ignore[arg-type]
    return dispatcher, pool


def as_read_from(record: Any, topic: str, offset: int) -> SourceMessage:
    """The record as its topic hands it back."""
    return SourceMessage(topic, 0, offset, record.key, record.value, tuple(record.headers))


def test_an_event_of_a_store_with_its_work_waiting_is_parked_and_its_order_held() -> None:
    dispatcher, pool = parked_dispatcher()
    a1, a2 = (
        event_record(order="P", sequence=1),
        event_record(EventType.SHIPPED, order="P", sequence=2),
    )

    async def go() -> tuple[Handled, Handled, Handled, Handled]:
        await dispatcher.handle(message(event_record(order="warm")))  # the store's limiter known
        pool.held["loja-1"].limiter.pause(30)  # nothing goes: sends wait at the gate
        waiting = [dispatcher.submit(message(event_record(order=f"w{n}"))) for n in range(2)]
        await asyncio.sleep(0.05)
        parked = await dispatcher.handle(message(a1, offset=1))
        held = await dispatcher.handle(message(a2, offset=2))
        again = await dispatcher.handle(message(a1, offset=1))  # read again after a crash
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        pool.held["loja-1"].limiter._paused_until = 0.0
        assert parked.parked is not None
        back = await dispatcher.handle(as_read_from(parked.parked, "orders.parked", 0))
        return parked, held, again, back

    parked, held, again, back = asyncio.run(go())
    assert parked.parked is not None
    assert [(o.outcome, o.reason_code) for o in parked.outcomes] == [
        (Outcome.WAITING, "STORE_QUEUED")
    ]
    due_ms = int(dict(parked.parked.headers)["ordersync.retry.due"])
    assert parked.outcomes[0].due_at is not None
    assert abs(parked.outcomes[0].due_at.timestamp() * 1000 - due_ms) < 1
    assert parked.parked.topic == "orders.parked" and parked.parked.value == message(a1).value
    assert dict(parked.parked.headers)["ordersync.original.offset"] == b"1"
    # held behind it (waiting, for the report); the original read again is dropped
    assert [o.reason_code for o in held.outcomes] == ["ORDER_HELD"] and again.outcomes == []
    assert [(o.event_id, o.outcome, o.attempt) for o in back.outcomes] == [
        (a1["event_id"], Outcome.SENT, 1),
        (a2["event_id"], Outcome.SENT, 1),
    ]
    assert back.outcomes[0].source_offset == 1  # where the event was first read


def test_a_stale_parked_copy_is_dropped() -> None:
    dispatcher, pool = parked_dispatcher()
    record = event_record(order="S")

    async def go() -> tuple[Handled, Handled]:
        await dispatcher.handle(message(event_record(order="warm")))
        pool.held["loja-1"].limiter.pause(30)
        waiting = [dispatcher.submit(message(event_record(order=f"w{n}"))) for n in range(2)]
        await asyncio.sleep(0.05)
        first = await dispatcher.handle(message(record, offset=1))
        again = await dispatcher.handle(message(record, offset=1))  # read again: its copy owns it
        assert again.outcomes == [] and again.parked is None
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        pool.held["loja-1"].limiter._paused_until = 0.0
        assert first.parked is not None
        copy = as_read_from(first.parked, "orders.parked", 0)
        sent = await dispatcher.handle(copy)
        stale = await dispatcher.handle(replace(copy, offset=1))  # the same copy, twice
        return sent, stale

    sent, stale = asyncio.run(go())
    assert [o.outcome for o in sent.outcomes] == [Outcome.SENT]
    assert stale.outcomes == [] and len(ScriptedConnector.calls) == 2  # warm-up and this one


# -- a store that says it is overloaded gets fewer sends at once --------------------------
OVERLOAD_CASES = [
    # the platform's answer, the outcome and reason it makes, whether the store's limit halves
    (Fault(429, retry_after="1"), Outcome.RETRY_SCHEDULED, "RATE_LIMITED", True),
    (Fault(503), Outcome.RETRY_SCHEDULED, "HTTP_SERVER_ERROR", True),
    (Fault(200, delay_s=2.5), Outcome.RETRY_SCHEDULED, "TIMEOUT", True),
    (Fault(400), Outcome.DEAD_LETTERED, "HTTP_REJECTED", False),
    (None, Outcome.SENT, "DELIVERED", False),
]


@pytest.mark.parametrize(
    ("fault", "outcome", "reason", "halves"),
    OVERLOAD_CASES,
    ids=["429", "503", "timeout", "400", "answered"],
)
def test_an_overloaded_store_has_its_limit_halved_through_the_dispatcher(
    tmp_path: Path, fault: Fault | None, outcome: Outcome, reason: str, halves: bool
) -> None:
    """A real connector against an emulator: the dispatcher's send leaves the store's gate
    saying whether the store was overloaded (429, 5xx, a timeout), and only then is the
    store's limit halved; a refusal of the request itself (400) says nothing of its load."""
    (tmp_path / "TRAY_TOKEN").write_text("tray-token")
    emulator = TrayEmulator("tray-token")
    emulator.add_order("5678")
    if fault is not None:
        emulator.fail_next(fault)
    record = event_record(EventType.CANCELED, order="5678")

    async def go() -> tuple[Handled, int, int, int]:
        base = await emulator.start()
        settings = Settings.from_env(
            ENV
            | {
                "ORDERSYNC_SECRETS_DIR": str(tmp_path),
                "ORDERSYNC_ALLOWED_NETWORKS": "127.0.0.0/8",
                "ORDERSYNC_STORE_CONCURRENCY": "8",
                "ORDERSYNC_HTTP_TIMEOUT_S": "1",
            }
        )
        cfg = config(platform="tray", store_url=f"{base}/web_api/", credentials_ref="TRAY_TOKEN")
        pool = ConnectorPool(settings)
        dispatcher = Dispatcher(settings, LocalCodec(), Configs(cfg), pool, OrderStates({}))  # type: ignore[arg-type]
        gate = dispatcher.stores.gate(cfg.integration_id)
        before = gate.limit.limit
        try:
            handled = await asyncio.wait_for(dispatcher.handle(message(record)), 10)
        finally:
            await pool.close()
            await emulator.stop()
        return handled, before, gate.limit.limit, gate.in_flight

    handled, before, after, in_flight = asyncio.run(go())
    assert [(o.outcome, o.reason_code) for o in handled.outcomes] == [(outcome, reason)]
    assert len(emulator.calls) == 1 and (emulator.calls[0].refused is None) == (fault is None)
    assert before == 8 and after == (4 if halves else 8) and in_flight == 0
