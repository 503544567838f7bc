"""A store's call budget: how fast it may be called (``RateLimiter``), and whether it answers
at all (``CircuitBreaker``).

The dispatcher's store gate admits a send only when the store's limiter has a call to
spend (``ready_in() == 0``) and takes it then (``take(prepaid=True)``), so a store waiting
for its rate or a pause holds no sending capacity; the connector's ``call`` spends the
prepaid call first and waits for any further call its action needs (VTEX's lookup, then
its update).
"""

from __future__ import annotations

import asyncio
import math
import time
from contextvars import ContextVar

from streams.errors import RetryableDeliveryError
from streams.reasons import ReasonCode

# set in the task of a send the store gate admitted: the gate took its first call's token
PREPAID: ContextVar[bool] = ContextVar("ordersync_prepaid_call", default=False)
# a pause beginning within this long of the last one's end continues its run: the call
# made when a pause ends (up to the HTTP timeout) and refused again lies between the two
PAUSE_RUN_GAP_S = 30.0


class RateLimiter:
    """A token bucket per store: ``rate`` calls per second, at most ``burst`` at once.

    ``rate`` None: the store is not metered (until a platform's headers say it is). The
    platform's own account of its bucket, when it gives one (``observe_bucket``: Nuvemshop's
    ``x-rate-limit-*``, Shopify's call limit and query cost), corrects the tokens left, the
    burst and the drain rate — downwards before it answers 429, and upwards again when it
    says more is allowed. A ``Retry-After`` pauses the store, never longer than
    ``longest_pause_s``.
    """

    def __init__(
        self, rate_per_s: float | None, burst: float = 1.0, longest_pause_s: float = 60.0
    ) -> None:
        self.rate = rate_per_s if rate_per_s and rate_per_s > 0 else None
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.longest_pause_s = longest_pause_s
        self._at = time.monotonic()
        self._paused_until = 0.0
        self._paused_since = 0.0  # start of the run of pauses holding the store now

    # -- budget --------------------------------------------------------------------------
    def _refill(self, now: float) -> None:
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now

    def ready_in(self) -> float:
        """Seconds until a call may go (0 when one may now)."""
        now = time.monotonic()
        paused = max(0.0, self._paused_until - now)
        if self.rate is None:
            return paused
        self._refill(now)
        short = 1.0 - self.tokens
        return max(paused, short / self.rate if short > 0 else 0.0)

    def take(self, *, prepaid: bool = False) -> None:
        """Spend a call now; ``prepaid``: for the first call of an admitted send."""
        self._refill(time.monotonic())
        if self.rate is not None:
            self.tokens -= 1.0
        if prepaid:
            PREPAID.set(True)

    async def acquire(self) -> None:
        """Wait for a call to spend, and spend it (the admitted send's first is prepaid)."""
        if PREPAID.get():
            PREPAID.set(False)
            return
        while (wait := self.ready_in()) > 0:
            await asyncio.sleep(wait)
        self.take()

    # -- the platform's word ---------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Call the store no more for ``seconds``, at most ``longest_pause_s``."""
        if not seconds > 0:  # nan and negatives too
            return
        seconds = min(seconds, self.longest_pause_s)
        now = time.monotonic()
        # a store refusing again right after its pause (the next call's time) is still
        # refusing: one run of pauses, however short each, so an alert can see its length
        if self._paused_until + PAUSE_RUN_GAP_S < now:
            self._paused_since = now
        self._paused_until = max(self._paused_until, now + seconds)

    def paused_for(self) -> float:
        """Seconds until a pause ends (0 when none holds the store)."""
        return max(0.0, self._paused_until - time.monotonic())

    def paused_run_s(self) -> float:
        """How long pauses have held the store without a break (0 when none holds it)."""
        now = time.monotonic()
        return now - self._paused_since if self._paused_until > now else 0.0

    async def wait_until_resumed(self) -> None:
        """Return once no pause holds the store (a pause may be extended meanwhile)."""
        while (wait := self.paused_for()) > 0:
            await asyncio.sleep(wait)

    def observe_bucket(
        self, capacity: float, remaining: float, empty_in_s: float | None = None
    ) -> None:
        """The platform's bucket for this store: ``remaining`` of ``capacity`` calls left,
        and, where it says so, ``empty_in_s`` until it has drained (so it drains at
        ``(capacity - remaining) / empty_in_s`` calls per second)."""
        if not (math.isfinite(capacity) and math.isfinite(remaining)) or capacity < 1:
            return
        self._refill(time.monotonic())
        self.burst = capacity
        # only ever lower: calls sent after the one answered are not counted in ``remaining``
        self.tokens = min(self.tokens, max(0.0, remaining))
        used = capacity - remaining
        if empty_in_s is not None and math.isfinite(empty_in_s) and empty_in_s > 0 and used >= 1:
            self.rate = used / empty_in_s


class CircuitBreaker:
    """Stops calling a store that does not answer, so it cannot take the worker with it.

    A store that hangs holds each call until the timeout: a handful of such calls would
    hold sends other stores need. After ``threshold`` calls in a row end in a timeout or a
    connection failure the breaker opens: calls fail at once (retryable,
    ``STORE_UNRESPONSIVE``, retried when it may close) for ``cooldown_s``. Then one call
    at a time probes the store; an answer, any answer, closes the breaker.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 10.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
        self._opened_at = 0.0  # when it opened; failed probes keep it open since then

    def open_for_s(self) -> float:
        """How long the breaker has been open or probing (0 while closed)."""
        return time.monotonic() - self._opened_at if self.failures >= self.threshold else 0.0

    def admit(self, method: str, path: str) -> bool:
        """Raise unless a call may go now; ``True`` when this call is the probe."""
        if self.failures < self.threshold:
            return False
        wait = self.open_until - time.monotonic()
        if wait > 0 or self.probing:
            raise RetryableDeliveryError(
                f"{method} {path} not sent: the store did not answer "
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
        if self.failures == self.threshold:
            self._opened_at = time.monotonic()
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s
