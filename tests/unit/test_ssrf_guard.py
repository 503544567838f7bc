"""Store URLs on non-public addresses are refused, on the address actually connected to."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from connectors.http import blocked_reason, make_client
from connectors.sandbox import SandboxConnector
from streams.errors import PermanentDeliveryError
from streams.records import Action
from tests.factories import config, event

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "not a public address"),  # CGNAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::7f00:1", "loopback"),  # IPv4-compatible
        ("::10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 to the cloud metadata address
        ("64:ff9b:1::a00:1", "NAT64 local-use"),
        ("2002:7f00:1::", "loopback"),  # 6to4
        ("2002:c0a8:101::1", "private"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("fd00::1", "private"),  # unique-local
        ("fc00::5", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("255.255.255.255", "private"),  # the broadcast address
    ],
)
def test_non_public_addresses_are_blocked(address: str, label: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address), ())
    assert reason is not None and label in reason, reason


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::c893:2395", "2002:c893:2395::1", "::ffff:200.147.35.149", "2804:14c::1"],
)
def test_forms_that_reach_a_public_address_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address), ()) is None


@pytest.mark.parametrize(
    ("platform", "url", "refused"),
    [
        ("vtex", "http://loja.vtexcommercestable.com.br/", True),
        ("vtex", "https://loja.vtexcommercestable.com.br/", False),
        ("tray", "http://127.0.0.1:9000/web_api/", False),  # an emulator, in the allowed network
        ("tray", "http://10.0.0.5/web_api/", True),  # private, but not allowed
        ("woocommerce", "http://localhost/", True),  # a name: its address is not known here
        ("sandbox", "http://sandbox.local/stores/x/", False),
    ],
)
def test_real_platforms_need_https_outside_the_allowed_networks(
    platform: str, url: str, refused: bool
) -> None:
    from connectors.http import insecure_url_reason

    assert (insecure_url_reason(platform, url, LOOPBACK) is not None) is refused


def test_public_and_allowed_addresses_pass() -> None:
    assert blocked_reason(ipaddress.ip_address("200.147.35.149"), ()) is None
    assert blocked_reason(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None


async def with_server(routes: web.RouteTableDef, test: Callable[[int], Awaitable[Any]]) -> Any:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await test(port)
    finally:
        await runner.cleanup()


routes = web.RouteTableDef()


@routes.post("/stores/s/orders/{order}/actions/{action}")
async def accept(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.post("/redirect/orders/{order}/actions/{action}")
async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")


async def send(base: str, allowed: tuple[Any, ...]) -> Any:
    client = make_client(base, timeout_s=5, allowed=allowed)
    connector = SandboxConnector(config(store_url=base), None, client)
    try:
        return await connector.send(Action.INVOICE, event())
    finally:
        await client.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_store_is_refused_unless_allowed(host: str) -> None:
    async def run(port: int) -> None:
        base = f"http://{host}:{port}/stores/s/"
        with pytest.raises(PermanentDeliveryError) as caught:
            await send(base, ())
        assert caught.value.reason_code == "ADDRESS_BLOCKED"
        assert "loopback" in str(caught.value)
        delivery = await send(base, LOOPBACK)
        assert delivery.http_status == 200

    asyncio.run(with_server(routes, run))


def test_redirects_are_not_followed() -> None:
    async def run(port: int) -> None:
        with pytest.raises(PermanentDeliveryError) as caught:
            await send(f"http://127.0.0.1:{port}/redirect/", LOOPBACK)
        assert caught.value.reason_code == "REDIRECT_REFUSED"
        assert caught.value.http_status == 302

    asyncio.run(with_server(routes, run))


def test_metadata_address_is_refused_without_connecting() -> None:
    async def run() -> None:
        with pytest.raises(PermanentDeliveryError) as caught:
            await send("http://169.254.169.254/stores/s/", LOOPBACK)
        assert caught.value.reason_code == "ADDRESS_BLOCKED"

    asyncio.run(run())


def test_store_clients_verify_tls_certificates_with_one_shared_context() -> None:
    import ssl

    from connectors.http import make_client

    async def contexts() -> list[ssl.SSLContext]:
        clients = [
            make_client(f"https://store{n}.example/", timeout_s=1, allowed=()) for n in range(2)
        ]
        found = [c.transport.ssl_context for c in clients]  # type: ignore[attr-defined]
        for client in clients:
            await client.aclose()
        return found

    first, second = asyncio.run(contexts())
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname
    # loading the CA bundle costs ~17 ms: a worker with hundreds of stores pays it once
    assert second is first
