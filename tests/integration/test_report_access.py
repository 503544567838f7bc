"""The report's API: tokens, roles and tenants, through the real history process."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from streams.local import LocalRun, http_json
from streams.settings import Settings
from tests.conftest import OPERATOR_TOKEN, OTHER_TENANT_TOKEN, VIEWER_TOKEN
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one
from tests.integration.test_retries import fault

pytestmark = pytest.mark.integration


def call(run: LocalRun, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    try:
        return 200, http_json(f"{run.history_url}{path}", body, token=token)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_tokens_roles_and_tenants(settings: Settings, local_run: LocalRun) -> None:
    apply(
        settings,
        local_run,
        config(integration_id="acme-shop", store_url=f"{local_run.sandbox_url}/stores/acme-shop/"),
    )
    fault(local_run, "acme-shop", 400, count=-1)
    acme = [
        publish_one(settings, event_record(integration="acme-shop", order=f"A{i}"))
        for i in range(2)
    ]
    globex = publish_one(
        settings, event_record(integration="globex-shop", tenant="globex", order="G1")
    )
    local_run.wait_for_terminal([*acme, globex], timeout_s=60)

    assert call(local_run, "/api/history", None)[0] == 401
    assert call(local_run, "/api/history", "not-a-known-token-at-all")[0] == 401

    status, page = call(local_run, "/api/history?tab=erros", VIEWER_TOKEN)
    assert status == 200
    assert {r["event_id"] for r in page["rows"]} == set(acme)  # globex's error is not visible
    assert {r["tenant"] for r in page["rows"]} == {"acme"}

    status, page = call(local_run, "/api/history?tab=erros", OTHER_TENANT_TOKEN)
    assert {r["event_id"] for r in page["rows"]} == {globex}
    assert call(local_run, "/api/orders/acme/acme-shop/A0", OTHER_TENANT_TOKEN)[0] == 404
    lookup = call(local_run, "/api/lookup", OTHER_TENANT_TOKEN, {"event_ids": acme})[1]
    assert lookup["events"] == {}

    # a viewer cannot resend; another tenant's operator resends nothing of acme's
    assert call(local_run, "/api/resend", VIEWER_TOKEN, {"event_ids": acme})[0] == 403
    other = call(
        local_run, "/api/resend", OTHER_TENANT_TOKEN, {"event_ids": acme, "tenant": "acme"}
    )[1]
    assert other["selected"] == 0
    mine = call(local_run, "/api/resend", OPERATOR_TOKEN, {"event_ids": acme, "dry_run": True})[1]
    assert mine["selected"] == 2

    # the health tab: each token's own integrations; a tenant parameter widens nothing
    assert call(local_run, "/api/integration-health", None)[0] == 401
    status, health = call(local_run, "/api/integration-health?tenant=globex", VIEWER_TOKEN)
    assert status == 200
    assert [(h["integration"], h["open_errors"]) for h in health["integrations"]] == [
        ("acme-shop", 2)
    ]
    health = call(local_run, "/api/integration-health", OTHER_TENANT_TOKEN)[1]
    assert [h["integration"] for h in health["integrations"]] == ["globex-shop"]

    csv_status, _ = call(local_run, "/api/history?tab=todos&page_size=1&page=2", VIEWER_TOKEN)
    assert csv_status == 200


def test_the_workers_api_needs_a_token_and_shows_only_the_tokens_tenant(
    settings: Settings, local_run: LocalRun
) -> None:
    apply(
        settings,
        local_run,
        config(integration_id="acme-shop", store_url=f"{local_run.sandbox_url}/stores/a/"),
        config(
            integration_id="globex-shop",
            tenant="globex",
            store_url=f"{local_run.sandbox_url}/stores/g/",
        ),
    )

    def worker(path: str, token: str | None) -> tuple[int, Any]:
        try:
            return 200, http_json(f"{local_run.worker_url}{path}", token=token)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert worker("/api/integrations", None)[0] == 401
    assert worker("/api/integrations", "not-a-known-token-at-all")[0] == 401
    status, listed = worker("/api/integrations", VIEWER_TOKEN)
    assert status == 200 and [c["integration_id"] for c in listed] == ["acme-shop"]
    assert [c["integration_id"] for c in worker("/api/integrations", OTHER_TENANT_TOKEN)[1]] == [
        "globex-shop"
    ]
    assert worker("/health", None)[0] == 200
    metrics = urllib.request.urlopen(f"{local_run.worker_url}/metrics", timeout=5)
    assert metrics.status == 200
