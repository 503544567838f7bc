"""Operators resend errors: an unknown-integration event is delivered once its config exists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streams.local import LocalRun, http_json
from streams.local.stack.process import wait_until
from streams.records import EventType
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one

pytestmark = pytest.mark.integration


def cli(run: LocalRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.ops.cli", *args],
        capture_output=True, text=True, env=run.env, timeout=120,
    )  # fmt: skip


def test_unknown_integration_is_kept_in_errors_and_delivered_after_resend(
    settings: Settings, local_run: LocalRun
) -> None:
    first = publish_one(
        settings, event_record(EventType.INVOICE_AUTHORIZED, integration="nova", order="N1")
    )
    second = publish_one(settings, event_record(EventType.CANCELED, integration="nova", order="N2"))
    latest = local_run.wait_for_terminal([first, second], timeout_s=60)["events"]
    assert {latest[i]["reason_code"] for i in (first, second)} == {"UNKNOWN_INTEGRATION"}
    assert {latest[i]["outcome"] for i in (first, second)} == {"DEAD_LETTERED"}

    # a dry run selects the open errors and changes nothing
    dry = local_run.api("/api/resend", {"integration": "nova", "dry_run": True})
    assert dry["dry_run"] and sorted(dry["event_ids"]) == sorted([first, second])

    store = f"{local_run.sandbox_url}/stores/nova/"
    apply(settings, local_run, config(integration_id="nova", store_url=store))
    listing = cli(local_run, "integrations", "list")
    assert listing.returncode == 0 and "nova" in listing.stdout, listing.stderr

    result = cli(local_run, "resend", "--integration", "nova")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resent 2 of 2" in result.stdout
    # a second click before the first resend's outcome is in sends nothing twice
    repeat = local_run.api("/api/resend", {"integration": "nova"})
    assert repeat["resent"] == 0

    def sent() -> bool:
        rows = local_run.api("/api/lookup", {"event_ids": [first, second]})["events"]
        return all(rows[i]["outcome"] == "SENT" for i in (first, second))

    wait_until(sent, 60, "the resent events to be SENT")
    timeline = local_run.api("/api/orders/acme/nova/N1")
    assert [r["outcome"] for r in timeline] == ["DEAD_LETTERED", "RESENT", "SENT"]
    dead, resent, delivered = timeline
    assert resent["resend_of"] == dead["outcome_id"]
    assert delivered["resend_of"] == resent["outcome_id"]
    received = http_json(f"{local_run.sandbox_url}/_received?store=nova")
    assert sorted(c["event_id"] for c in received) == sorted([first, second])

    # nothing is left to resend: the errors are closed
    again = local_run.api("/api/resend", {"integration": "nova", "dry_run": True})
    assert again["selected"] == 0


def test_resend_never_crosses_tenants(settings: Settings, local_run: LocalRun) -> None:
    event_id = publish_one(settings, event_record(integration="ghost", order="G1", tenant="acme"))
    local_run.wait_for_terminal([event_id], timeout_s=60)
    other = local_run.api(
        "/api/resend",
        {"event_ids": [event_id], "tenant": "other", "dry_run": True},
    )
    assert other["selected"] == 0
    mine = local_run.api(
        "/api/resend",
        {"event_ids": [event_id], "tenant": "acme", "dry_run": True},
    )
    assert mine["selected"] == 1


def test_every_selected_error_is_resent_or_named(settings: Settings, local_run: LocalRun) -> None:
    """Errors across every partition, the first record of each (offset 0) among them,
    resent by their ids twenty times over: each time every one is resent, and an id the
    caller has no error for is named, not silently dropped."""
    records = [
        event_record(EventType.INVOICE_AUTHORIZED, integration="sumida", order=f"M{n}")
        for n in range(48)  # several orders per partition
    ]
    ids = [publish_one(settings, r) for r in records]
    local_run.wait_for_terminal(ids, timeout_s=60)
    sources = local_run.api("/api/history?tab=todos&integration=sumida&page_size=500")["rows"]
    firsts = {r["source_partition"] for r in sources if r["source_offset"] == 0}
    assert firsts == set(range(settings.partitions))  # the first record of every partition

    def dead_again(after: int) -> bool:
        timeline = local_run.api("/api/history?tab=todos&integration=sumida&page_size=500")
        return timeline["total"] >= after

    rows = len(ids)
    for round_ in range(20):
        report = local_run.api("/api/resend", {"event_ids": [*ids, "no-such-event"]})
        assert report["resent"] == len(ids), (round_, report)
        assert report["missing"] == [] and report["pending"] == [], (round_, report)
        assert report["not_found"] == ["no-such-event"]
        # each resend adds a RESENT and, the integration still unknown, a new error
        rows += 2 * len(ids)
        wait_until(lambda n=rows: dead_again(n), 60, f"round {round_}'s errors")
        errors = local_run.api("/api/history?tab=erros&integration=sumida&page_size=500")
        assert errors["total"] == len(ids)
