"""A credential value never reaches logs, outcomes, ClickHouse or the dead-letter topic."""

from __future__ import annotations

import pytest

from streams.local import LocalRun, http_json
from streams.settings import Settings
from tests.conftest import SANDBOX_SECRET
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one
from tests.integration.test_retries import dead_letters, fault

pytestmark = pytest.mark.integration


def test_secret_is_redacted_everywhere(settings: Settings, local_run: LocalRun) -> None:
    store = f"{local_run.sandbox_url}/stores/leaky/"
    apply(
        settings,
        local_run,
        config(integration_id="leaky", store_url=store, credentials_ref="SANDBOX_TOKEN"),
    )
    # a 400 whose body echoes the Authorization header: dead-lettered with the excerpt
    fault(local_run, "leaky", 400, count=1)
    failed = publish_one(settings, event_record(integration="leaky", order="X1"))
    sent = publish_one(settings, event_record(integration="leaky", order="X2"))
    local_run.wait_for_terminal([failed, sent], timeout_s=60)

    rows = local_run.api("/api/history?integration=leaky&page_size=100")["rows"]
    dead = next(r for r in rows if r["event_id"] == failed)
    assert dead["outcome"] == "DEAD_LETTERED" and "Bearer ***" in dead["error"]
    received = http_json(f"{local_run.sandbox_url}/_received?store=leaky")
    assert received and all(c["authorized"] for c in received)  # the secret was really used

    places = {"history rows": repr(rows)}
    for message in dead_letters(settings, 1):
        places["dead letter"] = repr(message.headers()) + repr(message.value())
    for process in local_run.processes:
        if process.name != "sandbox":
            places[f"{process.name} log"] = process.log_path.read_text(errors="replace")
    leaks = [where for where, text in places.items() if SANDBOX_SECRET in text]
    assert leaks == []
