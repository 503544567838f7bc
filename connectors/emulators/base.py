"""A local stand-in for a platform's API that checks the vendor's request contract.

A platform emulator declares its routes; each route names the auth it expects and the
JSON fields the vendor requires. A request that breaks the contract gets the answer
the vendor would give (401/403/400/404) and is recorded with the reason, so a contract
test asserts both what the connector sent and that nothing was refused. Tests can
queue faults — a status (with ``Retry-After``), a delay, a dropped connection — and an
"already done" answer for repeated calls.

No request may carry a JSON null: where a vendor types a field as a string, null breaks
its contract, and a value the event lacks is left out (or given the vendor's default).

Every refusal echoes the credentials the request carried (its credential headers and
its query string), first in the body, as real stores' error pages and debug payloads
do: a connector's masking is put to the test by each of them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]
CREDENTIAL_HEADERS = (
    "authorization",
    "authentication",
    "x-vtex-api-appkey",
    "x-vtex-api-apptoken",
    "x-shopify-access-token",
)


def echo(request: web.Request) -> dict[str, str]:
    """What a store's error page shows of the request: its credentials among the rest."""
    shown = {name: request.headers[name] for name in CREDENTIAL_HEADERS if name in request.headers}
    return {"request": request.path_qs, **shown}


def with_echo(request: web.Request, body: Any) -> Any:
    return {"echo": echo(request), **body} if isinstance(body, dict) else body


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    route: str | None
    refused: str | None = None  # why the emulator refused it, None when accepted


@dataclass
class Fault:
    status: int = 503
    delay_s: float = 0.0
    drop: bool = False  # close the connection without an answer
    retry_after: str | None = None
    body: Any = None


@dataclass
class Route:
    method: str
    path: str  # aiohttp pattern, e.g. /api/oms/pvt/orders/{order_id}/invoice
    name: str
    required: tuple[str, ...] = ()  # dotted JSON paths that must be present and non-empty
    nullable: tuple[str, ...] = ()  # paths the vendor documents as null (ML's substatus)
    status: int = 200
    response: Any = field(default_factory=dict)
    # for answers that depend on the request: a function, or the name of one of the
    # emulator's own methods (called with the request and the parsed body)
    handler: Handler | str | None = None


def null_paths(body: Any, path: str = "") -> list[str]:
    """Where a JSON body holds null: ordersync leaves out what an event lacks."""
    if body is None:
        return [path or "(body)"]
    if isinstance(body, dict):
        return [p for k, v in body.items() for p in null_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(body, list):
        return [p for i, v in enumerate(body) for p in null_paths(v, f"{path}[{i}]")]
    return []


def missing_fields(body: Any, required: tuple[str, ...]) -> list[str]:
    missing = []
    for dotted in required:
        node = body
        for part in dotted.split("."):
            if isinstance(node, list):
                node = node[0] if node else None
            node = node.get(part) if isinstance(node, dict) else None
        if node is None or node == "" or node == []:
            missing.append(dotted)
    return missing


class PlatformEmulator:
    """Subclasses set ``platform`` and ``routes`` and implement ``auth_error``."""

    platform = "emulator"
    routes: ClassVar[tuple[Route, ...]] = ()

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- what subclasses fill ----------------------------------------------------------
    def auth_error(self, request: web.Request) -> tuple[int, str] | None:
        """(status, reason) when the request's credentials are wrong; None when right."""
        return None

    def auth_error_body(self, request: web.Request, reason: str) -> Any:
        """The body of that refusal, where the platform documents one."""
        return {"error": reason}

    # -- test controls -----------------------------------------------------------------
    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def accepted(self, route: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.refused is None and (route is None or c.route == route)]

    # -- server ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        for route in self.routes:
            app.router.add_route(route.method, route.path, self._handle(route))
        return app

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _handle(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body: Any
            try:
                body = json.loads(raw) if raw and "json" in request.content_type else raw.decode()
            except (ValueError, UnicodeDecodeError):
                body = raw
            call = Call(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                route.name,
            )
            self.calls.append(call)
            if self.faults:
                fault = self.faults.pop(0)
                call.refused = f"fault {fault.status}"
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.drop:
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)  # never reaches the client
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return web.json_response(
                    with_echo(request, fault.body or {"error": "injected"}),
                    status=fault.status,
                    headers=headers,
                )
            auth = self.auth_error(request)
            if auth is not None:
                call.refused = auth[1]
                return web.json_response(
                    with_echo(request, self.auth_error_body(request, auth[1])), status=auth[0]
                )
            nulls = null_paths(body) if raw and isinstance(body, dict | list) else []
            nulls = [path for path in nulls if path not in route.nullable]
            if nulls:
                call.refused = f"null at {', '.join(nulls)}"
                return web.json_response(with_echo(request, {"error": call.refused}), status=400)
            missing = missing_fields(body, route.required) if route.required else []
            if missing:
                call.refused = f"missing {', '.join(missing)}"
                return web.json_response(with_echo(request, {"error": call.refused}), status=400)
            if isinstance(route.handler, str):
                method: Handler = getattr(self, route.handler)
                return await method(request, body)
            if route.handler is not None:
                return await route.handler(request, body)
            return web.json_response(route.response, status=route.status)

        return handle
