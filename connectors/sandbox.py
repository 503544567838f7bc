"""The sandbox platform: a local store API bundled for demos, tests and benchmarks.

Calls: ``POST {store_url}/orders/{platform_order_id}/actions/{action}`` with JSON
``{event_id, sequence, action, erp_order_id, occurred_at}`` and the one payload the action
carries (``invoice``, ``shipment``, ``delivery``, ``cancellation`` or ``status``, values the
event lacks left out), ``platform_status`` for a mapped status, ``Authorization: Bearer
<secret>`` when the integration names credentials. A status-only SHIP (tracking withheld:
automation 3 off, or a Fulfillment store) carries ``shipped_at`` and nothing of the
carrier or the tracking code. The sandbox answers 409 ``{"code": "ALREADY_DONE"}`` when the same
event and action arrive twice, which counts as sent. Every action is supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import (
    NO_AUTH,
    Auth,
    Connector,
    Performed,
    PlatformRequest,
    already_done,
    delivered,
)
from streams.records import Action, OrderEvent

# the payload each action carries
PAYLOAD = {
    Action.INVOICE: "invoice",
    Action.SHIP_WITH_TRACKING: "shipment",
    Action.DELIVER: "delivery",
    Action.CANCEL: "cancellation",
    Action.START_HANDLING: "status",
    Action.UPDATE_STATUS: "status",
}


def _jsonable(value: Any) -> Any:
    """JSON values, with what the event lacks left out rather than sent as null."""
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_jsonable(v) for v in value if v is not None]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class SandboxConnector(Connector):
    platform = "sandbox"
    actions = frozenset(Action)

    def authenticate(self) -> Auth:
        if self.credentials is None:
            return NO_AUTH
        return Auth(headers={"Authorization": f"Bearer {self.credentials.reveal()}"})

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        request = action_request(action, event, platform_status)
        response = await self.call(request, inspect=(409,))
        if response.is_success:
            return delivered(response)
        if b"ALREADY_DONE" in response.content:
            return already_done(response)
        raise self.refused(request, response)


def action_request(
    action: Action, event: OrderEvent, platform_status: str | None
) -> PlatformRequest:
    body: dict[str, Any] = {
        "event_id": event.event_id,
        "sequence": event.sequence,
        "action": action.value,
        "erp_order_id": event.erp_order_id,
        "occurred_at": event.occurred_at.isoformat(),
    }
    if platform_status:
        body["platform_status"] = platform_status
    name = PAYLOAD.get(action)
    payload = getattr(event, name) if name else None
    if payload:
        body[name] = _jsonable(payload)  # type: ignore[index]
    if action is Action.SHIP and event.shipment and event.shipment.get("shipped_at"):
        body["shipment"] = {"shipped_at": event.shipment["shipped_at"].isoformat()}
    return PlatformRequest(
        "POST", f"orders/{event.platform_order_id}/actions/{action.value.lower()}", json=body
    )
