"""A JSON call to one of ordersync's own HTTP APIs, with its bearer token."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def http_json(url: str, body: Any = None, timeout: float = 5.0, token: str | None = None) -> Any:
    """GET ``url`` (POST when ``body`` is given) and return its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read())
