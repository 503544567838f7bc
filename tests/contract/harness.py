"""Runs a connector against its platform emulator on loopback, for contract tests.

    async with connected(VtexEmulator(), VtexConnector, secret="key:token") as (emu, conn):
        await conn.send(Action.INVOICE, event(...))
        call = emu.accepted("invoice")[0]

``check_classification`` drives the shared fault table (429 + Retry-After, 5xx, 4xx,
bad credentials, a slow answer past the timeout, a dropped connection) through one
action of a connector, so every platform is held to the same rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from connectors.base import Connector
from connectors.emulators.base import Fault, PlatformEmulator
from connectors.http import make_client
from connectors.nfe import NfeSource
from streams.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from streams.records import Action, OrderEvent
from streams.secrets import Secret
from tests.factories import config

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@asynccontextmanager
async def connected(
    emulator: PlatformEmulator,
    connector_cls: type[Connector],
    *,
    secret: str | None = "test-secret-value",
    path: str = "",
    timeout_s: float = 2.0,
    documents: NfeSource | None = None,
    **config_overrides: Any,
) -> AsyncIterator[tuple[PlatformEmulator, Connector]]:
    base = await emulator.start()
    store_url = f"{base}{path}"
    client = make_client(store_url, timeout_s=timeout_s, allowed=LOOPBACK)
    cfg = config(
        platform=connector_cls.platform,
        store_url=store_url,
        credentials_ref="STORE_SECRET" if secret else None,
        **config_overrides,
    )
    connector = connector_cls(cfg, Secret(secret) if secret else None, client, documents=documents)
    try:
        yield emulator, connector
    finally:
        await client.aclose()
        await emulator.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def check_classification(
    make_emulator: Callable[[], PlatformEmulator],
    connector_cls: type[Connector],
    action: Action,
    event: OrderEvent,
    *,
    secret: str = "test-secret-value",
    wrong_secret: str = "wrong-secret-value",
    refused: tuple[type[DeliveryError], str] = (PermanentDeliveryError, "AUTH_REJECTED"),
    path: str = "",
    platform_status: str | None = None,
    **config_overrides: Any,
) -> None:
    """The shared status/fault table, through one action of one connector."""

    async def outcome(
        faults: list[Fault], use_secret: str = secret, timeout_s: float = 2.0
    ) -> DeliveryError | None:
        emulator = make_emulator()
        emulator.fail_next(*faults)
        async with connected(
            emulator,
            connector_cls,
            secret=use_secret,
            path=path,
            timeout_s=timeout_s,
            **config_overrides,
        ) as (_, connector):
            try:
                await connector.send(action, event, platform_status)
            except DeliveryError as exc:
                return exc
        return None

    cases: list[tuple[str, list[Fault], dict[str, Any], type[DeliveryError], str]] = [
        ("429", [Fault(429, retry_after="7")], {}, RetryableDeliveryError, "RATE_LIMITED"),
        ("503", [Fault(503)], {}, RetryableDeliveryError, "HTTP_SERVER_ERROR"),
        ("500", [Fault(500)], {}, RetryableDeliveryError, "HTTP_SERVER_ERROR"),
        ("400", [Fault(400)], {}, PermanentDeliveryError, "HTTP_REJECTED"),
        ("422", [Fault(422)], {}, PermanentDeliveryError, "HTTP_REJECTED"),
        ("slow", [Fault(200, delay_s=1.0)], {"timeout_s": 0.3}, RetryableDeliveryError, "TIMEOUT"),
        ("drop", [Fault(drop=True)], {}, RetryableDeliveryError, "CONNECTION_ERROR"),
        ("credentials", [], {"use_secret": wrong_secret}, *refused),
    ]
    for name, faults, options, error_type, reason in cases:
        error = run(outcome(faults, **options))
        assert isinstance(error, error_type), f"{name}: got {error!r}"
        assert error.reason_code == reason, f"{name}: got {error.reason_code}"
        if name == "429":
            assert error.retry_after_s == 7.0
    assert run(outcome([])) is None, "the action itself must succeed without faults"


__all__ = ["LOOPBACK", "check_classification", "connected", "pytest", "run"]
