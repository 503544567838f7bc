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

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from connectors.budget import CircuitBreaker, RateLimiter
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
        """Adapt to the platform's account of the store's bucket: ``x-rate-limit-limit``,
        ``-remaining`` and ``-reset`` (ms until it is empty), as Nuvemshop and the sandbox
        send them. A platform that says it otherwise overrides this."""
        headers = response.headers
        limit = _number(headers.get("x-rate-limit-limit"))
        remaining = _number(headers.get("x-rate-limit-remaining"))
        if limit is None or remaining is None:
            return
        reset_ms = _number(headers.get("x-rate-limit-reset"))
        self.limiter.observe_bucket(limit, remaining, None if reset_ms is None else reset_ms / 1000)

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
        probe = self.breaker.admit(request.method, request.path)
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


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


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
