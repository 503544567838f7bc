"""Removes secrets from any text before it leaves the process (logs, outcomes, DLT)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# Tokens carried in query strings or bodies, e.g. Tray's ?access_token=...
_TOKEN_PARAM = re.compile(
    r"(?i)((?:access_token|token|api_key|apikey|app_token|apptoken|secret|password|consumer_secret)"
    r"[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
            # an excerpt cut at a fixed length may end with the secret half-written
            for size in range(len(secret) - 1, 3, -1):
                if text.endswith(secret[:size]):
                    text = text[:-size] + MASK
                    break
    text = _TOKEN_PARAM.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)
