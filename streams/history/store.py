"""ClickHouse access through clickhouse-connect: chDB by default, a server by DSN.

The client is synchronous (chDB offers nothing else), so async callers run it in a
thread; see ``HistorySink``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import clickhouse_connect

from streams.history.migrations import MIGRATIONS, SCHEMA_TABLE
from streams.records import DispatchOutcome

COLUMNS = (
    "outcome_id", "event_id", "tenant", "integration", "platform", "erp_order_id",
    "platform_order_id", "sequence", "event_type", "action", "outcome", "reason_code",
    "attempt", "http_status", "latency_ms", "error", "occurred_at", "decided_at",
    "resend_of", "source_topic", "source_partition", "source_offset", "due_at",
)  # fmt: skip


_ROW = attrgetter(*COLUMNS)  # a row's values in one call, not one getattr per column
_OUTCOME = COLUMNS.index("outcome")


class HistoryStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        if dsn.startswith("chdb://"):
            self.client = clickhouse_connect.get_client(dsn=dsn)
        else:
            self.client = clickhouse_connect.get_client(dsn=dsn)
        # chDB sessions are not documented as thread-safe; one statement at a time.
        self._lock = threading.Lock()

    def migrate(self) -> list[int]:
        with self._lock:
            self.client.command(SCHEMA_TABLE)
            applied = {
                row[0]
                for row in self.client.query("SELECT version FROM schema_migrations").result_rows
            }
            done = []
            for version, ddl in MIGRATIONS:
                if version in applied:
                    continue
                self.client.command(ddl)
                self.client.insert("schema_migrations", [[version]], column_names=["version"])
                done.append(version)
            return done

    def insert_outcomes(
        self, outcomes: Sequence[DispatchOutcome], dedup_token: str | None = None
    ) -> None:
        if not outcomes:
            return
        rows = []
        for outcome in outcomes:
            row = list(_ROW(outcome))
            row[_OUTCOME] = outcome.outcome.value
            rows.append(row)
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        with self._lock:
            self.client.insert(
                "status_send_history", rows, column_names=list(COLUMNS), settings=settings
            )

    def existing_outcome_ids(self, terminals: Sequence[DispatchOutcome]) -> set[str]:
        """The ids of ``terminals`` the history holds already.

        Looked up within the outcomes' orders: the table is sorted by order, so the lookup
        reads only their granules, not every outcome id ever written (which grew with the
        table, on every batch).
        """
        if not terminals:
            return set()
        orders = sorted({(o.tenant, o.integration, o.platform_order_id) for o in terminals})
        with self._lock:
            result = self.client.query(
                "SELECT DISTINCT toString(outcome_id) FROM status_send_history "
                "WHERE (tenant, integration, platform_order_id) IN {orders:Array(Tuple(String, String, String))} "
                "AND outcome_id IN {ids:Array(UUID)}",
                # UUIDs, not text: the client escapes text a character at a time
                parameters={"orders": orders, "ids": [uuid.UUID(o.outcome_id) for o in terminals]},
            )
        return {row[0] for row in result.result_rows}

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = self.client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def close(self) -> None:
        self.client.close()
