"""Removes secrets from any text before it leaves the process (logs, outcomes, DLT, page).

Every secret the process holds is masked by ``streams.secrets.MASKER``, in each of its
encodings; the patterns below catch what was never a held ``Secret`` (a token a store
echoes in a query string or a bearer header of its own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from streams.secrets import MASK, MASKER

# Tokens carried in query strings or bodies, e.g. Tray's ?access_token=...
_TOKEN_PARAM = re.compile(
    r"(?i)((?:access_token|token|api_key|apikey|app_token|apptoken|secret|password|consumer_secret)"
    r"[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
)
_BEARER = re.compile(r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any held secret, nor ``secrets`` (values not held as ``Secret``)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = MASKER.mask(text)
    text = _TOKEN_PARAM.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)
