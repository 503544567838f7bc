"""What every connector shares: the HTTP call, its timing and the classification of answers.

A platform connector only fills hooks (``actions``, ``auth_headers``, ``build_request``
and, when the platform has one, ``is_already_done``, or ``classify`` where its answers say
more than their status); the base owns the client, the timeouts, redirects (never
followed) and the status table:

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

import asyncio
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from connectors.http import (
    BlockedAddressError,
    StoreClient,
    StoreResponse,
    StoreTimeout,
    TransportError,
)
from streams.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, IntegrationConfig, OrderEvent, now_utc
from streams.redact import redact
from streams.secrets import MASKER, Secret

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


def retry_after_seconds(value: str | None, longest_s: float = 60.0) -> float | None:
    """A ``Retry-After`` (seconds or an HTTP date) as seconds, within ``0..longest_s``.

    A value that is neither (``soon``, ``nan``) is ignored; ``inf`` or a date next year
    waits ``longest_s`` (``ORDERSYNC_RETRY_MAX_DELAY_S``), a past date or a negative value
    not at all.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now_utc()).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), longest_s)


class RateLimiter:
    """Spaces calls to one store: at most ``rate`` per second, adapting to the platform.

    A platform that says how much budget is left (Shopify's call-limit header,
    Nuvemshop's ``x-rate-limit-*``) slows the limiter down before it answers 429; a
    ``Retry-After`` pauses the store until then.
    """

    MAX_SLOWDOWN = 8.0  # never slower than this many times the configured pace

    def __init__(self, rate_per_s: float | None, longest_pause_s: float = 60.0) -> None:
        self.interval = 1.0 / rate_per_s if rate_per_s else 0.0
        self.slowest = max(self.interval, 0.001) * self.MAX_SLOWDOWN
        self.longest_pause_s = longest_pause_s
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def paused_for(self) -> float:
        """Seconds until the store may be called again (0 when it may now)."""
        return max(0.0, self._paused_until - time.monotonic())

    async def wait_until_resumed(self) -> None:
        """Return once no pause holds the store (a pause may be extended meanwhile)."""
        while (wait := self.paused_for()) > 0:
            await asyncio.sleep(wait)

    async def acquire(self) -> None:
        if not self.interval and not self._paused_until:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Call the store no more for ``seconds``, at most ``longest_pause_s``."""
        if not seconds > 0:  # nan and negatives too
            return
        seconds = min(seconds, self.longest_pause_s)
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def slow_down(self, factor: float) -> None:
        self.interval = min(max(self.interval, 0.001) * factor, self.slowest)


class CircuitBreaker:
    """Stops calling a store that does not answer, so it cannot take the worker with it.

    A store that hangs holds each call until the timeout, and with it one of the worker's
    few concurrent slots: a handful of such calls would stall every other store. After
    ``threshold`` calls in a row end in a timeout or a connection failure the breaker
    opens: calls fail at once (retryable, ``STORE_UNRESPONSIVE``, retried when it may
    close) for ``cooldown_s``. Then one call at a time probes the store; an answer, any
    answer, closes the breaker.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 10.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until = 0.0
        self.probing = False

    def admit(self, request: PlatformRequest) -> bool:
        """Raise unless a call may go now; ``True`` when this call is the probe."""
        if self.failures < self.threshold:
            return False
        wait = self.open_until - time.monotonic()
        if wait > 0 or self.probing:
            raise RetryableDeliveryError(
                f"{request.method} {request.path} not sent: the store did not answer "
                f"{self.failures} calls in a row",
                reason_code=ReasonCode.STORE_UNRESPONSIVE,
                retry_after_s=max(wait, 0.0) or None,
            )
        self.probing = True
        return True

    def answered(self) -> None:
        self.failures = 0

    def unanswered(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s


class Connector:
    """Base of every platform connector. Subclasses set ``platform`` and ``actions``.

    Hooks: ``auth_headers`` / ``auth_params`` (credentials), ``build_request`` (one
    call per action), ``is_already_done`` (the platform's "nothing to do" answers),
    ``observe`` (rate headers). A platform that needs several calls for one action
    (look something up, then act) overrides ``execute`` and uses ``call`` for each.
    """

    platform: ClassVar[str]
    actions: ClassVar[frozenset[Action]]
    default_rate_per_s: ClassVar[float | None] = None

    def __init__(
        self,
        config: IntegrationConfig,
        credentials: Secret | None,
        client: StoreClient,
        *,
        longest_pause_s: float = 60.0,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self._mask_halves(credentials)
        self.client = client
        # a platform's Retry-After or rate headers never pause the store for longer
        self.longest_pause_s = longest_pause_s
        self.limiter = RateLimiter(
            config.rate_limit_per_s or self.default_rate_per_s, longest_pause_s
        )
        self.breaker = CircuitBreaker()

    # -- hooks -----------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def auth_params(self) -> dict[str, str]:
        return {}

    def build_request(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> PlatformRequest:
        raise NotImplementedError(f"{type(self).__name__} builds no request for {action}")

    def is_already_done(self, action: Action, response: StoreResponse) -> bool:
        return False

    def observe(self, response: StoreResponse) -> None:
        """Adapt to the platform's rate-limit headers; the default reads none."""

    def classify(self, response: StoreResponse) -> tuple[bool, ReasonCode]:
        """(retryable, reason) for a refusal; a platform may read more than the status."""
        return classify_status(response.status_code)

    async def respond(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> StoreResponse:
        """The platform's answer to the action; one call unless a connector needs more."""
        return await self.call(action, self.build_request(action, event, platform_status))

    async def execute(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> tuple[StoreResponse, bool]:
        """(the last answer, whether the platform already had this update).

        Override it where "already done" is learnt from a lookup that answers 2xx."""
        response = await self.respond(action, event, platform_status)
        return response, not response.is_success  # call() only lets "already done" through

    def renew_credentials(self, credentials: Secret) -> None:
        """Send with ``credentials`` from now on.

        The ones they replace stay masked (the masker keeps every secret the process
        held): a send still in flight with them may fail afterwards, and a platform may
        echo the token it refused.
        """
        self._mask_halves(credentials)
        self.credentials = credentials

    @staticmethod
    def _mask_halves(credentials: Secret | None) -> None:
        # key:token pairs (VTEX, WooCommerce) go out by halves, in separate headers
        if credentials is not None:
            MASKER.add(credentials.reveal(), halves=True)

    # -- mechanics -------------------------------------------------------------------
    def require_credentials(self) -> Secret:
        if self.credentials is None:
            raise PermanentDeliveryError(
                f"{self.platform} needs credentials; set credentials_ref on the integration",
                reason_code=ReasonCode.CREDENTIALS_MISSING,
            )
        return self.credentials

    async def call(self, action: Action, request: PlatformRequest) -> StoreResponse:
        """One HTTP call; raises a classified ``DeliveryError`` unless it succeeded."""
        await self.limiter.acquire()
        probe = self.breaker.admit(request)
        try:
            response = await self.client.request(
                request.method,
                request.path,
                json=request.json,
                content=request.content,
                params={**self.auth_params(), **request.params} or None,
                headers={**self.auth_headers(), **request.headers},
            )
        except BlockedAddressError as exc:
            raise PermanentDeliveryError(str(exc), reason_code=ReasonCode.ADDRESS_BLOCKED) from exc
        except StoreTimeout as exc:
            self.breaker.unanswered()
            raise RetryableDeliveryError(
                f"{exc} calling {request.method} {request.path}",
                reason_code=ReasonCode.TIMEOUT,
            ) from exc
        except TransportError as exc:
            self.breaker.unanswered()
            raise RetryableDeliveryError(
                f"{type(exc).__name__} calling {request.method} {request.path}: {exc}",
                reason_code=ReasonCode.CONNECTION_ERROR,
            ) from exc
        finally:
            if probe:
                self.breaker.probing = False
        self.breaker.answered()
        self.observe(response)
        if response.is_success or self.is_already_done(action, response):
            return response
        retryable, reason = self.classify(response)
        retry_after = retry_after_seconds(response.headers.get("retry-after"), self.longest_pause_s)
        if retry_after:
            self.limiter.pause(retry_after)
        message = (
            f"{request.method} {request.path} answered {response.status_code}: {excerpt(response)}"
        )
        error_type = RetryableDeliveryError if retryable else PermanentDeliveryError
        raise error_type(
            message,
            reason_code=reason,
            http_status=response.status_code,
            retry_after_s=retry_after,
        )

    async def wait_until_resumed(self) -> None:
        """Return once the store's pause (a ``Retry-After``, rate headers) is over."""
        await self.limiter.wait_until_resumed()

    async def send(
        self, action: Action, event: OrderEvent, platform_status: str | None = None
    ) -> Delivery:
        started = time.perf_counter()
        try:
            response, already_done = await self.execute(action, event, platform_status)
        except DeliveryError as exc:
            failure = exc
        else:
            latency_ms = (time.perf_counter() - started) * 1000
            return Delivery(response.status_code, latency_ms, already_done=already_done)
        # a new error, raised outside the handler, so the unmasked one is not its context
        raise type(failure)(
            redact(str(failure)),
            reason_code=failure.reason_code,
            http_status=failure.http_status,
            retry_after_s=failure.retry_after_s,
        ) from failure.__cause__


NUMERIC_ID = re.compile(r"[0-9]{1,20}")


def numeric_order_id(event: OrderEvent, platform: str, what: str = "the numeric order id") -> str:
    """The platform order id, refused unless numeric: it goes into request paths."""
    if not NUMERIC_ID.fullmatch(event.platform_order_id):
        raise PermanentDeliveryError(
            f"{platform} needs {what} as platform_order_id, got {event.platform_order_id[:40]!r}",
            reason_code=ReasonCode.INVALID_EVENT,
        )
    return event.platform_order_id


def require_payload(value: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    if not value:
        raise PermanentDeliveryError(
            f"the event has no {name} payload", reason_code=ReasonCode.INVALID_EVENT
        )
    return value


def json_body(response: StoreResponse, request: PlatformRequest) -> Any:
    """The answer's JSON; a body that is not JSON is a platform fault (retryable)."""
    try:
        return response.json()
    except ValueError:
        raise unexpected(request, response) from None


def rejected(request: PlatformRequest, response: StoreResponse) -> PermanentDeliveryError:
    """A refusal a connector read in an answer ``call`` let through (an "already done"
    status that turned out not to be): permanent, like any other 4xx."""
    return PermanentDeliveryError(
        f"{request.method} {request.path} answered {response.status_code}: {excerpt(response)}",
        reason_code=ReasonCode.HTTP_REJECTED,
        http_status=response.status_code,
    )


def unexpected(request: PlatformRequest, response: StoreResponse) -> RetryableDeliveryError:
    return RetryableDeliveryError(
        f"{request.method} {request.path} answered {response.status_code} with an unexpected "
        f"body: {excerpt(response)}",
        reason_code=ReasonCode.HTTP_SERVER_ERROR,
        http_status=response.status_code,
    )


def excerpt(response: StoreResponse) -> str:
    text = response.text.replace("\n", " ")
    return text[:EXCERPT_CHARS]
