"""A store that does not answer stops being called for a while; any answer closes it again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from connectors.http import StoreClient, StoreRequest, StoreResponse, StoreTimeout
from connectors.sandbox import SandboxConnector
from streams.errors import DeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, EventType, OrderEvent
from tests.factories import config, event_record

Handler = Callable[[StoreRequest], StoreResponse]


class FakeTransport:
    """Answers each request with ``answer(request)``, no sockets."""

    def __init__(self, answer: Callable[[StoreRequest], Awaitable[StoreResponse]]) -> None:
        self.answer = answer

    async def send(self, request: StoreRequest, timeout_s: float) -> StoreResponse:
        return await self.answer(request)

    async def aclose(self) -> None:
        return None


def client(answer: Callable[[StoreRequest], Awaitable[StoreResponse]]) -> StoreClient:
    return StoreClient(
        "http://store.test/stores/loja-1/",
        timeout_s=5,
        allowed=(),
        transport=FakeTransport(answer),
    )


def connector(handler: Handler) -> tuple[SandboxConnector, list[StoreRequest]]:
    seen: list[StoreRequest] = []

    async def recording(request: StoreRequest) -> StoreResponse:
        seen.append(request)
        return handler(request)

    return SandboxConnector(config(), None, client(recording)), seen


def event() -> OrderEvent:
    return OrderEvent.from_avro(event_record(EventType.CANCELED, sequence=1))


def timeout(request: StoreRequest) -> StoreResponse:
    raise StoreTimeout("no answer within 5s")


def answer(status: int) -> Handler:
    return lambda request: StoreResponse(status, content=b"{}")


async def outcome(store: SandboxConnector) -> str:
    try:
        await store.send(Action.CANCEL, event())
    except DeliveryError as exc:
        assert exc.retryable
        return exc.reason_code
    return "SENT"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(timeout, ReasonCode.TIMEOUT), (answer(503), ReasonCode.HTTP_SERVER_ERROR)],
)
def test_only_unanswered_calls_open_the_breaker(failure: Handler, reason: ReasonCode) -> None:
    store, seen = connector(failure)
    reasons = [asyncio.run(outcome(store)) for _ in range(5)]
    if reason is ReasonCode.TIMEOUT:
        # three calls in a row unanswered: the next ones are not sent at all
        assert reasons == [reason] * 3 + [ReasonCode.STORE_UNRESPONSIVE] * 2
        assert len(seen) == 3
    else:
        # a store that answers, even with errors, is not holding the worker
        assert reasons == [reason] * 5 and len(seen) == 5


def test_an_open_breaker_says_when_to_retry_and_a_probe_answer_closes_it() -> None:
    replies: list[Handler] = [timeout, timeout, timeout]
    store, seen = connector(lambda request: (replies.pop(0) if replies else answer(200))(request))
    for _ in range(3):
        asyncio.run(outcome(store))

    async def refused() -> DeliveryError:
        with pytest.raises(DeliveryError) as caught:
            await store.send(Action.CANCEL, event())
        return caught.value

    error = asyncio.run(refused())
    assert error.reason_code == ReasonCode.STORE_UNRESPONSIVE
    assert error.retry_after_s is not None
    assert 0 < error.retry_after_s <= store.breaker.cooldown_s
    store.breaker.open_until = 0.0  # the cool-down is over
    assert asyncio.run(outcome(store)) == "SENT"  # the probe
    assert asyncio.run(outcome(store)) == "SENT"
    assert len(seen) == 5


def test_while_the_probe_is_out_other_calls_do_not_go() -> None:
    async def scenario() -> list[str]:
        release = asyncio.Event()

        async def slow(request: StoreRequest) -> StoreResponse:
            await release.wait()
            return StoreResponse(200, content=b"{}")

        store = SandboxConnector(config(), None, client(slow))
        store.breaker.failures = store.breaker.threshold  # open, cool-down over
        probe = asyncio.create_task(outcome(store))
        await asyncio.sleep(0)  # let the probe reach the transport
        assert store.breaker.probing
        second = await outcome(store)
        release.set()
        return [await probe, second]

    assert asyncio.run(scenario()) == ["SENT", ReasonCode.STORE_UNRESPONSIVE]
