"""The report's queries: filters in, parameterised SQL out (pure; no I/O).

"Todos" lists every outcome (every communication and decision); "Erros" lists the
events whose latest outcome is an error that nothing has superseded since; "Pendentes" the
events not finished yet: a retry scheduled, held behind their order's earlier event,
parked behind their store's limit, or resent and not yet handled. Every query is limited to
the caller's tenant unless the token covers all tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.records import TERMINAL_OUTCOMES, EventType, Outcome

ERROR_OUTCOMES = ("DEAD_LETTERED", "INVALID")
PENDING_OUTCOMES = ("RETRY_SCHEDULED", "WAITING", "RESENT")
TABS = {"erros": ERROR_OUTCOMES, "pendentes": PENDING_OUTCOMES}  # by the latest outcome
_TERMINAL = ", ".join(sorted(f"'{o.value}'" for o in TERMINAL_OUTCOMES))
_CLOSING = f"{_TERMINAL}, '{Outcome.RESENT.value}'"
# whether the event's latest terminal-or-resend row is terminal: it then stays the latest
_SETTLED = f"argMaxIf(outcome, decided_at, outcome IN ({_CLOSING})) IN ({_TERMINAL})"


def latest(column: str) -> str:
    """SQL for an event's latest ``column`` (grouped by event), as ``latest_outcome`` has
    it: a terminal outcome stays the latest until a resend. A worker killed before an
    event's state was written replays the event; the attempts of that replay, whose own
    terminal outcome the sink drops as a repeat, do not reopen it."""
    return (
        f"if({_SETTLED}, argMaxIf({column}, decided_at, outcome IN ({_CLOSING})), "
        f"argMax({column}, decided_at))"
    )


MAX_PAGE_SIZE = 500
CSV_LIMIT = 100_000
COLUMNS = (
    "outcome_id, event_id, tenant, integration, platform, erp_order_id, platform_order_id, "
    "sequence, event_type, action, outcome, reason_code, attempt, http_status, latency_ms, "
    "error, occurred_at, decided_at, resend_of, source_topic, source_partition, source_offset, "
    "due_at"
)
LATEST = (
    "outcome_id", "integration", "platform", "erp_order_id", "platform_order_id", "sequence",
    "event_type", "action", "outcome", "reason_code", "attempt", "http_status", "latency_ms",
    "error", "resend_of", "due_at",
)  # fmt: skip


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class ReportFilters:
    tab: str = "todos"  # todos | erros | pendentes
    tenant: str | None = None  # from the token, never from the caller
    integration: str | None = None
    order: str | None = None
    event_type: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    page_size: int = 50

    @classmethod
    def parse(cls, query: dict[str, str], tenant: str | None) -> ReportFilters:
        def when(name: str) -> datetime | None:
            text = query.get(name)
            if not text:
                return None
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise FilterError(f"{name}: expected an ISO-8601 date-time, got {text!r}") from None

        def number(name: str, default: int, low: int, high: int) -> int:
            try:
                value = int(query.get(name, default))
            except ValueError:
                raise FilterError(f"{name}: expected an integer") from None
            return max(low, min(value, high))

        tab = query.get("tab", "todos")
        if tab != "todos" and tab not in TABS:
            raise FilterError("tab: expected todos, erros or pendentes")
        event_type = query.get("event_type") or None
        if event_type and event_type not in EventType.__members__:
            raise FilterError(f"event_type: unknown {event_type!r}")
        outcome = query.get("outcome") or None
        if outcome and outcome not in Outcome.__members__:
            raise FilterError(f"outcome: unknown {outcome!r}")
        return cls(
            tab=tab,
            tenant=tenant,
            integration=query.get("integration") or None,
            order=query.get("order") or None,
            event_type=event_type,
            outcome=outcome,
            since=when("since"),
            until=when("until"),
            page=number("page", 1, 1, 1_000_000),
            page_size=number("page_size", 50, 1, MAX_PAGE_SIZE),
        )

    def _where(self) -> tuple[str, dict[str, Any]]:
        clauses = ["1"]
        params: dict[str, Any] = {}
        for column, name in (
            ("tenant", "tenant"),
            ("integration", "integration"),
            ("event_type", "event_type"),
        ):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{column} = {{{name}:String}}")
                params[name] = value
        if self.order is not None:  # the platform's order id or the ERP's, by its start
            clauses.append(
                "(startsWith(platform_order_id, {order:String}) "
                "OR startsWith(erp_order_id, {order:String}))"
            )
            params["order"] = self.order
        if self.since is not None:
            clauses.append("decided_at >= {since:DateTime64(3)}")
            params["since"] = self.since
        if self.until is not None:
            clauses.append("decided_at < {until:DateTime64(3)}")
            params["until"] = self.until
        return " AND ".join(clauses), params

    def source(self) -> tuple[str, dict[str, Any]]:
        """A subquery of the rows this tab shows, with the filters applied."""
        where, params = self._where()
        if self.tab == "todos":
            if self.outcome is not None:
                where += " AND outcome = {outcome:String}"
                params["outcome"] = self.outcome
            return f"SELECT {COLUMNS} FROM status_send_history WHERE {where}", params
        latest_columns = ", ".join(f"{latest(c)} AS latest_{c}" for c in LATEST)
        outer = ", ".join(f"latest_{c} AS {c}" for c in LATEST)
        shown = TABS[self.tab]
        wanted = list(shown) if self.outcome is None else [self.outcome]
        params["wanted"] = [o for o in wanted if o in shown]
        sql = (
            f"SELECT event_id, event_tenant AS tenant, {outer}, first_occurred AS occurred_at, "
            f"last_decided AS decided_at "
            f"FROM (SELECT event_id, any(tenant) AS event_tenant, {latest_columns}, min(occurred_at) AS first_occurred, "
            f"max(decided_at) AS last_decided FROM status_send_history "
            f"WHERE {where} AND event_id != '' GROUP BY event_id) "
            f"WHERE outcome IN {{wanted:Array(String)}}"
        )
        return sql, params

    def page_query(self) -> tuple[str, dict[str, Any]]:
        source, params = self.source()
        offset = (self.page - 1) * self.page_size
        return (
            f"SELECT * FROM ({source}) ORDER BY decided_at DESC, event_id "
            f"LIMIT {self.page_size} OFFSET {offset}",
            params,
        )

    def count_query(self) -> tuple[str, dict[str, Any]]:
        source, params = self.source()
        return f"SELECT count() AS total FROM ({source})", params

    def by_integration_query(self) -> tuple[str, dict[str, Any]]:
        """How many rows this selection holds per integration (the Pendentes counts)."""
        source, params = self.source()
        return (
            f"SELECT integration, count() AS rows FROM ({source}) "
            f"GROUP BY integration ORDER BY rows DESC, integration LIMIT 1000",
            params,
        )

    def csv_query(self) -> tuple[str, dict[str, Any]]:
        source, params = self.source()
        return f"SELECT * FROM ({source}) ORDER BY decided_at DESC LIMIT {CSV_LIMIT}", params
