"""What a connector to a GraphQL API shares: one endpoint, documents posted as JSON,
errors read from the answer (they come with HTTP 200) and the store's budget read from
the calculated query cost.

A GraphQL connector is still the four parts of ``connectors.base``: its ``perform`` reads
with ``query`` and writes with ``mutate``. Non-2xx answers follow the base's table; a 200
with top-level ``errors`` is classified by their ``extensions.code``:

    THROTTLED ................ retryable (RATE_LIMITED), after the cost bucket refills
    INTERNAL_SERVER_ERROR .... retryable (HTTP_SERVER_ERROR)
    ACCESS_DENIED ............ permanent (AUTH_REJECTED)
    any other ................ permanent (HTTP_REJECTED)

A mutation's ``userErrors`` are the caller's to read (``user_errors``): only it knows
whether a refusal means the update is already there.

The budget: every answer's ``extensions.cost`` (what the query cost, and
``throttleStatus``: points available, the maximum and the restore rate) sets the store's
bucket in calls of that cost — what is left, the burst and the rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.base import EXCERPT_CHARS, Connector, PlatformRequest, parsed, rejected
from connectors.http import StoreResponse
from streams.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.reasons import ReasonCode

ERROR_CODES: Mapping[str, tuple[bool, ReasonCode]] = {
    "THROTTLED": (True, ReasonCode.RATE_LIMITED),
    "INTERNAL_SERVER_ERROR": (True, ReasonCode.HTTP_SERVER_ERROR),
    "ACCESS_DENIED": (False, ReasonCode.AUTH_REJECTED),
}


class GraphQLConnector(Connector):
    """Base of a GraphQL platform's connector; a subclass sets ``endpoint``."""

    endpoint: ClassVar[str]

    async def query(
        self, operation: str, document: str, variables: Mapping[str, Any]
    ) -> tuple[StoreResponse, Mapping[str, Any]]:
        """The answer and its ``data``; top-level errors raised, classified."""
        response = await self.call(
            PlatformRequest(
                "POST",
                self.endpoint,
                json={"query": document, "variables": variables, "operationName": operation},
            )
        )
        body = _json(response)
        if not isinstance(body, Mapping):
            raise rejected(f"{operation}: the answer is not JSON", response)
        errors = body.get("errors")
        if errors:
            raise self._error(operation, errors, body, response)
        data = body.get("data")
        return response, data if isinstance(data, Mapping) else {}

    async def mutate(
        self, operation: str, document: str, variables: Mapping[str, Any], root: str
    ) -> tuple[StoreResponse, Mapping[str, Any]]:
        """The answer and the mutation's payload (``data[root]``), userErrors and all."""
        response, data = await self.query(operation, document, variables)
        payload = data.get(root)
        if not isinstance(payload, Mapping):
            raise rejected(f"{operation}: the answer has no {root} payload", response)
        return response, payload

    def observe(self, response: StoreResponse) -> None:
        body = _json(response)
        status = _throttle_status(body)
        if status is None or not isinstance(body, Mapping):
            return
        available, maximum, restore = status
        cost = _query_cost(body)
        if cost > 0 and maximum:
            self.limiter.observe_bucket(maximum / cost, available / cost)
            if restore:
                self.limiter.rate = restore / cost

    def _error(
        self, operation: str, errors: Any, body: Mapping[str, Any], response: StoreResponse
    ) -> DeliveryError:
        items: list[Any] = errors if isinstance(errors, list) else [{"message": str(errors)}]
        text = f"{operation}: {describe(items)}"
        codes = {_error_code(e) for e in items}
        for code, (retryable, reason) in ERROR_CODES.items():  # in the table's order
            if code not in codes:
                continue
            wait = None
            if reason is ReasonCode.RATE_LIMITED:
                wait = min(throttle_wait(body), self.longest_pause_s)
                self.limiter.pause(wait)
            error_type = RetryableDeliveryError if retryable else PermanentDeliveryError
            return error_type(
                text, reason_code=reason, http_status=response.status_code, retry_after_s=wait
            )
        return rejected(text, response)


def user_errors(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    errors: list[Mapping[str, Any]] = []
    for key in ("userErrors", "orderCancelUserErrors"):
        errors.extend(e for e in payload.get(key) or [] if isinstance(e, Mapping))
    return errors


def describe(errors: list[Any]) -> str:
    """Errors as one line: ``CODE field: message; ...``, cut to an excerpt's length."""
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            parts.append(str(error))
            continue
        field = error.get("field")
        where = ".".join(str(f) for f in field) if isinstance(field, list) else field
        code = error.get("code") or (error.get("extensions") or {}).get("code")
        label = " ".join(str(p) for p in (code, where) if p)
        parts.append(f"{label}: {error.get('message')}" if label else str(error.get("message")))
    return "; ".join(parts)[:EXCERPT_CHARS]


def throttle_wait(body: Mapping[str, Any]) -> float:
    """Seconds until the cost bucket holds what the throttled query asked for."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = _throttle_status(body)
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
    except (TypeError, ValueError):
        requested = 0.0
    if status is None or not status[2]:
        return 1.0
    available, _, restore = status
    return max(1.0, round((requested - available) / restore, 3))


def _error_code(error: Any) -> str:
    if not isinstance(error, Mapping):
        return ""
    extensions = error.get("extensions")
    return str(extensions.get("code")) if isinstance(extensions, Mapping) else ""


def _query_cost(body: Mapping[str, Any]) -> float:
    """What the query cost (or, throttled, would have): the points one call spends."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    for name in ("actualQueryCost", "requestedQueryCost"):
        try:
            value = float(cost.get(name) or 0)
        except (TypeError, ValueError, AttributeError):
            continue
        if value > 0:
            return value
    return 0.0


def _throttle_status(body: Any) -> tuple[float, float, float] | None:
    if not isinstance(body, Mapping):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
    if not isinstance(status, Mapping):
        return None
    try:
        return (
            float(status["currentlyAvailable"]),
            float(status["maximumAvailable"]),
            float(status["restoreRate"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _json(response: StoreResponse) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return None
    return parsed(response)
