"""What every connector shares: the HTTP call, its timing, excerpts, masking and the
classification of answers.

A platform connector is four parts:

    actions ........ the actions it supports (the router records any other as
                     ACTION_UNSUPPORTED)
    authenticate ... what each call carries to prove who it is (headers, query parameters)
    perform ........ one action: the calls it makes through ``call``, returning
                     ``delivered(answer)`` or ``already_done(answer)``, or raising from the
                     ``DeliveryError`` tree
    classify ....... optional: how to read the platform's own refusals, where they say
                     more than their status

The base owns the rest: the client, the store's rate limiter and circuit breaker, the
rate headers, ``Retry-After``, timing, excerpts, masking and this table:

    2xx ............................. sent
    platform's "already done" ....... sent (ALREADY_DONE)
    408 425 429 5xx, timeouts,
    connection errors ............... retryable (Retry-After honoured)
    401 403 ......................... permanent (AUTH_REJECTED)
    404 ............................. permanent (ORDER_NOT_FOUND)
    3xx ............................. permanent (REDIRECT_REFUSED, never followed)
    other 4xx ....................... permanent (HTTP_REJECTED)
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Mapping
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
from connectors.nfe import NfeSource
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
class Auth:
    """What every call to the store carries to authenticate."""

    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


NO_AUTH = Auth()


@dataclass(frozen=True, slots=True)
class Performed:
    """What ``perform`` did: the status of the answer that settled it, whether the
    platform already had the update (nothing was changed), or why nothing was to be sent
    after all (what the platform said of the order: ``skipped``)."""

    http_status: int | None
    already_done: bool
    skipped: ReasonCode | None = None


def delivered(response: StoreResponse) -> Performed:
    return Performed(response.status_code, already_done=False)


def already_done(response: StoreResponse) -> Performed:
    return Performed(response.status_code, already_done=True)


def skipped(response: StoreResponse | None, reason: ReasonCode) -> Performed:
    """Nothing to send for this order (a recorded skip), as the platform's answer showed,
    or the integration says before any call."""
    status = None if response is None else response.status_code
    return Performed(status, already_done=False, skipped=reason)


@dataclass(frozen=True, slots=True)
class Delivery:
    http_status: int | None
    latency_ms: float
    already_done: bool
    skipped: ReasonCode | None = None


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
    """Base of every platform connector: a subclass sets ``platform`` and ``actions`` and
    fills ``authenticate``, ``perform`` and, if it needs to, ``classify``."""

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
        documents: NfeSource | None = None,
    ) -> None:
        self.config = config
        # where an NF-e XML comes from (the event, or the ERP's listed hosts), checked
        self.documents = documents or NfeSource()
        self.credentials = credentials
        self._mask_halves(credentials)
        self.client = client
        # a platform's Retry-After or rate headers never pause the store for longer
        self.longest_pause_s = longest_pause_s
        self.limiter = RateLimiter(
            config.rate_limit_per_s or self.default_rate_per_s, longest_pause_s
        )
        self.breaker = CircuitBreaker()

    # -- the contract ----------------------------------------------------------------
    def authenticate(self) -> Auth:
        """What each call carries to authenticate; ``require_credentials`` gives the
        integration's secret (or refuses with CREDENTIALS_MISSING)."""
        return NO_AUTH

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        """Make the platform show ``action`` for the event's order."""
        raise NotImplementedError(f"{type(self).__name__} performs no action")

    def classify(self, response: StoreResponse) -> tuple[bool, ReasonCode]:
        """(retryable, reason) for a refusal; a platform may read more than the status."""
        return classify_status(response.status_code)

    # -- what perform calls ----------------------------------------------------------
    def require_credentials(self) -> Secret:
        if self.credentials is None:
            raise PermanentDeliveryError(
                f"{self.platform} needs credentials; set credentials_ref on the integration",
                reason_code=ReasonCode.CREDENTIALS_MISSING,
            )
        return self.credentials

    async def call(
        self, request: PlatformRequest, *, inspect: Collection[int] = ()
    ) -> StoreResponse:
        """One HTTP call. Returns a 2xx answer, or one whose status is in ``inspect``
        (a refusal that may mean "already done", for ``perform`` to look into); raises
        the classified ``DeliveryError`` for any other."""
        await self.limiter.acquire()
        probe = self.breaker.admit(request.method, request.path)
        auth = self.authenticate()
        try:
            response = await self.client.request(
                request.method,
                request.path,
                json=request.json,
                content=request.content,
                params={**auth.params, **request.params} or None,
                headers={**auth.headers, **request.headers},
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
        if response.is_success or response.status_code in inspect:
            return response
        raise self.refused(request, response)

    def refused(self, request: PlatformRequest, response: StoreResponse) -> DeliveryError:
        """The classified error for a refusal (honouring its ``Retry-After``)."""
        retryable, reason = self.classify(response)
        retry_after = retry_after_seconds(response.headers.get("retry-after"), self.longest_pause_s)
        if retry_after:
            self.limiter.pause(retry_after)
        error_type = RetryableDeliveryError if retryable else PermanentDeliveryError
        return error_type(
            f"{request.method} {request.path} answered {response.status_code}: {excerpt(response)}",
            reason_code=reason,
            http_status=response.status_code,
            retry_after_s=retry_after,
        )

    # -- mechanics -------------------------------------------------------------------
    def observe(self, response: StoreResponse) -> None:
        """Adapt to the platform's account of the store's bucket: ``x-rate-limit-limit``,
        ``-remaining`` and ``-reset`` (ms until it is empty), as Nuvemshop and the sandbox
        send them. A base for another kind of API (GraphQL) reads its own."""
        headers = response.headers
        limit = _number(headers.get("x-rate-limit-limit"))
        remaining = _number(headers.get("x-rate-limit-remaining"))
        if limit is None or remaining is None:
            return
        reset_ms = _number(headers.get("x-rate-limit-reset"))
        self.limiter.observe_bucket(limit, remaining, None if reset_ms is None else reset_ms / 1000)

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

    async def send(
        self, action: Action, event: OrderEvent, platform_status: str | None = None
    ) -> Delivery:
        if action not in self.actions:
            raise PermanentDeliveryError(
                f"{self.platform} has no call for {action}",
                reason_code=ReasonCode.ACTION_UNSUPPORTED,
            )
        started = time.perf_counter()
        try:
            performed = await self.perform(action, event, platform_status)
        except DeliveryError as exc:
            failure = exc
        else:
            latency_ms = (time.perf_counter() - started) * 1000
            return Delivery(
                performed.http_status, latency_ms, performed.already_done, performed.skipped
            )
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


def parsed(response: StoreResponse) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:  # not JSON, or not text
        return None


def json_body(response: StoreResponse, request: PlatformRequest) -> Any:
    """The answer's JSON; a body that is not JSON is a platform fault (retryable)."""
    try:
        return response.json()
    except ValueError:
        raise unexpected(request, response) from None


def rejected(message: str, response: StoreResponse | None = None) -> PermanentDeliveryError:
    """A refusal a connector read in what the platform answered (HTTP_REJECTED)."""
    return PermanentDeliveryError(
        message,
        reason_code=ReasonCode.HTTP_REJECTED,
        http_status=None if response is None else response.status_code,
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
