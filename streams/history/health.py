"""The report's "Saúde" tab: each integration's health, for the period and now (pure; no I/O).

For the period (the report's own filters: tenant from the token, period and integration
from the page): outcomes sent, skipped and failed, the success rate, the time from the
ERP's event to the platform's answer (p50, p95) and the last success; the open errors and
the pending events as the Erros and Pendentes tabs count them (their own queries, so a
click on a count opens the tab with as many rows). Now, from the workers' backlog
snapshots: queued, parked, sending, paused until, circuit open. The unhealthy first.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from streams.history.report import ERROR_OUTCOMES, ReportFilters

# as deploy/prometheus/alerts.yml (OrdersyncStoreBacklogOld): an event waiting longer is late
LATE_WAIT_S = 900.0
LOW_SUCCESS_RATE = 0.9  # below it, failures are more than the odd refusal
_SENT = "outcome = 'SENT'"
_ANSWERED = f"{_SENT} AND attempt > 0"  # a send the platform answered (not a replay's repeat)
_TO_PLATFORM_MS = "toFloat64(dateDiff('millisecond', occurred_at, decided_at))"
_ERRORS = ", ".join(f"'{o}'" for o in ERROR_OUTCOMES)


def queries(filters: ReportFilters) -> dict[str, tuple[str, dict[str, Any]]]:
    """The health's queries for the report's filters (tab, order, event type and outcome
    do not apply)."""
    scope = replace(filters, order=None, event_type=None, outcome=None)
    todos, params = replace(scope, tab="todos").source()
    return {
        "period": (
            "SELECT integration, any(tenant) AS tenant, "
            f"countIf({_SENT}) AS sent, "
            "countIf(outcome IN ('SKIPPED', 'SUPERSEDED')) AS skipped, "
            f"countIf(outcome IN ({_ERRORS})) AS errors, "
            f"quantileExactIf(0.5)({_TO_PLATFORM_MS}, {_ANSWERED}) AS p50_ms, "
            f"quantileExactIf(0.95)({_TO_PLATFORM_MS}, {_ANSWERED}) AS p95_ms, "
            f"countIf({_SENT}) > 0 AS ever_sent, "
            f"maxIf(decided_at, {_SENT}) AS last_success "
            f"FROM ({todos}) WHERE integration != '' GROUP BY integration",
            params,
        ),
        "open_errors": replace(scope, tab="erros").by_integration_query(),
        "pending": replace(scope, tab="pendentes").by_integration_query(),
    }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 1)


def combine(
    period: list[dict[str, Any]],
    open_errors: list[dict[str, Any]],
    pending: list[dict[str, Any]],
    backlog: list[dict[str, Any]],
    now: float,
) -> list[dict[str, Any]]:
    """One row per integration with its problems named; the unhealthy first (the most
    problems, then the most open errors), then by name."""
    rows: dict[str, dict[str, Any]] = {}

    def row(integration: str) -> dict[str, Any]:
        return rows.setdefault(
            integration,
            {
                "integration": integration,
                "tenant": None,
                "sent": 0,
                "skipped": 0,
                "errors": 0,
                "success_rate": None,
                "p50_ms": None,
                "p95_ms": None,
                "last_success": None,
                "open_errors": 0,
                "pending": 0,
                "queued": 0,
                "parked": 0,
                "sending": 0,
                "oldest_wait_s": 0.0,
                "paused_until": None,
                "circuit_open_s": 0.0,
            },
        )

    for found in period:
        health = row(found["integration"])
        health["tenant"] = found["tenant"]
        sent, errors = int(found["sent"]), int(found["errors"])
        health.update(sent=sent, skipped=int(found["skipped"]), errors=errors)
        health["success_rate"] = round(sent / (sent + errors), 4) if sent + errors else None
        health["p50_ms"], health["p95_ms"] = _number(found["p50_ms"]), _number(found["p95_ms"])
        if found["ever_sent"]:
            health["last_success"] = _aware(found["last_success"])
    for counted, field in ((open_errors, "open_errors"), (pending, "pending")):
        for found in counted:
            row(found["integration"])[field] = int(found["rows"])
    for store in backlog:
        health = row(store["integration_id"])
        health["tenant"] = health["tenant"] or store["tenant"]
        health.update(
            queued=store["queued"],
            parked=store["parked"],
            sending=store["in_flight"],
            oldest_wait_s=max(store["oldest_wait_s"], store.get("oldest_parked_s", 0.0)),
            circuit_open_s=store.get("circuit_open_s", 0.0),
        )
        until = store.get("paused_until")
        if until is not None and until > now:
            health["paused_until"] = datetime.fromtimestamp(until, UTC)
    for health in rows.values():
        health["problems"] = problems(health)
    return sorted(
        rows.values(),
        key=lambda h: (-len(h["problems"]), -h["open_errors"], -h["pending"], h["integration"]),
    )


def problems(health: dict[str, Any]) -> list[str]:
    """What makes an integration unhealthy, by name (the page words them)."""
    found = []
    if health["circuit_open_s"] > 0:
        found.append("circuit_open")
    if health["paused_until"] is not None:
        found.append("paused")
    if health["oldest_wait_s"] > LATE_WAIT_S:
        found.append("late")
    if health["open_errors"] > 0:
        found.append("open_errors")
    rate = health["success_rate"]
    if rate is not None and rate < LOW_SUCCESS_RATE:
        found.append("low_success")
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
