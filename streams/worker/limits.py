"""How many sends one store gets at once: a limit that follows the store's answers.

In the manner of Netflix's concurrency-limits (its Gradient2 limit): the limit grows while
the store's recent answer time stays near its long-run answer time — by about the square
root of the limit per answer, so it reaches what a store answering in a second needs
(hundreds) within seconds — and shrinks when the recent answers slow down (the store is
queueing) or when the store says it is overloaded (429, 5xx, a timeout), by half at most
once per answer time. A limit the store's senders do not use is not grown: a store with two
sends in flight gives no evidence that it could take two hundred.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class AdaptiveLimit:
    def __init__(
        self,
        initial: int = 4,
        minimum: int = 1,
        maximum: int = 256,
        *,
        tolerance: float = 2.0,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.value = float(min(max(initial, minimum), self.maximum))
        self.tolerance = tolerance
        self.smoothing = smoothing
        self._clock = clock
        self._short: float | None = None  # recent answer time (EWMA of ~10 answers)
        self._long: float | None = None  # long-run answer time (EWMA of ~500)
        self._dropped_at = -math.inf

    @property
    def limit(self) -> int:
        return max(self.minimum, int(self.value))

    @property
    def answer_time_s(self) -> float | None:
        return self._short

    def on_answer(self, seconds: float, in_flight: int) -> None:
        """An answer that took ``seconds``, with ``in_flight`` sends (it included) under way."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        self._short = (
            seconds if self._short is None else self._short + 0.1 * (seconds - self._short)
        )
        self._long = seconds if self._long is None else self._long + 0.002 * (seconds - self._long)
        if in_flight * 2 < self.limit:
            return  # the limit is not what holds this store back
        gradient = 1.0
        if self._short > 0:
            gradient = min(1.0, max(0.5, self.tolerance * self._long / self._short))
        target = self.value * gradient + math.sqrt(self.value)
        self.value = self._bounded(self.value + self.smoothing * (target - self.value))

    def on_overload(self) -> None:
        """The store said it cannot take more: halve, once per answer time."""
        now = self._clock()
        if now - self._dropped_at < max(self._short or 0.0, 0.05):
            return
        self._dropped_at = now
        self.value = self._bounded(self.value / 2)

    def _bounded(self, value: float) -> float:
        return min(float(self.maximum), max(float(self.minimum), value))
