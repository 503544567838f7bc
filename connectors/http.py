"""The HTTP client every connector uses: httpx's API over aiohttp, with an SSRF guard.

httpx's own connection pool tops out at a few hundred requests/s under concurrency
(encode/httpx issue 3215); the aiohttp transport keeps httpx's API at aiohttp's speed
(``bench/http_transport.py`` measures both).

The guard refuses any store address that is not public — loopback, private, link-local
(169.254.169.254 included), CGNAT, multicast, reserved — unless its network is listed in
``ORDERSYNC_ALLOWED_NETWORKS``. It checks the addresses the connection will actually use:
names are resolved by a resolver that filters them, and aiohttp connects only to what
the resolver returned, so a name cannot resolve to one address for the check and another
for the connection. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from httpx_aiohttp import AiohttpTransport

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddressError(httpx.ConnectError):
    """The store's address is not public and its network is not allowed."""


def blocked_reason(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why connecting to ``address`` is refused, or ``None`` when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    if address.is_global and not address.is_multicast:
        return None
    for label, test in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
    ):
        if test:
            return f"{address} is a {label} address"
    return f"{address} is not a public address"


class GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Sequence[IPNetwork], inner: AbstractResolver | None = None) -> None:
        self.allowed = tuple(allowed)
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            reason = blocked_reason(ipaddress.ip_address(result["host"]), self.allowed)
            if reason is not None:
                # refuse the name outright: one bad answer may be a rebinding attempt
                raise OSError(f"store address refused: {host} resolves to {reason}")
        return results

    async def close(self) -> None:
        await self.inner.close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks IP-literal hosts (aiohttp skips the resolver for them), then delegates."""

    def __init__(self, inner: httpx.AsyncBaseTransport, allowed: Sequence[IPNetwork]) -> None:
        self.inner = inner
        self.allowed = tuple(allowed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            reason = blocked_reason(literal, self.allowed)
            if reason is not None:
                raise BlockedAddressError(f"store address refused: {reason}", request=request)
        try:
            return await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            # aiohttp wraps the resolver's refusal; its httpx mapping may call it a timeout
            refusal = _refusal(exc)
            if refusal is not None:
                raise BlockedAddressError(refusal, request=request) from exc
            cause = exc.__cause__
            if isinstance(exc, httpx.TimeoutException) and not isinstance(
                cause, asyncio.TimeoutError | aiohttp.ServerTimeoutError
            ):
                # httpx-aiohttp maps every aiohttp connection error to ConnectTimeout;
                # a refused or dropped connection is not a timeout
                raise httpx.ConnectError(
                    f"{type(cause).__name__}: {cause}", request=request
                ) from exc
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


class NoCookies(httpx.Cookies):
    """Store APIs authenticate per request; a cookie session would only leak state
    between calls (and parsing Set-Cookie costs ~15 % of a call)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _refusal(exc: BaseException | None) -> str | None:
    while exc is not None:
        text = str(exc)
        if "store address refused" in text:
            return text[text.index("store address refused") :].rstrip("]")
        exc = exc.__cause__ or exc.__context__
    return None


@functools.cache
def _verifying_ssl_context() -> ssl.SSLContext:
    """One TLS context (certificate verification on) for every store client: loading the
    CA bundle costs ~17 ms, which a worker with hundreds of stores paid once per store."""
    return httpx.create_ssl_context(verify=True)


def make_client(
    base_url: str,
    *,
    timeout_s: float,
    allowed: Sequence[IPNetwork],
    max_connections: int = 64,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """One client per store: pooled connections, no redirects, guarded addresses."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    ssl_context = _verifying_ssl_context()

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allowed),
            ssl=ssl_context,
            limit=max_connections,
            ttl_dns_cache=60,
        )
        return aiohttp.ClientSession(connector=connector)

    transport = GuardedTransport(
        AiohttpTransport(verify=ssl_context, client=session, limits=limits), allowed
    )
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout_s,
        follow_redirects=False,
        transport=transport,
        **kwargs,
    )
    client._cookies = NoCookies()  # httpx offers no switch for it
    return client
