"""The contract harness itself, on the sandbox connector: the shared fault table holds."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from connectors.emulators.base import PlatformEmulator, Route
from connectors.sandbox import SandboxConnector
from streams.records import Action, EventType
from tests.contract.harness import check_classification, connected, run
from tests.factories import event


class SandboxContract(PlatformEmulator):
    platform = "sandbox"
    routes: ClassVar[tuple[Route, ...]] = (
        Route(
            "POST", "/orders/{order}/actions/{action}", "action", required=("event_id", "action")
        ),
    )

    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        if request.headers.get("Authorization") != "Bearer test-secret-value":
            return 401, "bad token"
        return None


def test_fault_table() -> None:
    check_classification(
        SandboxContract, SandboxConnector, Action.CANCEL, event(EventType.CANCELED)
    )


def test_request_shape() -> None:
    async def go() -> None:
        async with connected(SandboxContract(), SandboxConnector) as (emulator, connector):
            delivery = await connector.send(Action.INVOICE, event(order="P9"))
            assert delivery.http_status == 200 and not delivery.already_done
            call = emulator.accepted("action")[0]
            assert call.path == "/orders/P9/actions/invoice"
            assert call.body["action"] == "INVOICE"

    run(go())


def test_each_action_carries_its_own_payload_and_no_tracking_when_withheld() -> None:
    async def go() -> dict[str, dict[str, object]]:
        sent = {}
        async with connected(SandboxContract(), SandboxConnector) as (emulator, connector):
            for action, event_type in (
                (Action.SHIP, EventType.SHIPPED),
                (Action.SHIP_WITH_TRACKING, EventType.SHIPPED),
                (Action.INVOICE, EventType.INVOICE_AUTHORIZED),
            ):
                await connector.send(action, event(event_type, order="P1"))
                sent[action.value] = emulator.accepted("action")[-1].body
        return sent

    sent = run(go())
    status_only = sent["SHIP"]
    assert "QB123456789BR" not in str(status_only) and "Correios" not in str(status_only)
    assert set(status_only) == {
        "event_id", "sequence", "action", "erp_order_id", "occurred_at", "shipment"
    }  # fmt: skip
    assert set(status_only["shipment"]) == {"shipped_at"}  # type: ignore[arg-type]
    assert sent["SHIP_WITH_TRACKING"]["shipment"]["tracking_code"] == "QB123456789BR"  # type: ignore[index]
    assert "tracking_url" not in sent["SHIP_WITH_TRACKING"]["shipment"]  # type: ignore[operator]
    assert "shipment" not in sent["INVOICE"] and "xml_url" not in sent["INVOICE"]["invoice"]  # type: ignore[operator]
