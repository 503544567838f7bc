"""A worker stopped with SIGTERM, as a deploy stops it, mid-stream: nothing is sent twice.

A graceful stop finishes the sends in flight, writes their outcomes and orders' states,
commits, then exits; the events it had read ahead but not begun sending (here, thousands
waiting for metered stores) are left to be read again, so the stop takes seconds, not the
minutes the backlog would. The worker started after it resumes where it stopped.
"""

from __future__ import annotations

import signal
import time

import pytest

from streams.local import LocalRun, http_json
from streams.local.stack.process import wait_until
from streams.ops.publish import publish_records
from streams.records import EventType
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply

pytestmark = pytest.mark.integration


def test_sigterm_mid_stream_repeats_no_delivery(settings: Settings, local_run: LocalRun) -> None:
    stores = [f"g{i}" for i in range(4)]
    for store in stores:
        apply(
            settings,
            local_run,
            config(integration_id=store, store_url=f"{local_run.sandbox_url}/stores/{store}/"),
        )
    # metered stores answering in about 100 ms: a backlog waits in the worker, sends are
    # in flight, when the stop comes (4 stores x 40 calls/s: 3,000 events take ~19 s)
    http_json(
        f"{local_run.sandbox_url}/_model",
        {
            "store": "*",
            "latency": {"median_ms": 100, "p99_ms": 200},
            "bucket": {"capacity": 5, "drain_per_s": 40},
        },
    )
    records = [
        event_record(EventType.INVOICE_AUTHORIZED, integration=stores[n % 4], order=f"G{n}")
        for n in range(3000)
    ]
    report = publish_records(settings, records)
    wait_until(lambda: local_run.sandbox_received() >= 300, 60, "deliveries under way", 0.02)

    worker = local_run.worker
    assert worker.proc is not None
    stopping = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code = worker.proc.wait(60)
    stop_took = time.monotonic() - stopping
    delivered_at_stop = local_run.sandbox_received()
    assert delivered_at_stop < len(records), "the stop came after the stream had ended"
    worker.start()

    result = local_run.wait_for_terminal(report.event_ids, timeout_s=180)
    assert result["terminal"] == len(records)
    stats = http_json(f"{local_run.sandbox_url}/_stats")
    not_sent = {e: r for e, r in result["events"].items() if r["outcome"] != "SENT"}
    assert stats["received"] == len(records), (stats, not_sent)
    assert stats["duplicates"] == 0, http_json(f"{local_run.sandbox_url}/_duplicates")
    assert code == 0, f"the worker exited with {code} on SIGTERM"
    assert stop_took < 15, f"the stop took {stop_took:.1f}s with a backlog waiting"
    # a stop cancels what waits, never the records on their way to the broker
    assert "InvalidStateError" not in worker.log_path.read_text(errors="replace")
