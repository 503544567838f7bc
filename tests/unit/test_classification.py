"""How the connector base classifies a platform's answers, by table."""

from __future__ import annotations

import pytest

from connectors.base import classify_status, retry_after_seconds
from streams.reasons import ReasonCode as R


@pytest.mark.parametrize(
    ("status", "retryable", "reason"),
    [
        (408, True, R.TIMEOUT),
        (425, True, R.TIMEOUT),
        (429, True, R.RATE_LIMITED),
        (500, True, R.HTTP_SERVER_ERROR),
        (502, True, R.HTTP_SERVER_ERROR),
        (503, True, R.HTTP_SERVER_ERROR),
        (504, True, R.HTTP_SERVER_ERROR),
        (400, False, R.HTTP_REJECTED),
        (401, False, R.AUTH_REJECTED),
        (403, False, R.AUTH_REJECTED),
        (404, False, R.ORDER_NOT_FOUND),
        (409, False, R.HTTP_REJECTED),
        (422, False, R.HTTP_REJECTED),
        (301, False, R.REDIRECT_REFUSED),
        (302, False, R.REDIRECT_REFUSED),
    ],
)
def test_status_table(status: int, retryable: bool, reason: R) -> None:
    assert classify_status(status) == (retryable, reason)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("soon", None),
        ("inf", 60.0),
        ("Infinity", 60.0),
        ("-inf", 0.0),
        ("nan", None),
        ("1e308", 60.0),
        ("86400", 60.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Mon, 99 Foo 2015 77:28:00 GMT", None),
    ],
)
def test_retry_after_is_bounded_by_the_longest_delay(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, longest_s=60.0) == seconds


@pytest.mark.parametrize("pause", [float("inf"), float("nan"), -5.0, 1e12])
def test_no_pause_outlasts_the_longest_delay(pause: float) -> None:
    from connectors.base import RateLimiter

    limiter = RateLimiter(None, longest_pause_s=60.0)
    limiter.pause(pause)
    assert 0.0 <= limiter.paused_for() <= 60.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_the_rate_limiter_is_a_token_bucket_that_follows_the_platforms_account() -> None:
    from connectors.base import RateLimiter

    limiter = RateLimiter(2.0, burst=3)
    for _ in range(3):
        assert limiter.ready_in() == 0
        limiter.take()
    assert 0.49 < limiter.ready_in() <= 0.5  # a call drains in half a second
    limiter.observe_bucket(capacity=40, remaining=38, empty_in_s=1.0)  # 2 in it, 1 s to empty
    assert limiter.burst == 40 and limiter.rate == 2.0
    limiter.observe_bucket(capacity=40, remaining=20, empty_in_s=1.0)  # a faster plan: 20/s
    assert limiter.rate == 20.0
    unmetered = RateLimiter(None)
    for _ in range(100):
        unmetered.take()
    assert unmetered.ready_in() == 0
