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
