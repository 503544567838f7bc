"""The sandbox platform: a local store API bundled for demos, tests and benchmarks.

Calls: ``POST {store_url}/orders/{platform_order_id}/actions/{action}`` with the
event as JSON, ``Authorization: Bearer <secret>`` when the integration names
credentials. The sandbox answers 409 ``{"code": "ALREADY_DONE"}`` when the same
event and action arrive twice, which counts as sent. Every action is supported.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector, PlatformRequest
from connectors.http import StoreResponse
from streams.records import Action, OrderEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class SandboxConnector(Connector):
    platform = "sandbox"
    actions = frozenset(Action)

    def auth_headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return {"Authorization": f"Bearer {self.credentials.reveal()}"}

    def build_request(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> PlatformRequest:
        return PlatformRequest(
            "POST",
            f"orders/{event.platform_order_id}/actions/{action.value.lower()}",
            json={
                "event_id": event.event_id,
                "sequence": event.sequence,
                "action": action.value,
                "platform_status": platform_status,
                "event": _jsonable(event.to_avro()),
            },
        )

    def is_already_done(self, action: Action, response: StoreResponse) -> bool:
        return response.status_code == 409 and b"ALREADY_DONE" in response.content
