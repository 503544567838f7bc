"""The worker's intake and publisher, each on its own: what is acknowledged and when,
what waits for its due time, in which order a handling's records go out."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.headers import DUE
from streams.records import Outcome
from streams.worker.intake import DueIntake, Intake, source_message
from streams.worker.messages import Handled, OutgoingRecord, SourceMessage
from streams.worker.publisher import OutcomePublisher


class Message:
    def __init__(self, offset: int, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.topic, self.partition, self.offset = "orders.events", 0, offset
        self.key, self.value, self.timestamp = b"k", b"v", 0.0
        self.headers = headers or []


class Event:
    def __init__(self, offset: int, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.message = Message(offset, headers)
        self.acked = False

    def ack(self) -> None:
        self.acked = True


class Dispatcher:
    """Holds each handling until told to finish it."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}

    def submit(self, message: SourceMessage) -> asyncio.Task[Handled]:
        self.started.append(message.offset)
        gate = self.gates.setdefault(message.offset, asyncio.Event())

        async def handle() -> Handled:
            await gate.wait()
            return Handled()

        return asyncio.ensure_future(handle())

    def abandon_waiting(self) -> int:
        return 0


class App:
    def __init__(self) -> None:
        self.crashed: list[BaseException] = []

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


def intake(dispatcher: Dispatcher, read_ahead: int = 2) -> Intake:
    ready = asyncio.Event()
    ready.set()
    return Intake(App(), dispatcher, read_ahead, ready)  # type: ignore[arg-type]


def test_an_event_is_acknowledged_when_its_handling_ends_and_read_ahead_is_bounded() -> None:
    async def go() -> tuple[list[int], list[bool], list[bool]]:
        dispatcher = Dispatcher()
        reader = intake(dispatcher, read_ahead=2)
        events = [Event(n) for n in range(3)]
        for event in events[:2]:
            await reader.take(event, source_message(event))  # type: ignore[arg-type]
        third = asyncio.ensure_future(reader.take(events[2], source_message(events[2])))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        before = list(dispatcher.started)  # the third waits for room
        dispatcher.gates[1].set()  # the second finishes first: acked, the first not
        await asyncio.sleep(0.01)
        acked_early = [e.acked for e in events]
        dispatcher.gates[0].set()
        await third
        dispatcher.gates[2].set()
        await asyncio.sleep(0.01)
        return before, acked_early, [e.acked for e in events]

    before, early, final = asyncio.run(go())
    assert before == [0, 1]
    assert early == [False, True, False]
    assert final == [True, True, True]


def test_a_handling_cancelled_is_not_acknowledged(monkeypatch: Any) -> None:
    forgotten: list[object] = []
    monkeypatch.setattr(
        "streams.worker.intake.faust_internals.forget",
        lambda app, message: forgotten.append(message),
    )

    async def go() -> Event:
        dispatcher = Dispatcher()
        reader = intake(dispatcher)
        event = Event(7)
        await reader.take(event, source_message(event))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.01)
        return event

    event = asyncio.run(go())
    assert not event.acked and forgotten == [event.message]


def test_a_retry_record_starts_at_its_due_time_and_does_not_hold_the_next() -> None:
    now = [1000.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    async def go() -> list[int]:
        dispatcher = Dispatcher()
        ready = asyncio.Event()
        ready.set()
        reader = DueIntake(
            App(),
            dispatcher,
            10,
            ready,
            waiting=10,
            clock=lambda: now[0],
            sleep=fake_sleep,  # type: ignore[arg-type]
        )
        late = Event(1, [(DUE, b"1060000")])  # due in 60 s
        soon = Event(2, [(DUE, b"1000500")])  # due in half a second
        for event in (late, soon):
            await reader.take(event, source_message(event))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        return dispatcher.started

    started = asyncio.run(go())
    assert sorted(slept) == [0.5, 60.0]
    assert sorted(started) == [1, 2]


def test_the_publisher_sends_outcomes_then_dead_letters_then_the_retry_or_parked_record() -> None:
    queued: list[str] = []
    awaited: list[str] = []

    class Sender:
        async def queue(
            self, topic: str, key: Any, value: Any, headers: Any, partition: Any
        ) -> Any:
            queued.append(topic)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            # the broker answers only once every record is queued: they share its requests
            asyncio.get_running_loop().call_soon(
                lambda: (awaited.append(topic), future.set_result(None))
            )
            return future

    class Codec:
        def encode(self, topic: str, schema: str, record: Any) -> bytes:
            return b"avro"

    class Outcome_:
        key = "t/i/o"

        def to_avro(self) -> dict[str, Any]:
            return {"outcome": Outcome.SENT.value}

    def record(topic: str) -> OutgoingRecord:
        return OutgoingRecord(topic, b"k", b"v", [])

    publisher = OutcomePublisher(Codec(), "outcomes", Sender())  # type: ignore[arg-type]
    handled = Handled([Outcome_(), Outcome_()], retry=record("retry"), dead_letters=[record("dlt")])  # type: ignore[list-item]
    asyncio.run(publisher(handled))
    assert queued == ["outcomes", "outcomes", "dlt", "retry"]
    assert awaited == queued  # it returned only once the broker had each of them
    queued.clear()
    asyncio.run(publisher(Handled(parked=record("parked"))))
    assert queued == ["parked"]
