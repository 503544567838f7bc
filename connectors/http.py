"""The HTTP client every connector uses: aiohttp underneath, an SSRF guard, nothing else.

``StoreClient`` builds a ``StoreRequest`` and hands it to a transport, which owns the
sockets (``AiohttpTransport``; tests pass their own). It answers with a ``StoreResponse``
— status, headers, body — or raises one of the errors below:

    TransportError .............. no HTTP answer
    ├── StoreTimeout ............ none within the timeout
    ├── AnswerTooLarge .......... a body past the client's limit (where it sets one)
    └── ConnectionFailed ........ refused, reset, dropped mid-answer
        └── BlockedAddressError . the store's address is not public

The connectors' own layer above (``connectors.base``) turns those and the statuses into
delivery errors. A general-purpose client cost 2.5 times the CPU per call: httpx over
aiohttp took 185.8 µs against this one's 73.7 (``bench/http_transport.py``), spent on URL
models, cookie jars and redirect machinery that no store call needs.

The guard refuses any store address that is not public — loopback, private, link-local
(169.254.169.254 included), CGNAT, unique-local, site-local, multicast, unspecified,
reserved, and IPv6 forms that reach such an IPv4 address (mapped, compatible, NAT64, 6to4,
Teredo) — unless its network is listed in ``ORDERSYNC_ALLOWED_NETWORKS``. Real platforms
are called over ``https://`` only, but for an address in those networks. It checks the addresses the connection will actually use:
names are resolved by a resolver that filters them, and aiohttp connects only to what
the resolver returned, so a name cannot resolve to one address for the check and another
for the connection. Redirects are never followed.
"""

from __future__ import annotations

import functools
import ipaddress
import json as jsonlib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = "ordersync"
JSON_HEADERS = {"Content-Type": "application/json"}


class TransportError(Exception):
    """The call got no HTTP answer."""


class StoreTimeout(TransportError):
    """No answer within the client's timeout."""


class ConnectionFailed(TransportError):
    """The connection was refused, reset or dropped before the answer was read."""


class BlockedAddressError(ConnectionFailed):
    """The store's address is not public and its network is not allowed."""


class AnswerTooLarge(TransportError):
    """The answer's body is longer than the client takes (a document fetched by size)."""

    def __init__(self, limit: int, declared: int | None) -> None:
        told = f" (Content-Length {declared:,})" if declared is not None else ""
        super().__init__(f"answer over {limit:,} bytes{told}")
        self.limit = limit
        self.declared = declared


@dataclass(frozen=True, slots=True)
class StoreRequest:
    method: str
    url: URL
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None


class StoreResponse:
    """A store's whole answer, read before it is handed over."""

    __slots__ = ("content", "headers", "request", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        request: StoreRequest | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers: CIMultiDictProxy[str] = (
            headers
            if isinstance(headers, CIMultiDictProxy)
            else CIMultiDictProxy(CIMultiDict(headers or {}))
        )
        self.content = content
        self.request = request or StoreRequest("GET", URL("/"))

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        return f"<StoreResponse {self.status_code}>"


class Transport(Protocol):
    async def send(self, request: StoreRequest, timeout_s: float) -> StoreResponse: ...

    async def aclose(self) -> None: ...


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix
# not public, though this Python's tables call them global
NOT_PUBLIC = {
    "NAT64 local-use": ipaddress.ip_network("64:ff9b:1::/48"),  # RFC 8215
    "site-local": ipaddress.ip_network("fec0::/10"),  # RFC 3879, deprecated
}


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through: mapped (``::ffff:a.b.c.d``),
    compatible (``::a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``), 6to4 (``2002:aabb:ccdd::``)
    and Teredo (server and client)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    low32 = ipaddress.IPv4Address(address.packed[12:])
    if address in NAT64:
        return [low32]
    if address.packed[:12] == bytes(12) and int(low32) > 1:  # not :: nor ::1
        return [low32]
    return []


def blocked_reason(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why connecting to ``address`` is refused, or ``None`` when it is allowed."""
    inner = embedded_ipv4(address)
    if inner:
        reasons = [blocked_reason(v4, allowed) for v4 in inner]
        refused = [r for r in reasons if r is not None]
        return f"{address} reaches {refused[0]}" if refused else None
    if any(address in network for network in allowed):
        return None
    for label, network in NOT_PUBLIC.items():
        if address in network:
            return f"{address} is a {label} address"
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


def insecure_url_reason(platform: str, store_url: str, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a real platform may not be called at ``store_url`` over plain HTTP, or ``None``.

    Credentials go with every call: over ``http://`` only to a host whose address is
    listed in ``ORDERSYNC_ALLOWED_NETWORKS`` (a platform's emulator, a store behind a
    private network). The bundled sandbox is not a real platform.
    """
    url = URL(store_url)
    if platform == "sandbox" or url.scheme == "https":
        return None
    try:
        literal = ipaddress.ip_address((url.host or "").strip("[]"))
    except ValueError:
        literal = None
    if literal is not None and any(literal in network for network in allowed):
        return None
    return (
        f"{platform} store URL {url.with_query(None).with_user(None)} is not https:// "
        "(plain http only to an address in ORDERSYNC_ALLOWED_NETWORKS)"
    )


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


@functools.cache
def _verifying_ssl_context(extra_ca_file: str | None = None) -> ssl.SSLContext:
    """One TLS context (certificate verification on) for every store client: loading the
    CA bundle costs ~17 ms, which a worker with hundreds of stores paid once per store.
    ``extra_ca_file`` adds CAs to the public ones (an ERP's hosts on a private PKI)."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


class AiohttpTransport:
    """One aiohttp session: pooled keep-alive connections, guarded resolver, no cookies.

    The session is opened on first use, inside the event loop that will run it. With
    ``max_body_bytes`` an answer's body is read only up to that size (``AnswerTooLarge``).
    """

    def __init__(
        self,
        allowed: Sequence[IPNetwork],
        max_connections: int = 64,
        *,
        max_body_bytes: int | None = None,
        extra_ca_file: str | None = None,
    ) -> None:
        self.allowed = tuple(allowed)
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self.ssl_context = _verifying_ssl_context(extra_ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.allowed),
            ssl=self.ssl_context,
            limit=self.max_connections,
            ttl_dns_cache=60,
        )
        # store APIs authenticate per request: a cookie jar would only carry state
        # between calls
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        )

    async def send(self, request: StoreRequest, timeout_s: float) -> StoreResponse:
        session = self._session
        if session is None:
            session = self._session = self._open()
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.content,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as answer:
                if self.max_body_bytes is None:
                    content = await answer.read()
                else:
                    content = await _read_at_most(answer, self.max_body_bytes)
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise StoreTimeout(f"no answer within {timeout_s:g}s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            refusal = _refusal(exc)
            if refusal is not None:
                raise BlockedAddressError(refusal) from exc
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
        return StoreResponse(answer.status, answer.headers, content, request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_at_most(answer: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = answer.content_length
    if declared is not None and declared > limit:
        raise AnswerTooLarge(limit, declared)
    body = bytearray()
    async for chunk in answer.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise AnswerTooLarge(limit, declared)
    return bytes(body)


def _refusal(exc: BaseException | None) -> str | None:
    while exc is not None:
        text = str(exc)
        if "store address refused" in text:
            return text[text.index("store address refused") :].rstrip("]")
        exc = exc.__cause__ or exc.__context__
    return None


class StoreClient:
    """Calls under one store's base URL: ``path`` is relative to it, redirects are not
    followed, and a base URL whose host is a non-public IP literal is refused here
    (aiohttp does not ask the resolver about literals)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        allowed: Sequence[IPNetwork],
        transport: Transport,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_s = timeout_s
        self.transport = transport
        self._refused = _literal_refusal(URL(self.base_url).host, allowed)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StoreResponse:
        if self._refused is not None:
            raise BlockedAddressError(self._refused)
        url = URL(self.base_url + path.lstrip("/"))
        if params:
            url = url.extend_query(params)
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            headers = {**JSON_HEADERS, **(headers or {})}
        request = StoreRequest(method, url, headers or {}, content)
        return await self.transport.send(request, self.timeout_s)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> StoreClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _literal_refusal(host: str | None, allowed: Sequence[IPNetwork]) -> str | None:
    try:
        literal = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return None  # a name: the resolver checks what it resolves to
    reason = blocked_reason(literal, allowed)
    return None if reason is None else f"store address refused: {reason}"


def make_client(
    base_url: str,
    *,
    timeout_s: float,
    allowed: Sequence[IPNetwork],
    max_connections: int = 64,
) -> StoreClient:
    """One client per store: pooled connections, no redirects, guarded addresses."""
    return StoreClient(
        base_url,
        timeout_s=timeout_s,
        allowed=allowed,
        transport=AiohttpTransport(allowed, max_connections),
    )
