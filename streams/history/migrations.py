"""Versioned, idempotent DDL for the history; identical on chDB and on a server."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS status_send_history (
            outcome_id UUID,
            event_id String,
            tenant LowCardinality(String),
            integration LowCardinality(String),
            platform LowCardinality(String),
            erp_order_id String,
            platform_order_id String,
            sequence Int64,
            event_type LowCardinality(String),
            action LowCardinality(String),
            outcome LowCardinality(String),
            reason_code LowCardinality(String),
            attempt UInt16,
            http_status Nullable(UInt16),
            latency_ms Nullable(Float64),
            error Nullable(String),
            occurred_at DateTime64(3, 'UTC'),
            decided_at DateTime64(3, 'UTC'),
            resend_of Nullable(String),
            source_topic LowCardinality(String),
            source_partition Int32,
            source_offset Int64,
            written_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        ENGINE = MergeTree
        PARTITION BY toYYYYMM(decided_at)
        ORDER BY (tenant, integration, platform_order_id, decided_at, outcome_id)
        SETTINGS non_replicated_deduplication_window = 10000
        """,
    ),
]


SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""
