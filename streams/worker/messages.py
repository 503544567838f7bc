"""What flows through the dispatcher: a record as read, what a handling leaves behind."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.headers import Control, Headers
from streams.records import DispatchOutcome


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """A record as read, and, once the dispatcher has read them, its control headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: float | None = None  # when it was published (Kafka record time, seconds)
    control: Control | None = None  # None until read (and trusted) by the dispatcher

    @property
    def attempt(self) -> int:
        """The attempt this message is for: 1 from orders.events, n from a retry topic."""
        return self.control.attempt if self.control else 1

    @property
    def resend_of(self) -> str | None:
        return self.control.resend_of if self.control else None

    @property
    def forced(self) -> bool:
        """An operator's ``--force`` resend: sent even past no-regression and dedupe."""
        return self.control.force if self.control else False

    @property
    def origin(self) -> tuple[str, int, int]:
        """Where the event was first read, carried through the retry topics."""
        if self.control is not None and self.control.origin is not None:
            return self.control.origin
        return self.topic, self.partition, self.offset


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None = None
    due_s: float = 0.0  # for retries and parked records: when to start again (epoch seconds)


@dataclass(slots=True)
class Handled:
    """A handling's outcomes, and the records that carry its event on or aside: a retry
    record (the next attempt), a parked record (its store was over its budget) or dead
    letters. The order waits for a retry or a parked record before its next event."""

    outcomes: list[DispatchOutcome] = field(default_factory=list)
    retry: OutgoingRecord | None = None
    dead_letters: list[OutgoingRecord] = field(default_factory=list)
    parked: OutgoingRecord | None = None

    def extend(self, other: Handled) -> None:
        self.outcomes += other.outcomes
        self.dead_letters += other.dead_letters
        if other.retry is not None:
            self.retry = other.retry
        if other.parked is not None:
            self.parked = other.parked

    @property
    def waits(self) -> bool:
        """Whether the event waits in a retry or parking topic: its order stays held."""
        return self.retry is not None or self.parked is not None

    def records(self) -> list[OutgoingRecord]:
        """Every record besides the outcomes, dead letters first."""
        return [*self.dead_letters, *(r for r in (self.retry, self.parked) if r is not None)]
