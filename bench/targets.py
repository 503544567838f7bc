"""The targets of the issue on what each event costs, read from a bench result.

Targets are reported, never asserted: ``make bench`` ends with one line per target,
``met`` or ``NOT met`` with its figure. A figure that could not be measured (``None``:
events never answered, a zero denominator, a rate not offered) is NOT met: the
instrument must not flatter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# CPU per event at 0 ms, in raw units (multiples of the raw store client's CPU per request)
COST_LIMITS = {"worker": 3.0, "broker": 1.0, "history": 0.5, "product": 5.0}
COST_SCENARIOS = ("uniform1", "uniform2", "realistic0")
PACED_FAMILIES = ("uniformpaced", "realisticpaced")


@dataclass(frozen=True)
class Target:
    name: str
    figure: float | None
    limit: float | None
    at_most: bool = True  # the figure must be ≤ the limit; False: ≥
    note: str = ""

    @property
    def met(self) -> bool:
        if self.figure is None or self.limit is None:
            return False
        return self.figure <= self.limit if self.at_most else self.figure >= self.limit

    def line(self) -> str:
        verdict = "met" if self.met else "NOT met"
        sign = "≤" if self.at_most else "≥"
        note = f" ({self.note})" if self.note else ""
        return f"{verdict:<8} {self.name}: {number(self.figure)} (target {sign} {number(self.limit)}){note}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "limit": self.limit,
            "op": "<=" if self.at_most else ">=",
            "met": self.met,
            **({"note": self.note} if self.note else {}),
        }


def number(value: float | None) -> str:
    """A figure as the tables show it; ``None`` is "missing"."""
    return "missing" if value is None else f"{round(value, 4):g}"


def _get(tree: Mapping[str, Any] | None, *path: str) -> Any:
    """``tree[path[0]][path[1]]...``, or ``None`` where a step is missing."""
    node: Any = tree
    for step in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node


def _plus(value: float | None, more: float) -> float | None:
    return None if value is None else round(value + more, 2)


def targets(result: Mapping[str, Any]) -> list[Target]:
    """Every target whose scenario ran in ``result``."""
    scenarios: Mapping[str, Any] = result.get("scenarios", {})
    found: list[Target] = []
    for name in COST_SCENARIOS:
        units = _get(result, "cost", name, "raw_units")
        if name in scenarios:
            found += [
                Target(f"{name}: {part} CPU per event (raw units)", _get(units, part), limit)
                for part, limit in COST_LIMITS.items()
            ]
    for family in PACED_FAMILIES:
        if family not in scenarios:
            continue
        runs = _get(scenarios, family, "runs") or {}
        half, most = runs.get("50%"), runs.get("80%")
        found += [
            Target(
                f"{family} at 50 %: ordersync's part (publish → call arrives) p50 (ms)",
                _get(half, "ordersync_ms", "p50"),
                10,
            ),
            Target(
                f"{family} at 50 %: ordersync's part p99 (ms)",
                _get(half, "ordersync_ms", "p99"),
                50,
            ),
            Target(
                f"{family} at 80 %: ordersync's part p99 (ms)",
                _get(most, "ordersync_ms", "p99"),
                250,
            ),
        ]
        fixed = _get(result, "settings", "fixed_rate_eps")
        at_fixed = runs.get(f"{fixed}/s")
        found.append(
            Target(
                f"{family} at {fixed} events/s: publish → platform answer p50 (ms)",
                _get(at_fixed, "latency_ms", "p50"),
                _plus(_get(at_fixed, "platform_ms", "p50"), 15),
                note="the platform's own p50 + 15 ms"
                if at_fixed
                else "not offered: above 80 % of the capacity",
            )
        )
    if "realistic" in scenarios and "realistic0" in scenarios:
        found.append(
            Target(
                "realistic: throughput at 150 ms as a share of its own at 0 ms",
                _get(result, "comparisons", "realistic_150ms_to_0ms"),
                0.9,
                at_most=False,
            )
        )
    bf = scenarios.get("blackfriday")
    if bf is not None:
        found += [
            Target("blackfriday at 50 %: others' p99 excess (publish → call arrives, ms)",
                   _get(bf, "others_p99_excess_ms"), 100),
            Target("blackfriday: metered store's steady use of its rate",
                   _get(bf, "metered_utilisation"), 0.9, at_most=False),
            Target("blackfriday: metered store's calls answered 429 (share)",
                   _get(bf, "metered_429_ratio"), 0.01),
            Target("blackfriday: worker peak RSS (MiB)", _get(bf, "worker_peak_rss_mb"), 512),
        ]  # fmt: skip
    if "isolation" in scenarios:
        found.append(
            Target(
                "isolation at 50 %: healthy stores' p99 excess (publish → call arrives, ms)",
                _get(scenarios, "isolation", "p99_excess_ms"),
                100,
            )
        )
    if "idle" in scenarios:
        found += [
            Target("idle: worker CPU (cores)", _get(scenarios, "idle", "worker"), 0.02),
            Target("idle: CPU the worker adds to the broker (cores)",
                   _get(scenarios, "idle", "broker"), 0.02),
        ]  # fmt: skip
    return found
