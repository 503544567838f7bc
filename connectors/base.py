"""What every connector shares: the HTTP call, its timing and the classification of answers.

A platform connector only fills hooks (``actions``, ``auth_headers``, ``build_request``
and, when the platform has one, ``is_already_done``); the base owns the client, the
timeouts, redirects (never followed) and the status table:

    2xx ............................. sent
    platform's "already done" ....... sent (ALREADY_DONE)
    408 425 429 5xx, timeouts,
    connection errors ............... retryable (Retry-After honoured)
    401 403 ......................... permanent (AUTH_REJECTED)
    404 ............................. permanent (ORDER_NOT_FOUND)
    3xx ............................. permanent (REDIRECT_REFUSED)
    other 4xx ....................... permanent (HTTP_REJECTED)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from streams.errors import PermanentDeliveryError, RetryableDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, IntegrationConfig, OrderEvent, now_utc
from streams.settings import Secret

RETRYABLE_STATUSES = frozenset({408, 425, 429})
EXCERPT_CHARS = 300


@dataclass(frozen=True, slots=True)
class PlatformRequest:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    http_status: int
    latency_ms: float
    already_done: bool


def classify_status(status: int) -> tuple[bool, ReasonCode]:
    """(retryable, reason) for a non-success HTTP status."""
    if status in RETRYABLE_STATUSES:
        return True, ReasonCode.RATE_LIMITED if status == 429 else ReasonCode.TIMEOUT
    if status >= 500:
        return True, ReasonCode.HTTP_SERVER_ERROR
    if status in (401, 403):
        return False, ReasonCode.AUTH_REJECTED
    if status == 404:
        return False, ReasonCode.ORDER_NOT_FOUND
    if 300 <= status < 400:
        return False, ReasonCode.REDIRECT_REFUSED
    return False, ReasonCode.HTTP_REJECTED


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now_utc()).total_seconds())
    except (TypeError, ValueError):
        return None


class Connector:
    """Base of every platform connector. Subclasses set ``platform`` and ``actions``."""

    platform: ClassVar[str]
    actions: ClassVar[frozenset[Action]]

    def __init__(
        self,
        config: IntegrationConfig,
        credentials: Secret | None,
        client: httpx.AsyncClient,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.client = client

    # -- hooks -----------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def build_request(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> PlatformRequest:
        raise NotImplementedError

    def is_already_done(self, action: Action, response: httpx.Response) -> bool:
        return False

    # -- mechanics -------------------------------------------------------------------
    async def send(
        self, action: Action, event: OrderEvent, platform_status: str | None = None
    ) -> Delivery:
        request = self.build_request(action, event, platform_status)
        started = time.perf_counter()
        try:
            response = await self.client.request(
                request.method,
                request.path,
                json=request.json,
                content=request.content,
                params=dict(request.params) or None,
                headers={**self.auth_headers(), **request.headers},
            )
        except httpx.TimeoutException as exc:
            raise RetryableDeliveryError(
                f"{type(exc).__name__} calling {request.method} {request.path}",
                reason_code=ReasonCode.TIMEOUT,
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableDeliveryError(
                f"{type(exc).__name__} calling {request.method} {request.path}: {exc}",
                reason_code=ReasonCode.CONNECTION_ERROR,
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if response.is_success:
            return Delivery(response.status_code, latency_ms, already_done=False)
        if self.is_already_done(action, response):
            return Delivery(response.status_code, latency_ms, already_done=True)
        retryable, reason = classify_status(response.status_code)
        message = (
            f"{request.method} {request.path} answered {response.status_code}: {_excerpt(response)}"
        )
        error_type = RetryableDeliveryError if retryable else PermanentDeliveryError
        raise error_type(
            message,
            reason_code=reason,
            http_status=response.status_code,
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
        )


def _excerpt(response: httpx.Response) -> str:
    text = response.text.replace("\n", " ")
    return text[:EXCERPT_CHARS]
