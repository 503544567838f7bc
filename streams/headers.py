"""The control headers ordersync writes on its topics, and how they are read back.

Headers are input like any other bytes. On the internal topics (the retry topics) only
ordersync writes, and their values are parsed strictly: a value that does not parse is a
``HeaderError``, which the worker records as INVALID. On ``orders.events`` any producer
writes, so an ``ordersync.*`` header there is honoured only when the record carries a
signature that only ``resend`` and ``dlt replay`` can make: HMAC-SHA256, keyed by
``ORDERSYNC_SIGNING_KEY``, over the record's key, value and every ``ordersync.*`` header.
Anything else under that prefix is a forged header, and the record is INVALID. Headers
outside the prefix belong to the producer and are ignored.

A signed record copied verbatim repeats the resend it came from (the order's dedupe still
holds unless that resend was forced): the signature proves who wrote it, not when.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streams.errors import ConfigurationError, InvalidInputError
from streams.reasons import ReasonCode
from streams.secrets import Secret

PREFIX = "ordersync."
ATTEMPT = "ordersync.attempt"
DUE = "ordersync.retry.due"
FIRST_FAILURE = "ordersync.failure.first"
LAST_FAILURE = "ordersync.failure.last"
ORIGIN_TOPIC = "ordersync.original.topic"
ORIGIN_PARTITION = "ordersync.original.partition"
ORIGIN_OFFSET = "ordersync.original.offset"
RESEND_OF = "ordersync.resend.of"
RESEND_FORCE = "ordersync.resend.force"
RESEND_BY = "ordersync.resend.by"
PARKED_ID = "ordersync.parked.id"
SIGNATURE = "ordersync.signature"
# on dead letters
ERROR_CLASS = "ordersync.error.class"
ERROR_REASON = "ordersync.error.reason"
ERROR_MESSAGE = "ordersync.error.message"
ATTEMPTS = "ordersync.attempts"
HTTP_STATUS = "ordersync.http.status"
VALUE_DROPPED = "ordersync.value.dropped.bytes"

# what resend and dlt replay put on orders.events, signed
SIGNED = frozenset({RESEND_OF, RESEND_FORCE, RESEND_BY})
MAX_ATTEMPT = 1000
MAX_TEXT = 256

Headers = Sequence[tuple[str, bytes | None]]


class HeaderError(InvalidInputError):
    """A control header that ordersync cannot honour; the record is INVALID."""

    def __init__(self, message: str, reason_code: ReasonCode = ReasonCode.BAD_CONTROL_HEADER):
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class Control:
    """What the control headers say, once read and trusted."""

    attempt: int = 1
    origin: tuple[str, int, int] | None = None  # where the event was first read
    resend_of: str | None = None
    force: bool = False
    resend_by: str | None = None
    first_failure: str | None = None
    due_ms: int = 0
    park_id: str | None = None  # a parked record's: the order's state names the copy to run


def signature(key: bytes | None, value: bytes | None, headers: Headers, signing_key: Secret) -> str:
    """HMAC-SHA256 over key, value and the ``ordersync.*`` headers but the signature."""
    mac = hmac.new(signing_key.reveal().encode(), b"ordersync-signature-v1", hashlib.sha256)
    for part in (key, value):
        _frame(mac, part)
    for name, raw in sorted((n, v) for n, v in headers if n.startswith(PREFIX) and n != SIGNATURE):
        _frame(mac, name.encode())
        _frame(mac, raw)
    return mac.hexdigest()


def _frame(mac: hmac.HMAC, part: bytes | None) -> None:
    # length-prefixed, so no two different records frame to the same bytes
    mac.update(b"\xff" * 8 if part is None else len(part).to_bytes(8, "big"))
    mac.update(part or b"")


def require_signing_key(signing_key: Secret | None) -> Secret:
    """The key resend and dlt replay sign with; ``ConfigurationError`` when it is not set."""
    if signing_key is None:
        raise ConfigurationError(
            "ORDERSYNC_SIGNING_KEY is not set: resend and dlt replay sign the records they "
            "put back on orders.events, and the workers honour only signed ones"
        )
    return signing_key


def signed(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    signing_key: Secret,
) -> list[tuple[str, str | bytes | None]]:
    """``headers`` with their signature, for a record put back on ``orders.events``."""
    unsigned = [(n, v) for n, v in headers if n != SIGNATURE]
    mac = signature(key, value, unsigned, signing_key).encode()
    return [*unsigned, (SIGNATURE, mac)]


def read_control(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    *,
    internal: bool,
    signing_key: Secret | None,
) -> Control:
    """The record's control headers; ``HeaderError`` when one cannot be honoured.

    ``internal``: the record comes from a topic only ordersync writes (a retry topic).
    """
    ours = [(name, raw) for name, raw in headers if name.startswith(PREFIX)]
    if not ours:
        return Control()
    if not internal:
        _verify(key, value, headers, ours, signing_key)
        ours = [(name, raw) for name, raw in ours if name in SIGNED]
    texts = _texts(ours)
    origin = None
    if ORIGIN_TOPIC in texts:
        origin = (
            _text(texts, ORIGIN_TOPIC) or "",
            _integer(texts, ORIGIN_PARTITION, -1, 0, 2**31 - 1),
            _integer(texts, ORIGIN_OFFSET, -1, 0, 2**62),
        )
        if origin[1] < 0 or origin[2] < 0:
            raise HeaderError(f"{ORIGIN_TOPIC} needs {ORIGIN_PARTITION} and {ORIGIN_OFFSET}")
    return Control(
        attempt=_integer(texts, ATTEMPT, 1, 1, MAX_ATTEMPT),
        origin=origin,
        resend_of=_text(texts, RESEND_OF),
        force=_flag(texts, RESEND_FORCE),
        resend_by=_text(texts, RESEND_BY),
        first_failure=_text(texts, FIRST_FAILURE),
        due_ms=_integer(texts, DUE, 0, 0, 2**62),
        park_id=_text(texts, PARKED_ID),
    )


def _texts(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for name, raw in headers:
        if name in texts:
            raise HeaderError(f"header {_show(name)} appears more than once")
        if raw is None:
            raise HeaderError(f"header {_show(name)} has no value")
        try:
            texts[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderError(f"header {_show(name)}: value is not UTF-8") from None
    return texts


def _verify(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    ours: Headers,
    signing_key: Secret | None,
) -> None:
    names = sorted({name for name, _ in ours if name != SIGNATURE})
    given = [raw for name, raw in ours if name == SIGNATURE]
    if signing_key is None:
        why = "this worker has no ORDERSYNC_SIGNING_KEY to check a signature with"
    elif not given:
        why = f"the record carries no {SIGNATURE}"
    elif len(given) > 1 or not hmac.compare_digest(
        given[0] or b"", signature(key, value, headers, signing_key).encode()
    ):
        why = f"its {SIGNATURE} does not match"
    else:
        return
    raise HeaderError(
        f"control header(s) {', '.join(_show(n) for n in names) or SIGNATURE} on orders.events "
        f"are honoured only when ordersync's resend or dlt replay signed them, and {why}",
        ReasonCode.FORGED_CONTROL_HEADER,
    )


def _integer(texts: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = texts.get(name)
    if text is None:
        return default
    try:
        number = int(text.strip())
    except ValueError:
        raise HeaderError(f"header {name}: expected an integer, got {_show(text)}") from None
    if not low <= number <= high:
        raise HeaderError(f"header {name}: expected {low}..{high}, got {number}")
    return number


def _text(texts: dict[str, str], name: str) -> str | None:
    text = texts.get(name)
    if text is not None and not 0 < len(text) <= MAX_TEXT:
        raise HeaderError(f"header {name}: expected 1..{MAX_TEXT} characters, got {len(text)}")
    return text


def _flag(texts: dict[str, str], name: str) -> bool:
    text = texts.get(name)
    if text is None:
        return False
    if text != "1":
        raise HeaderError(f"header {name}: expected 1, got {_show(text)}")
    return True


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def due_seconds(headers: Headers) -> float:
    """When a retry record is due (epoch seconds); 0 when its header is missing or bad (the
    dispatcher then records why)."""
    for name, raw in headers:
        if name == DUE and raw is not None:
            try:
                due = int(raw) / 1000
            except ValueError:
                return 0.0
            return due if math.isfinite(due) else 0.0
    return 0.0
