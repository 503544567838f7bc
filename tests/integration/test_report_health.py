"""The report's "Saúde" (Health) tab in headless Chromium, in both languages: the unhealthy
integration first, a count opening Erros or Pendentes filtered to it, what the workers say
now (a store paused by its platform); screenshots under var/ (report-saude-*.png)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.settings import Settings
from tests.conftest import OPERATOR_TOKEN, VIEWER_TOKEN
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one
from tests.integration.test_report_page import (
    CHROMIUM,
    Loads,
    dead_lettered,
    launch,
    shot,
    waiting_for_retry,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
    ),
]


def healthy_and_refused(settings: Settings, run: LocalRun) -> None:
    """loja-ok delivers its event; loja-bad's two are refused (400) and dead-lettered."""
    apply(
        settings,
        run,
        config(integration_id="loja-ok", store_url=f"{run.sandbox_url}/stores/loja-ok/"),
    )
    # the ERP's event now: the time to the platform is the send's, not the factory's date's
    now = datetime.now(UTC)
    sent = publish_one(settings, event_record(integration="loja-ok", order="OK1", occurred_at=now))
    run.wait_for_terminal([sent], timeout_s=60)
    dead_lettered(settings, run, "loja-bad", ["B1", "B2"])


def test_the_health_tab_in_portuguese_opens_the_errors_of_the_unhealthy(
    settings: Settings, local_run: LocalRun
) -> None:
    from playwright.sync_api import expect, sync_playwright

    healthy_and_refused(settings, local_run)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(
            locale="pt-BR", timezone_id="America/Sao_Paulo", viewport={"width": 1366, "height": 768}
        )
        loads = Loads(context)
        page = context.new_page()
        page.goto(f"{local_run.history_url}/#token={OPERATOR_TOKEN}")
        page.get_by_role("tab", name="Saúde").click()
        rows = page.locator("#health-rows tr[data-integration]")
        expect(rows).to_have_count(2)
        loads.none_failed("the Saúde tab")
        # the unhealthy first, saying what is wrong, in Portuguese
        first, second = rows.nth(0), rows.nth(1)
        expect(first).to_have_attribute("data-integration", "loja-bad")
        expect(first.locator("td.state")).to_have_text("erros em aberto, sucesso abaixo de 90%")
        expect(first.locator("td").nth(4)).to_have_text("2")  # Erros
        expect(first.locator("td").nth(5)).to_have_text("0%")
        expect(first.locator("td").nth(10)).to_have_text("nunca")
        expect(second).to_have_attribute("data-integration", "loja-ok")
        expect(second.locator("td.state")).to_have_text("Saudável")
        expect(second.locator("td").nth(5)).to_have_text("100%")
        expect(second.locator("td").nth(6)).to_have_text(re.compile(r"^\d+(,\d)? s$"))  # p50
        expect(page.locator("#health thead")).to_contain_text("Último sucesso")
        expect(page.locator("#events")).to_be_hidden()
        shot(page, "saude-pt")
        # its open errors open Erros filtered to it
        first.locator("a.to-erros").click()
        expect(page.get_by_role("tab", name="Erros")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_label("Integração")).to_have_value("loja-bad")
        events = page.locator("#rows tr[data-event-id]")
        expect(events).to_have_count(2)
        for i in range(2):
            expect(events.nth(i).locator("td").nth(2)).to_have_text("loja-bad")
        loads.none_failed("the open errors' link")
        # the alerts' links open the report on a tab, filtered
        page.goto(f"{local_run.history_url}/?tab=saude&integration=loja-ok")
        expect(page.get_by_role("tab", name="Saúde")).to_have_attribute("aria-selected", "true")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-integration", "loja-ok")
        loads.none_failed("the alerts' link")
        browser.close()


def test_the_health_tab_in_english_shows_a_paused_store_and_opens_its_pending(
    settings: Settings, local_run: LocalRun
) -> None:
    from playwright.sync_api import expect, sync_playwright

    healthy_and_refused(settings, local_run)
    # loja-wait: its platform said 429, come back in 30 s; its event waits for a retry
    waiting_for_retry(settings, local_run)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(
            locale="en-GB", timezone_id="America/Sao_Paulo", viewport={"width": 1366, "height": 768}
        )
        loads = Loads(context)
        page = context.new_page()
        page.goto(f"{local_run.history_url}/#token={VIEWER_TOKEN}")
        page.get_by_label("Idioma / Language").select_option("en")
        page.get_by_role("tab", name="Health").click()
        row = page.locator('#health-rows tr[data-integration="loja-wait"]')

        def paused_shown() -> bool:
            # what the workers say now reaches the history every 5 s: look again until it has
            page.get_by_role("tab", name="Health").click()
            expect(page.locator("#health-rows")).to_have_attribute("aria-busy", "false")
            text: Any = row.locator("td.state").text_content(timeout=5000)
            return "paused by the platform" in (text or "")

        wait_until(paused_shown, 20, "the pause reported by the worker", interval_s=1.0)
        expect(row.locator("td").nth(14)).to_have_text(
            re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
        )
        first = page.locator("#health-rows tr[data-integration]").first
        expect(first).to_have_attribute("data-integration", "loja-bad")
        expect(first.locator("td.state")).to_have_text("open errors, success below 90%")
        expect(page.locator("#health thead")).to_contain_text("Last success")
        expect(page.locator("#health thead")).to_contain_text("Circuit open")
        shot(page, "saude-en")
        loads.none_failed("the Health tab")
        row.locator("a.to-pendentes").click()
        expect(page.get_by_role("tab", name="Pending")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_label("Integration")).to_have_value("loja-wait")
        events = page.locator("#rows tr[data-event-id]")
        expect(events).to_have_count(1)
        expect(events.first).to_contain_text("Retry scheduled")
        loads.none_failed("the pending events' link")
        browser.close()
