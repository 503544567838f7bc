"""A worker stopped with SIGTERM, as a deploy stops it, mid-stream: nothing is sent twice.

A graceful stop finishes the sends in flight, writes their outcomes and orders' states,
commits, then exits; the worker started after it resumes where it stopped.
"""

from __future__ import annotations

import signal

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
        # each call takes a while, so sends are in flight when the stop comes
        http_json(
            f"{local_run.sandbox_url}/_faults",
            {"store": store, "status": 0, "count": -1, "delay_ms": 100},
        )
    records = [
        event_record(EventType.INVOICE_AUTHORIZED, integration=stores[n % 4], order=f"G{n}")
        for n in range(600)
    ]
    report = publish_records(settings, records)
    wait_until(lambda: local_run.sandbox_received() >= 60, 60, "deliveries under way", 0.02)

    worker = local_run.worker
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    code = worker.proc.wait(60)
    delivered_at_stop = local_run.sandbox_received()
    assert delivered_at_stop < len(records), "the stop came after the stream had ended"
    worker.start()

    result = local_run.wait_for_terminal(report.event_ids, timeout_s=120)
    assert result["terminal"] == len(records)
    stats = http_json(f"{local_run.sandbox_url}/_stats")
    assert stats["received"] == len(records)
    assert stats["duplicates"] == 0, http_json(f"{local_run.sandbox_url}/_duplicates")
    assert code == 0, f"the worker exited with {code} on SIGTERM"
