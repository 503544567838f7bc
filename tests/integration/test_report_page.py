"""The report page in headless Chromium, walked by its visible labels in both languages;
screenshots under var/ (report-*.png) for a person to look at."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.settings import Settings
from tests.conftest import OPERATOR_TOKEN, VIEWER_TOKEN
from tests.factories import AT, config, event_record
from tests.integration.test_end_to_end import apply, publish_one
from tests.integration.test_retries import fault

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parent.parent.parent
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DATE_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
ERP_LOCAL_TIME = AT.astimezone(SAO_PAULO).strftime("%d/%m/%Y %H:%M:%S")  # 27/11/2026 09:00:00


def dead_lettered(settings: Settings, run: LocalRun, store: str, orders: list[str]) -> list[str]:
    """One event per order on a store that refuses them (400): their ids, dead-lettered."""
    apply(
        settings, run, config(integration_id=store, store_url=f"{run.sandbox_url}/stores/{store}/")
    )
    fault(run, store, 400, count=len(orders))
    ids = [publish_one(settings, event_record(integration=store, order=o)) for o in orders]
    run.wait_for_terminal(ids, timeout_s=60)
    return ids


def waiting_for_retry(settings: Settings, run: LocalRun) -> str:
    """The id of one event of store ``loja-wait`` waiting for its 2nd attempt: the store
    answered 429, come back in 30 s."""
    apply(
        settings,
        run,
        config(integration_id="loja-wait", store_url=f"{run.sandbox_url}/stores/loja-wait/"),
    )
    fault(run, "loja-wait", 429, count=1, retry_after_s=30)
    waiting = publish_one(settings, event_record(integration="loja-wait", order="P0"))

    def scheduled() -> bool:
        latest = run.api("/api/lookup", {"event_ids": [waiting]})["events"]
        return latest.get(waiting, {}).get("outcome") == "RETRY_SCHEDULED"

    wait_until(scheduled, 30, "the retry to be scheduled")
    return waiting


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    )


def shot(page: Any, name: str) -> None:
    """A screenshot under var/ for a person to look at."""
    (ROOT / "var").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "var" / f"report-{name}.png"), full_page=True)


class Loads:
    """Whatever failed in a browser context's pages since it was opened: a resource answered
    with an HTTP error, a request that got no answer, one the page's own policy refused (the
    browser says so on the console), a script that threw. Checked after every step of a
    walk (``none_failed``): each step loads something of its own."""

    def __init__(self, context: Any) -> None:
        self.failed: list[str] = []
        context.on("response", self._answered)
        context.on("requestfailed", self._unanswered)
        context.on("console", self._said)
        context.on("weberror", lambda error: self.failed.append(f"script error: {error.error}"))

    def _said(self, message: Any) -> None:
        if message.type == "error":
            self.failed.append(f"console: {message.text}")

    def _answered(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def _unanswered(self, request: Any) -> None:
        self.failed.append(f"{request.failure} {request.method} {request.url}")

    def none_failed(self, step: str) -> None:
        assert self.failed == [], f"after {step}: {self.failed}"


def local_input(moment: datetime) -> str:
    """A ``datetime-local`` field's value for ``moment`` as São Paulo reads it."""
    return moment.astimezone(SAO_PAULO).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)
def test_an_operator_walks_the_report_in_portuguese(
    settings: Settings, local_run: LocalRun
) -> None:
    """Login, the period filter, Pendentes, Erros → Ações → Reenviar selecionados, the
    order's timeline, the CSV and the per-order URL, by their visible labels, in a pt-BR
    browser in America/Sao_Paulo."""
    from playwright.sync_api import expect, sync_playwright

    ids = dead_lettered(settings, local_run, "loja-web", [f"W{i}" for i in range(3)])
    waiting = waiting_for_retry(settings, local_run)

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(
            locale="pt-BR",
            timezone_id="America/Sao_Paulo",
            viewport={"width": 1366, "height": 768},
            accept_downloads=True,
        )
        loads = Loads(context)  # nothing any step loads may be missing
        page = context.new_page()
        page.goto(local_run.history_url)
        page.get_by_label("token").fill(OPERATOR_TOKEN)
        page.get_by_role("button", name="Entrar").click()
        expect(page.get_by_role("heading", name="Histórico de Envio de Situação")).to_be_visible()
        rows = page.locator("#rows tr[data-event-id]")
        expect(page.locator("#rows")).to_have_attribute("aria-busy", "false")
        expect(rows.first).to_be_visible()
        # pt-BR words, local times dd/mm/aaaa HH:mm:ss
        table = page.locator("#rows")
        expect(table).to_contain_text("Com erro")
        expect(table).to_contain_text("NF-e autorizada")
        expect(table).not_to_contain_text("DEAD_LETTERED")
        expect(table).not_to_contain_text("INVOICE_AUTHORIZED")
        expect(rows.first.locator("td").nth(1)).to_have_text(DATE_TIME)
        expect(page.locator("#who")).to_contain_text("operador")
        loads.none_failed("the login")
        shot(page, "todos-pt")

        # the period filter means the times shown: the last hour has the rows, the hour
        # before none
        now = datetime.now(UTC)
        page.get_by_label("De", exact=True).fill(local_input(now - timedelta(hours=1)))
        page.get_by_label("Até", exact=True).fill(local_input(now + timedelta(hours=1)))
        page.get_by_role("button", name="Filtrar").click()
        expect(page.locator(f'#rows tr[data-event-id="{ids[0]}"]')).to_be_visible()
        page.get_by_label("Até", exact=True).fill(local_input(now - timedelta(minutes=30)))
        page.get_by_role("button", name="Filtrar").click()
        expect(page.get_by_text("Nenhum registro encontrado.")).to_be_visible()
        page.get_by_label("De", exact=True).fill("")
        page.get_by_label("Até", exact=True).fill("")
        page.get_by_role("button", name="Filtrar").click()
        expect(page.locator(f'#rows tr[data-event-id="{ids[0]}"]')).to_be_visible()
        loads.none_failed("the period filter")

        # Pendentes: the event waiting for its 2nd attempt, with when it is due
        page.get_by_role("tab", name="Pendentes").click()
        pending = page.locator(f'#rows tr[data-event-id="{waiting}"]')
        expect(pending).to_contain_text("Nova tentativa agendada")
        expect(pending.locator("td.due-col")).to_have_text(DATE_TIME)
        expect(page.locator("#pending-counts")).to_contain_text("loja-wait: 1")
        loads.none_failed("the Pendentes tab")
        shot(page, "pendentes-pt")

        # Erros → Ações → Reenviar selecionados
        page.get_by_role("tab", name="Erros").click()
        expect(page.locator("#rows")).to_have_attribute("aria-busy", "false")
        expect(rows).to_have_count(3)
        loads.none_failed("the Erros tab")
        chosen = ids[:2]
        for event_id in chosen:
            page.get_by_label(event_id).check()
        page.get_by_label("Ações").select_option("resend")
        page.get_by_role("button", name="Aplicar").click()
        expect(page.locator("#notice")).to_have_text("2 evento(s) reenviado(s).")
        loads.none_failed("the resend")

        def sent() -> bool:
            latest = local_run.api("/api/lookup", {"event_ids": [*chosen, waiting]})["events"]
            return all(latest[i]["outcome"] == "SENT" for i in [*chosen, waiting])

        wait_until(sent, 90, "the resent and the retried events to be SENT")
        page.get_by_role("tab", name="Todos").click()
        page.get_by_role("tab", name="Erros").click()
        expect(rows).to_have_count(1)
        expect(page.locator(f'#rows tr[data-event-id="{ids[2]}"]')).to_have_count(1)
        loads.none_failed("the tabs after the resend")
        shot(page, "erros-pt")
        # resolved, it leaves Pendentes
        page.get_by_role("tab", name="Pendentes").click()
        expect(page.get_by_text("Nenhum registro encontrado.")).to_be_visible()
        loads.none_failed("the Pendentes tab after the resend")

        # the order's timeline: every attempt in order, the ERP's time as the ERP has it
        page.get_by_role("tab", name="Todos").click()
        page.get_by_role("link", name="W0").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading")).to_be_focused()
        timeline = page.locator("#tl-rows tr")
        expect(timeline).to_have_count(3)
        expect(timeline.nth(0)).to_contain_text("Com erro")
        expect(timeline.nth(1)).to_contain_text("Reenviado")
        expect(timeline.nth(2)).to_contain_text("Enviado")
        expect(timeline.nth(0).locator("td").nth(1)).to_have_text(ERP_LOCAL_TIME)
        fits = page.evaluate("() => { const d = document.getElementById('timeline');"
                             " return d.scrollWidth <= d.clientWidth; }")  # fmt: skip
        assert fits, "the timeline scrolls sideways at 1366x768"
        loads.none_failed("the order's timeline")
        shot(page, "timeline-pt")
        page.get_by_role("button", name="Fechar").click()

        # the CSV, as a pt-BR spreadsheet reads it
        with page.expect_download() as download:
            page.get_by_role("button", name="Exportar CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.startswith("\ufeff")
        header, *lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
        assert header[:3] == ["Data", "Data no ERP", "Integração"]
        assert all(len(line) == len(header) for line in lines)
        assert any("Com erro" in line for line in lines)
        assert any(ERP_LOCAL_TIME in line for line in lines)
        loads.none_failed("the CSV export")

        # the ERP's order menu opens one order's timeline directly, after the login
        order_page = context.new_page()
        order_page.goto(f"{local_run.history_url}/pedido/loja-web/ERP-W2#token={OPERATOR_TOKEN}")
        heading = order_page.get_by_role("dialog").get_by_role("heading")
        expect(heading).to_contain_text("loja-web / ERP-W2")
        expect(order_page.locator("#tl-rows tr")).to_have_count(1)
        loads.none_failed("the order's own URL")
        shot(order_page, "pedido-pt")
        browser.close()


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)
def test_a_viewer_reads_the_report_in_english(settings: Settings, local_run: LocalRun) -> None:
    """English everywhere in English mode; a viewer is offered no resend controls."""
    from playwright.sync_api import expect, sync_playwright

    dead_lettered(settings, local_run, "loja-en", ["E0"])
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="en-GB", timezone_id="America/Sao_Paulo")
        loads = Loads(context)
        page = context.new_page()
        page.goto(f"{local_run.history_url}/#token={VIEWER_TOKEN}")
        page.get_by_label("Idioma / Language").select_option("en")
        expect(page.get_by_role("heading", name="Status send history")).to_be_visible()
        for tab in ("All", "Errors", "Pending"):
            expect(page.get_by_role("tab", name=tab)).to_be_visible()
        loads.none_failed("the page in English")
        table = page.locator("#rows")
        expect(table).to_contain_text("Failed")
        expect(table).to_contain_text("Invoice (NF-e) authorized")
        expect(table).to_contain_text("The platform refused the request")
        expect(table).not_to_contain_text("HTTP_REJECTED")
        expect(page.get_by_role("checkbox")).to_have_count(0)
        expect(page.get_by_role("button", name="Apply")).to_be_hidden()
        expect(page.get_by_text("Technical detail").first).to_be_visible()
        loads.none_failed("the rows in English")
        page.get_by_role("tab", name="Errors").click()
        expect(page.locator("#rows tr[data-event-id]")).to_have_count(1)
        loads.none_failed("the Errors tab")
        shot(page, "all-en")
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
        context = browser.new_context()
        loads = Loads(context)
        page = context.new_page()
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
        loads.none_failed("the Erros tab")
        page.get_by_label(ids[0]).check()
        assert held, "the first load was not held back"
        held[0].continue_()
        expect(page.locator("body")).to_have_attribute("data-settled", "2")  # it has arrived
        expect(rows).to_have_count(2)
        expect(page.get_by_label(ids[0])).to_be_checked()
        loads.none_failed("the late answer")
        browser.close()
