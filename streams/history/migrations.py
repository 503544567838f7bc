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
    (
        2,
        # the latest outcome of every event: what the report's "Todos" tab summarises
        """
        CREATE VIEW IF NOT EXISTS latest_outcome AS
        SELECT event_id,
               latest.1 AS outcome_id,
               latest.2 AS tenant,
               latest.3 AS integration,
               latest.4 AS platform,
               latest.5 AS erp_order_id,
               latest.6 AS platform_order_id,
               latest.7 AS sequence,
               latest.8 AS event_type,
               latest.9 AS action,
               latest.10 AS outcome,
               latest.11 AS reason_code,
               latest.12 AS attempt,
               latest.13 AS http_status,
               latest.14 AS latency_ms,
               latest.15 AS error,
               first_occurred_at AS occurred_at,
               last_decided_at AS decided_at
        FROM (
            SELECT event_id,
                   argMax(tuple(outcome_id, tenant, integration, platform, erp_order_id, platform_order_id, sequence, event_type, action, outcome, reason_code, attempt, http_status, latency_ms, error), decided_at) AS latest,
                   min(occurred_at) AS first_occurred_at,
                   max(decided_at) AS last_decided_at
            FROM status_send_history
            WHERE event_id != ''
            GROUP BY event_id
        )
        """,
    ),
    (
        3,
        # open errors: the latest outcome failed and nothing was sent since ("Erros" tab)
        """
        CREATE VIEW IF NOT EXISTS open_errors AS
        SELECT * FROM latest_outcome WHERE outcome IN ('DEAD_LETTERED', 'INVALID')
        """,
    ),
    (
        4,
        # one order's timeline, every attempt in order (the order's context-menu entry)
        """
        CREATE VIEW IF NOT EXISTS order_timeline AS
        SELECT * FROM status_send_history
        WHERE tenant = {tenant:String} AND integration = {integration:String}
          AND platform_order_id = {order:String}
        ORDER BY decided_at, sequence
        """,
    ),
    (
        5,
        """
        CREATE TABLE IF NOT EXISTS daily_outcomes (
            day Date,
            tenant LowCardinality(String),
            integration LowCardinality(String),
            platform LowCardinality(String),
            outcome LowCardinality(String),
            reason_code LowCardinality(String),
            outcomes UInt64,
            latency_ms_sum Float64,
            latency_ms_count UInt64
        )
        ENGINE = SummingMergeTree
        PARTITION BY toYYYYMM(day)
        ORDER BY (tenant, integration, day, platform, outcome, reason_code)
        """,
    ),
    (
        7,
        # the sink looks up terminal outcome ids before writing (exactly one per event)
        """
        ALTER TABLE status_send_history
        ADD INDEX IF NOT EXISTS outcome_id_bloom outcome_id TYPE bloom_filter GRANULARITY 4
        """,
    ),
    (
        6,
        # daily aggregates for BI, kept up to date on every insert
        """
        CREATE MATERIALIZED VIEW IF NOT EXISTS daily_outcomes_mv TO daily_outcomes AS
        SELECT toDate(decided_at) AS day, tenant, integration, platform, outcome, reason_code,
               count() AS outcomes,
               sum(ifNull(latency_ms, 0)) AS latency_ms_sum,
               countIf(latency_ms IS NOT NULL) AS latency_ms_count
        FROM status_send_history
        GROUP BY day, tenant, integration, platform, outcome, reason_code
        """,
    ),
    (
        8,
        # FAILED was never written; the open errors of histories created before say so
        """
        CREATE OR REPLACE VIEW open_errors AS
        SELECT * FROM latest_outcome WHERE outcome IN ('DEAD_LETTERED', 'INVALID')
        """,
    ),
    (
        9,
        # when a scheduled attempt is due (RETRY_SCHEDULED, a parked WAITING): "Pendentes"
        """
        ALTER TABLE status_send_history
        ADD COLUMN IF NOT EXISTS due_at Nullable(DateTime64(3, 'UTC'))
        """,
    ),
    (
        10,
        # a terminal outcome stays the event's latest until a resend: a worker killed before
        # an event's state was written replays it, and the attempts of the replay (whose
        # terminal outcome the sink drops as a repeat) must not reopen a finished event;
        # the latest outcome carries its due time
        """
        CREATE OR REPLACE VIEW latest_outcome AS
        SELECT event_id,
               latest.1 AS outcome_id,
               latest.2 AS tenant,
               latest.3 AS integration,
               latest.4 AS platform,
               latest.5 AS erp_order_id,
               latest.6 AS platform_order_id,
               latest.7 AS sequence,
               latest.8 AS event_type,
               latest.9 AS action,
               latest.10 AS outcome,
               latest.11 AS reason_code,
               latest.12 AS attempt,
               latest.13 AS http_status,
               latest.14 AS latency_ms,
               latest.15 AS error,
               latest.16 AS due_at,
               first_occurred_at AS occurred_at,
               last_decided_at AS decided_at
        FROM (
            SELECT event_id,
                   if(argMaxIf(outcome, decided_at, outcome IN ('SENT', 'SKIPPED', 'SUPERSEDED', 'DEAD_LETTERED', 'INVALID', 'RESENT'))
                        IN ('SENT', 'SKIPPED', 'SUPERSEDED', 'DEAD_LETTERED', 'INVALID'),
                      argMaxIf(tuple(outcome_id, tenant, integration, platform, erp_order_id, platform_order_id, sequence, event_type, action, outcome, reason_code, attempt, http_status, latency_ms, error, due_at), decided_at,
                               outcome IN ('SENT', 'SKIPPED', 'SUPERSEDED', 'DEAD_LETTERED', 'INVALID', 'RESENT')),
                      argMax(tuple(outcome_id, tenant, integration, platform, erp_order_id, platform_order_id, sequence, event_type, action, outcome, reason_code, attempt, http_status, latency_ms, error, due_at), decided_at)
                   ) AS latest,
                   min(occurred_at) AS first_occurred_at,
                   max(decided_at) AS last_decided_at
            FROM status_send_history
            WHERE event_id != ''
            GROUP BY event_id
        )
        """,
    ),
]


SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""
