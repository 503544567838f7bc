"""The report page in headless Chromium: open "Erros", select two rows, "Reenviar selecionados"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.settings import Settings
from tests.conftest import OPERATOR_TOKEN
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one
from tests.integration.test_retries import fault

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parent.parent.parent


def dead_lettered(settings: Settings, run: LocalRun, store: str, orders: list[str]) -> list[str]:
    """One event per order on a store that refuses them (400): their ids, dead-lettered."""
    apply(
        settings, run, config(integration_id=store, store_url=f"{run.sandbox_url}/stores/{store}/")
    )
    fault(run, store, 400, count=len(orders))
    ids = [publish_one(settings, event_record(integration=store, order=o)) for o in orders]
    run.wait_for_terminal(ids, timeout_s=60)
    return ids


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)
def test_resend_selected_from_the_errors_tab(settings: Settings, local_run: LocalRun) -> None:
    from playwright.sync_api import expect, sync_playwright

    ids = dead_lettered(settings, local_run, "loja-web", [f"W{i}" for i in range(3)])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page()
        page.goto(f"{local_run.history_url}/#token={OPERATOR_TOKEN}")
        expect(page.get_by_role("heading", name="Histórico de Envio de Situação")).to_be_visible()
        page.get_by_role("tab", name="Erros").click()
        expect(page.locator("#rows")).to_have_attribute("aria-busy", "false")
        rows = page.locator("#rows tr[data-event-id]")
        expect(rows).to_have_count(3)
        chosen = ids[:2]
        for event_id in chosen:
            page.get_by_label(event_id).check()
        page.get_by_label("Ações").select_option("resend")
        page.get_by_role("button", name="Aplicar").click()
        expect(page.locator("#notice")).to_have_text("2 evento(s) reenviado(s).")

        def sent() -> bool:
            latest = local_run.api("/api/lookup", {"event_ids": chosen})["events"]
            return all(latest[i]["outcome"] == "SENT" for i in chosen)

        wait_until(sent, 60, "the two resent events to be SENT")
        page.get_by_role("tab", name="Todos").click()
        page.get_by_role("tab", name="Erros").click()
        expect(rows).to_have_count(1)
        expect(page.locator(f'#rows tr[data-event-id="{ids[2]}"]')).to_have_count(1)
        page.screenshot(path=str(ROOT / "var" / "report-erros.png"), full_page=True)

        # the per-order view shows every attempt of the order, in order
        page.get_by_role("tab", name="Todos").click()
        page.locator("a.order", has_text="W0").first.click()
        timeline = page.locator("#tl-rows tr")
        expect(timeline).to_have_count(3)
        expect(timeline.nth(0)).to_contain_text("DEAD_LETTERED")
        expect(timeline.nth(1)).to_contain_text("RESENT")
        expect(timeline.nth(2)).to_contain_text("SENT")
        browser.close()


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)
def test_a_late_answer_does_not_redraw_the_rows_being_ticked(
    settings: Settings, local_run: LocalRun
) -> None:
    """The page's first load ("Todos") answers after the operator has opened "Erros" and
    ticked a row: the late answer must not replace that view (it did, now and then, and the
    resend went out for fewer rows than were ticked)."""
    from playwright.sync_api import Route, expect, sync_playwright

    ids = dead_lettered(settings, local_run, "loja-late", ["L0", "L1"])
    sent = publish_one(settings, event_record(integration="loja-late", order="L2"))
    local_run.wait_for_terminal([sent], timeout_s=60)  # "Todos" has 3 rows, "Erros" 2

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        held: list[Route] = []

        def hold_the_first_all_tab(route: Route) -> None:
            if "tab=todos" in route.request.url and not held:
                held.append(route)
                return
            route.continue_()

        page.route("**/api/history?*", hold_the_first_all_tab)
        page.goto(f"{local_run.history_url}/#token={OPERATOR_TOKEN}")
        page.get_by_role("tab", name="Erros").click()
        rows = page.locator("#rows tr[data-event-id]")
        expect(rows).to_have_count(2)
        expect(page.locator("body")).to_have_attribute("data-settled", "1")
        page.get_by_label(ids[0]).check()
        assert held, "the first load was not held back"
        held[0].continue_()
        expect(page.locator("body")).to_have_attribute("data-settled", "2")  # it has arrived
        expect(rows).to_have_count(2)
        expect(page.get_by_label(ids[0])).to_be_checked()
        browser.close()
