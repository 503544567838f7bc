"""API tokens: each belongs to one tenant (or ``*`` for every tenant) and one role.

Both processes' ``/api/`` routes need one (``api_middleware``); ``/health``, ``/metrics``
and the report page itself stay open.

Tokens come from the environment, one variable each:
``ORDERSYNC_API_TOKEN_<NAME>=<tenant>:<role>:<token>`` with role ``viewer`` (reads) or
``operator`` (reads and resends). Only a SHA-256 digest of each token is kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from streams.errors import ConfigurationError
from streams.secrets import Secret

ROLES = ("viewer", "operator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALL_TENANTS = "*"
PREFIX = "ORDERSYNC_API_TOKEN_"


@dataclass(frozen=True)
class Principal:
    name: str
    tenant: str
    role: str

    @property
    def can_resend(self) -> bool:
        return self.role == "operator"

    def sees(self, tenant: str) -> bool:
        return self.tenant in (ALL_TENANTS, tenant)

    def scope(self) -> str | None:
        """The tenant every query must be limited to; None for all tenants."""
        return None if self.tenant == ALL_TENANTS else self.tenant


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    def __init__(self, principals: Mapping[bytes, Principal]) -> None:
        self._principals = dict(principals)

    @classmethod
    def from_settings(cls, tokens: Mapping[str, Secret]) -> Tokens:
        return cls.from_env({key: secret.reveal() for key, secret in tokens.items()})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tokens:
        principals: dict[bytes, Principal] = {}
        for key, value in env.items():
            if not key.startswith(PREFIX):
                continue
            name = key.removeprefix(PREFIX)
            parts = value.split(":", 2)
            if len(parts) != 3 or parts[1] not in ROLES or not parts[0] or len(parts[2]) < 16:
                raise ConfigurationError(
                    f"{key}: expected <tenant>:<viewer|operator>:<token of 16+ characters>"
                )
            tenant, role, token = parts
            principals[_digest(token)] = Principal(name.lower(), tenant, role)
        return cls(principals)

    def __len__(self) -> int:
        return len(self._principals)

    def authenticate(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise web.HTTPUnauthorized(
                text='{"error": "a bearer token is required"}',
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = _digest(token.strip())
        for known, principal in self._principals.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise web.HTTPUnauthorized(
            text='{"error": "unknown token"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )


PRINCIPAL = web.RequestKey("principal", Principal)


def api_middleware(tokens: Tokens) -> Middleware:
    """Every ``/api/`` request presents a known token; its principal is ``request[PRINCIPAL]``."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            request[PRINCIPAL] = tokens.authenticate(request)
        return await handler(request)

    return authenticate
