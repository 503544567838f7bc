"""The sandbox platform server: records every call and misbehaves on cue.

One server hosts many stores under ``/stores/{store}/``. Control endpoints:

- ``GET /_received[?store=S]``: the calls received, oldest first;
- ``GET /_stats``: counts of calls, duplicates (same event and action twice) and faults;
- ``GET /_duplicates``: each repeated call, with when the first one was received;
- ``POST /_faults`` ``{"store": S, "status": 503, "count": 2, "delay_ms": 0}``: the next
  ``count`` calls to store S (``-1`` = until cleared) answer ``status`` after ``delay_ms``;
  ``status: 0`` with a delay only slows the store down; a 429 says ``Retry-After:
  retry_after_s`` (default 1);
- ``DELETE /_faults``: clear every fault.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int
    remaining: int  # -1: until cleared
    delay_ms: float
    retry_after_s: int = 1


class SandboxPlatform:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.seen: dict[tuple[str, str], float] = {}  # -> when it was first received
        self.duplicates = 0
        self.repeated: list[dict[str, Any]] = []
        self.faults: dict[str, Fault] = {}
        self.faults_served = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/stores/{store}/orders/{order}/actions/{action}", self.action)
        app.router.add_get("/_received", self.list_received)
        app.router.add_get("/_duplicates", self.list_duplicates)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_faults", self.set_fault)
        app.router.add_delete("/_faults", self.clear_faults)
        app.router.add_get("/health", self.health)
        return app

    async def action(self, request: web.Request) -> web.Response:
        store = request.match_info["store"]
        fault = self.faults.get(store)
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    del self.faults[store]
            if fault.status:
                self.faults_served += 1
                headers = {"Retry-After": str(fault.retry_after_s)} if fault.status == 429 else {}
                # like many real APIs, the error echoes what it was given: credentials
                # included, so ordersync's redaction is exercised on every fault
                echo = {
                    "authorization": request.headers.get("Authorization", ""),
                    "path": request.path_qs,
                }
                return web.json_response(
                    {"code": "FAULT", "message": f"injected {fault.status}", "request": echo},
                    status=fault.status,
                    headers=headers,
                )
        body = await request.json()
        key = (str(body.get("event_id")), request.match_info["action"])
        call = {
            "store": store,
            "order": request.match_info["order"],
            "action": request.match_info["action"],
            "event_id": body.get("event_id"),
            "sequence": body.get("sequence"),
            "platform_status": body.get("platform_status"),
            "authorized": request.headers.get("Authorization", "").startswith("Bearer "),
            "received_at": time.time(),
        }
        if key in self.seen:
            self.duplicates += 1
            self.repeated.append(call | {"first_received_at": self.seen[key]})
            return web.json_response({"code": "ALREADY_DONE"}, status=409)
        self.seen[key] = call["received_at"]
        self.received.append(call)
        return web.json_response({"ok": True}, status=200)

    async def list_received(self, request: web.Request) -> web.Response:
        store = request.query.get("store")
        calls = [c for c in self.received if store is None or c["store"] == store]
        return web.json_response(calls)

    async def list_duplicates(self, request: web.Request) -> web.Response:
        return web.json_response(self.repeated)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "received": len(self.received),
                "duplicates": self.duplicates,
                "faults_served": self.faults_served,
            }
        )

    async def set_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.faults[str(body["store"])] = Fault(
            status=int(body.get("status", 503)),
            remaining=int(body.get("count", -1)),
            delay_ms=float(body.get("delay_ms", 0)),
            retry_after_s=int(body.get("retry_after_s", 1)),
        )
        return web.json_response({"ok": True})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def serve(port: int, host: str = "127.0.0.1") -> None:
    web.run_app(SandboxPlatform().app(), host=host, port=port, print=None, access_log=None)
