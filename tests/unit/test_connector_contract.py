"""Every platform connector is the four parts of the contract and nothing of the base's."""

from __future__ import annotations

import asyncio

import pytest

from connectors import CONNECTORS
from connectors.base import Connector
from connectors.graphql import GraphQLConnector
from connectors.http import make_client
from streams.errors import PermanentDeliveryError
from streams.records import Action
from tests.factories import config, event

CONTRACT = {"actions", "authenticate", "perform", "classify"}
SETTINGS = {"platform", "default_rate_per_s", "endpoint"}
BASES = (Connector, GraphQLConnector)


def overridden(cls: type[Connector]) -> set[str]:
    """What the class redefines of its bases, above any base of the project."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass in BASES or klass is object:
            break
        names |= {
            name
            for name in vars(klass)
            if not name.startswith("__") and any(hasattr(base, name) for base in BASES)
        }
    return names


@pytest.mark.parametrize("platform", sorted(CONNECTORS))
def test_a_platform_fills_only_the_contract(platform: str) -> None:
    cls = CONNECTORS[platform]
    assert overridden(cls) - SETTINGS <= CONTRACT
    assert "perform" in vars(cls) and "actions" in vars(cls)


def test_the_check_sees_a_connector_that_overrides_the_call() -> None:
    class Sneaky(Connector):
        platform = "sneaky"
        actions = frozenset({Action.INVOICE})

        async def call(self, request, *, inspect=()):  # type: ignore[no-untyped-def]
            raise AssertionError

    assert overridden(Sneaky) - SETTINGS - CONTRACT == {"call"}


@pytest.mark.parametrize("platform", sorted(p for p in CONNECTORS if p != "sandbox"))
def test_an_action_left_out_is_refused_before_any_call(platform: str) -> None:
    cls = CONNECTORS[platform]
    missing = sorted(set(Action) - cls.actions)
    if not missing:
        pytest.skip(f"{platform} supports every action")

    async def go() -> PermanentDeliveryError:
        # a client that may call no address: a call would fail as ADDRESS_BLOCKED
        client = make_client("http://127.0.0.1:1/", timeout_s=0.5, allowed=())
        connector = cls(config(platform=platform), None, client)
        try:
            with pytest.raises(PermanentDeliveryError) as caught:
                await connector.send(missing[0], event())
            return caught.value
        finally:
            await client.aclose()

    assert asyncio.run(go()).reason_code == "ACTION_UNSUPPORTED"
