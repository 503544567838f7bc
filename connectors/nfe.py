"""The authorized NF-e XML a platform takes: from the event, or fetched from the ERP; checked.

Where the XML comes from (``NfeSource.document``), in this order:

- ``invoice.xml``: the ERP put the document in the event itself;
- ``invoice.xml_url``: fetched only when its host is one the integration lists as the
  ERP's own (``nfe_xml_hosts``: ``host`` on any port, or ``host:port``), over ``https://``
  with certificate verification (public CAs, plus ``ORDERSYNC_ERP_CA_FILE``), through the
  same address guard as store calls (``ORDERSYNC_ALLOWED_NETWORKS``), no redirects, no
  cookies, no credentials, at most ``ORDERSYNC_NFE_MAX_BYTES`` within
  ``ORDERSYNC_NFE_FETCH_TIMEOUT_S``. Any other URL is refused before a connection is made
  (``NFE_URL_REFUSED``, naming the host): an event cannot aim the worker anywhere.

What comes back is checked before any platform sees it (``check_nfe``): well-formed XML
with no DOCTYPE (so no entity of any kind is ever expanded), an ``nfeProc`` of the NF-e
namespace holding the ``NFe`` and its ``protNFe``, the ``infNFe`` ``Id`` and the
protocol's ``chNFe`` both equal to the event's 44-digit access key, and the protocol's
``cStat`` 100 ("Autorizado o uso da NF-e") or 150 (the same, authorized late). Anything
else is a ``DocumentError`` (outcome INVALID) with what is wrong, and nothing is sent.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from yarl import URL

from connectors.http import (
    AiohttpTransport,
    AnswerTooLarge,
    BlockedAddressError,
    IPNetwork,
    StoreClient,
    StoreTimeout,
    TransportError,
)
from streams.errors import (
    DeliveryError,
    DocumentError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from streams.reasons import ReasonCode
from streams.records import IntegrationConfig, OrderEvent

NFE_NAMESPACE = "http://www.portalfiscal.inf.br/nfe"
AUTHORIZED = frozenset({"100", "150"})  # 150: authorized, past the issuing deadline
NFE_ID = re.compile(r"NFe([0-9]{44})")
DEFAULT_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class NfeDocument:
    """An authorized NF-e, as the bytes to send and what the check read from them."""

    xml: bytes
    access_key: str
    status: str  # the protocol's cStat


# -- the check (pure) -----------------------------------------------------------------------
@dataclass
class _Element:
    name: str  # local name, in the NF-e namespace; "{ns}name" for any other
    attributes: Mapping[str, str]
    children: list[_Element] = field(default_factory=list)
    text: str = ""

    def child(self, name: str) -> _Element | None:
        return next((c for c in self.children if c.name == name), None)

    def path(self, *names: str) -> _Element | None:
        node: _Element | None = self
        for name in names:
            node = node.child(name) if node is not None else None
        return node


class _Refused(Exception):
    pass


def _parse(xml: bytes) -> _Element:
    """The document as a small tree; a DOCTYPE (where entities live) is refused outright."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Element] = []
    roots: list[_Element] = []

    def refuse_doctype(*_: Any) -> None:
        raise _Refused("a DOCTYPE declaration (an NF-e has none; entities are not expanded)")

    def start(name: str, attributes: dict[str, str]) -> None:
        ns, _, local = name.rpartition("}")
        element = _Element(local if ns == NFE_NAMESPACE else "{" + name, attributes)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(xml, True)
    except _Refused as exc:
        raise DocumentError(
            f"the NF-e XML has {exc}", reason_code=ReasonCode.NFE_XML_INVALID
        ) from None
    except expat.ExpatError as exc:
        raise DocumentError(
            f"the NF-e XML is not well-formed: {expat.ErrorString(exc.code)} at line "
            f"{exc.lineno}, column {exc.offset + 1}",
            reason_code=ReasonCode.NFE_XML_INVALID,
        ) from None
    return roots[0]


def check_nfe(xml: bytes, access_key: str, max_bytes: int = DEFAULT_MAX_BYTES) -> NfeDocument:
    """The document, if it is the event's authorized NF-e; a ``DocumentError`` naming what
    is wrong if not."""
    if len(xml) > max_bytes:
        raise DocumentError(
            f"the NF-e XML is {len(xml):,} bytes, over the {max_bytes:,} allowed "
            "(ORDERSYNC_NFE_MAX_BYTES)",
            reason_code=ReasonCode.NFE_TOO_LARGE,
        )
    root = _parse(xml)
    if root.name == "NFe":
        raise DocumentError(
            "the XML is an NFe without its protNFe: send the nfeProc the SEFAZ authorized "
            "(the NF-e with its authorization protocol)",
            reason_code=ReasonCode.NFE_NOT_AUTHORIZED,
        )
    if root.name != "nfeProc":
        shown = root.name.lstrip("{").replace("}", ":")
        raise DocumentError(
            f"the XML is not an NF-e: its root is {shown[:80]!r}, expected nfeProc of "
            f"{NFE_NAMESPACE}",
            reason_code=ReasonCode.NFE_XML_INVALID,
        )
    info = root.path("NFe", "infNFe")
    matched = NFE_ID.fullmatch(info.attributes.get("Id", "")) if info is not None else None
    if matched is None:
        raise DocumentError(
            "the nfeProc has no NFe/infNFe with an Id of 'NFe' and 44 digits",
            reason_code=ReasonCode.NFE_XML_INVALID,
        )
    key = matched.group(1)
    if key != access_key:
        raise DocumentError(
            f"the XML is the NF-e of access key {key}, not the event's {access_key} "
            "(invoice.access_key)",
            reason_code=ReasonCode.NFE_KEY_MISMATCH,
        )
    protocol = root.path("protNFe", "infProt")
    if protocol is None:
        raise DocumentError(
            "the nfeProc has no protNFe/infProt: the NF-e carries no authorization",
            reason_code=ReasonCode.NFE_NOT_AUTHORIZED,
        )
    protocol_key = (protocol.path("chNFe") or _Element("", {})).text.strip()
    if protocol_key != key:
        raise DocumentError(
            f"the protocol's chNFe {protocol_key[:44]!r} is not the NF-e's key {key}",
            reason_code=ReasonCode.NFE_KEY_MISMATCH,
        )
    status = (protocol.path("cStat") or _Element("", {})).text.strip()
    if status not in AUTHORIZED:
        reason = (protocol.path("xMotivo") or _Element("", {})).text.strip()
        raise DocumentError(
            f"the protocol's cStat is {status[:10] or 'missing'}"
            + (f" ({reason[:120]})" if reason else "")
            + ": not an authorized NF-e (cStat 100)",
            reason_code=ReasonCode.NFE_NOT_AUTHORIZED,
        )
    return NfeDocument(xml, key, status)


# -- where it comes from ---------------------------------------------------------------------
def listed_host(url: URL, hosts: Sequence[str]) -> bool:
    """Whether ``url``'s host is one of ``hosts`` (``host`` on any port, or ``host:port``)."""
    host = (url.host or "").lower().strip("[]")
    port = url.port
    for entry in hosts:
        name, _, given_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if name.strip("[]") == host and (not given_port or given_port == str(port)):
            return True
    return False


def _has_port(entry: str) -> bool:
    try:
        ipaddress.IPv6Address(entry.strip("[]"))
    except ValueError:
        return ":" in entry and entry.rsplit(":", 1)[1].isdigit()
    return entry.startswith("[") and "]:" in entry


class NfeSource:
    """Gets an event's NF-e XML for a connector, and checks it. One per worker: it holds a
    client (its pooled connections) per ERP origin it fetched from."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = 10.0,
        allowed: Sequence[IPNetwork] = (),
        extra_ca_file: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.allowed = tuple(allowed)
        self.extra_ca_file = extra_ca_file
        self._clients: dict[str, StoreClient] = {}

    def has_document(self, event: OrderEvent) -> bool:
        invoice = event.invoice or {}
        return bool(invoice.get("xml") or invoice.get("xml_url"))

    async def document(self, event: OrderEvent, config: IntegrationConfig) -> NfeDocument:
        invoice = event.invoice or {}
        key = str(invoice.get("access_key", ""))
        inline = invoice.get("xml")
        if inline:
            raw = str(inline).encode("utf-8", errors="surrogatepass")
        elif invoice.get("xml_url"):
            raw = await self.fetch(str(invoice["xml_url"]), config)
        else:
            raise DocumentError(
                "the event carries no NF-e XML: set invoice.xml, or invoice.xml_url on a "
                "host the integration lists in nfe_xml_hosts",
                reason_code=ReasonCode.NFE_XML_MISSING,
            )
        return check_nfe(raw, key, self.max_bytes)

    async def fetch(self, address: str, config: IntegrationConfig) -> bytes:
        url = URL(address)
        shown = _shown(url)
        if url.scheme != "https" or not url.host or url.user or url.password:
            raise PermanentDeliveryError(
                f"invoice.xml_url {shown} is not an https:// URL without credentials: "
                "the NF-e is fetched only over https from the ERP's listed hosts",
                reason_code=ReasonCode.NFE_URL_REFUSED,
            )
        if not listed_host(url, config.nfe_xml_hosts):
            listed = ", ".join(config.nfe_xml_hosts) or "none"
            raise PermanentDeliveryError(
                f"invoice.xml_url is on host {url.host!r}, which integration "
                f"{config.integration_id} does not list as the ERP's (nfe_xml_hosts: {listed})",
                reason_code=ReasonCode.NFE_URL_REFUSED,
            )
        client = self._client(url)
        try:
            answer = await client.request(
                "GET", url.raw_path_qs, headers={"Accept": "application/xml"}
            )
        except AnswerTooLarge as exc:
            raise DocumentError(
                f"the NF-e XML at {shown} is over the {self.max_bytes:,} bytes allowed "
                f"(ORDERSYNC_NFE_MAX_BYTES)"
                + (f": {exc.declared:,} bytes by its Content-Length" if exc.declared else ""),
                reason_code=ReasonCode.NFE_TOO_LARGE,
            ) from None
        except BlockedAddressError as exc:
            raise PermanentDeliveryError(
                f"fetching the NF-e XML at {shown}: {exc}", reason_code=ReasonCode.ADDRESS_BLOCKED
            ) from None
        except (StoreTimeout, TransportError) as exc:
            raise RetryableDeliveryError(
                f"fetching the NF-e XML at {shown}: {type(exc).__name__}: {exc}",
                reason_code=ReasonCode.NFE_FETCH_FAILED,
            ) from None
        if answer.is_success:
            return answer.content
        status = answer.status_code
        error: type[DeliveryError] = (
            RetryableDeliveryError
            if status in (408, 425, 429) or status >= 500
            else PermanentDeliveryError
        )
        raise error(
            f"fetching the NF-e XML at {shown}: the ERP answered {status}"
            + (" (redirects are not followed)" if 300 <= status < 400 else ""),
            reason_code=ReasonCode.NFE_FETCH_FAILED,
            http_status=status,
        )

    def _client(self, url: URL) -> StoreClient:
        origin = str(url.origin())
        client = self._clients.get(origin)
        if client is None:
            transport = AiohttpTransport(
                self.allowed,
                max_connections=4,
                max_body_bytes=self.max_bytes,
                extra_ca_file=self.extra_ca_file,
            )
            client = StoreClient(
                origin, timeout_s=self.timeout_s, allowed=self.allowed, transport=transport
            )
            self._clients[origin] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _shown(url: URL) -> str:
    """The URL as errors name it: no credentials, no query (it may carry a token)."""
    if not url.host:
        return f"{url.scheme}:{url.path}"[:200]
    return str(url.with_user(None).with_query(None).with_fragment(None))[:200]
