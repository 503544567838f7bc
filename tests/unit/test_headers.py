"""Control headers: strict on the internal topics, signed on orders.events."""

from __future__ import annotations

import pytest

from streams.headers import (
    ATTEMPT,
    DUE,
    ORIGIN_OFFSET,
    ORIGIN_PARTITION,
    ORIGIN_TOPIC,
    RESEND_BY,
    RESEND_FORCE,
    RESEND_OF,
    SIGNATURE,
    Control,
    HeaderError,
    due_seconds,
    read_control,
    signed,
)
from streams.secrets import Secret

KEY = Secret("signing-key-of-the-header-tests-0123456789")
RETRY = [
    (ATTEMPT, b"3"),
    (DUE, b"1700000000000"),
    (ORIGIN_TOPIC, b"orders.events"),
    (ORIGIN_PARTITION, b"2"),
    (ORIGIN_OFFSET, b"41"),
    (RESEND_OF, b"r-1"),
]


def internal(headers: list[tuple[str, bytes | None]]) -> Control:
    return read_control(b"k", b"v", headers, internal=True, signing_key=None)


def on_events(
    headers: list[tuple[str, bytes | None]], key: bytes | None = b"k", value: bytes = b"v"
) -> Control:
    return read_control(key, value, headers, internal=False, signing_key=KEY)


def test_a_retry_record_is_read_whole() -> None:
    assert internal(RETRY) == Control(
        attempt=3, origin=("orders.events", 2, 41), resend_of="r-1", due_ms=1_700_000_000_000
    )
    assert internal([]) == Control() == on_events([("traceparent", b"x")])


def test_a_signed_resend_is_honoured_and_only_its_own_headers() -> None:
    headers = signed(
        b"k", b"v", [(RESEND_OF, b"r-9"), (RESEND_FORCE, b"1"), (RESEND_BY, b"ana")], KEY
    )
    assert on_events(headers) == Control(resend_of="r-9", force=True, resend_by="ana")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda h: h, {"key": b"other-key"}),
        (lambda h: h, {"value": b"other-value"}),
        (lambda h: [*h, (RESEND_FORCE, b"1")], {}),  # a header added after signing
        (lambda h: [(n, v) for n, v in h if n != SIGNATURE], {}),
        (lambda h: [*h, (SIGNATURE, b"0" * 64)], {}),  # a second signature
        (lambda h: [(ATTEMPT, b"2"), *h], {}),
    ],
    ids=["key", "value", "added-header", "no-signature", "two-signatures", "attempt"],
)
def test_anything_changed_after_signing_is_forged(change: object, where: dict[str, bytes]) -> None:
    headers = signed(b"k", b"v", [(RESEND_OF, b"r-9")], KEY)
    with pytest.raises(HeaderError) as caught:
        on_events(change(headers), **where)  # type: ignore[operator, arg-type]
    assert caught.value.reason_code == "FORGED_CONTROL_HEADER"


def test_a_worker_without_a_key_refuses_and_says_why() -> None:
    headers = signed(b"k", b"v", [(RESEND_OF, b"r-9")], KEY)
    with pytest.raises(HeaderError, match="no ORDERSYNC_SIGNING_KEY"):
        read_control(b"k", b"v", headers, internal=False, signing_key=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ([(ATTEMPT, b"x")], "ordersync.attempt: expected an integer, got 'x'"),
        ([(ATTEMPT, b"0")], "expected 1..1000, got 0"),
        ([(ATTEMPT, b"99999999999999999999")], "expected 1..1000"),
        ([(ATTEMPT, None)], "has no value"),
        ([(ATTEMPT, b"\xff")], "not UTF-8"),
        ([(ATTEMPT, b"2"), (ATTEMPT, b"2")], "more than once"),
        ([(RESEND_FORCE, b"yes")], "expected 1, got 'yes'"),
        ([(RESEND_OF, b"r" * 10_000)], "expected 1..256 characters"),
        ([(ORIGIN_TOPIC, b"orders.events")], "needs ordersync.original.partition"),
        ([(DUE, b"-5")], "ordersync.retry.due: expected 0.."),
    ],
)
def test_a_header_that_does_not_parse_is_named_with_its_value(
    headers: list[tuple[str, bytes | None]], says: str
) -> None:
    with pytest.raises(HeaderError) as caught:
        internal(headers)
    assert says in str(caught.value)
    assert caught.value.reason_code == "BAD_CONTROL_HEADER"


@pytest.mark.parametrize(
    ("headers", "due"),
    [
        ([(DUE, b"1500")], 1.5),
        ([(DUE, b"soon")], 0.0),
        ([(DUE, None)], 0.0),
        ([], 0.0),
    ],
)
def test_due_time_never_raises(headers: list[tuple[str, bytes | None]], due: float) -> None:
    assert due_seconds(headers) == due
