"""Each connector masks its credentials, in every encoding it sends them, in its errors.

The emulators echo the credentials a request carried in every refusal (headers and the
query string, first in the body, as stores' error pages do), so each case below has a
secret to leak: the error text must carry the mask where the echo was, and no form of it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from connectors import CONNECTORS
from connectors.emulators.base import Fault, PlatformEmulator
from streams.errors import DeliveryError
from streams.records import Action, EventType, OrderEvent
from streams.secrets import MASK
from tests.contract import (
    test_magento2,
    test_mercadolivre,
    test_nuvemshop,
    test_shopify,
    test_tray,
    test_vtex,
    test_woocommerce,
)
from tests.contract.harness import connected, run
from tests.factories import event

# platform: (emulator, action, event, secret the emulator accepts, path under the base URL)
Case = tuple[Callable[[], PlatformEmulator], Action, OrderEvent, str, str]
CASES: dict[str, Case] = {
    "vtex": (
        test_vtex.emulator,
        Action.INVOICE,
        test_vtex.order_event(),
        test_vtex.SECRET,
        "",
    ),
    "shopify": (
        test_shopify.emulator,
        Action.SHIP_WITH_TRACKING,
        test_shopify.shipped(),
        test_shopify.SECRET,
        "",
    ),
    "nuvemshop": (
        test_nuvemshop.emulator,
        Action.CANCEL,
        event(EventType.CANCELED, order=str(test_nuvemshop.ORDER)),
        test_nuvemshop.SECRET,
        test_nuvemshop.STORE_PATH,
    ),
    "magento2": (
        test_magento2.emulator,
        Action.CANCEL,
        event(EventType.CANCELED, order=test_magento2.ORDER),
        test_magento2.TOKEN,
        test_magento2.REST,
    ),
    "woocommerce": (
        test_woocommerce.emulator,
        Action.CANCEL,
        event(EventType.CANCELED, order=test_woocommerce.ORDER),
        test_woocommerce.SECRET,
        "",
    ),
    "tray": (
        test_tray.emulator,
        Action.INVOICE,
        test_tray.order_event(),
        test_tray.TOKEN,
        test_tray.PATH,
    ),
    "mercadolivre": (
        test_mercadolivre.emulator,
        Action.SHIP_WITH_TRACKING,
        event(EventType.SHIPPED, order=test_mercadolivre.ORDER),
        test_mercadolivre.TOKEN,
        "",
    ),
}


def leaked_forms(secret: str) -> list[str]:
    parts = [secret, *(p for p in secret.split(":") if len(p) >= 4)]
    basic = base64.b64encode(secret.encode()).decode()
    return [*parts, *(quote(p, safe="") for p in parts), basic]


def error_of(case: Case, faults: list[Fault], secret: str) -> DeliveryError:
    make, action, order_event, _, path = case
    emulator = make()
    emulator.fail_next(*faults)

    async def go() -> DeliveryError:
        platform = next(p for p, c in CASES.items() if c is case)
        async with connected(emulator, CONNECTORS[platform], secret=secret, path=path) as (
            _,
            connector,
        ):
            try:
                await connector.send(action, order_event)
            except DeliveryError as exc:
                return exc
        raise AssertionError("the call succeeded: nothing to mask")

    return run(go())


@pytest.mark.parametrize(
    ("faults", "wrong_secret"),
    [([Fault(503)], False), ([Fault(400)], False), ([], True)],
    ids=["503", "400", "refused-credentials"],
)
@pytest.mark.parametrize("platform", list(CASES))
def test_credentials_echoed_by_the_store_never_reach_the_error_text(
    platform: str, faults: list[Fault], wrong_secret: bool
) -> None:
    case = CASES[platform]
    secret = case[3]
    if wrong_secret:  # a refused token is echoed too; keep the shape the connector needs
        secret = ":".join(f"{p}-wrong-0000" for p in secret.split(":"))
    error: Any = error_of(case, faults, secret)
    text = str(error)
    assert MASK in text, f"the store echoed nothing to mask: {text}"
    for form in leaked_forms(secret):
        assert form not in text, f"{platform} leaked {form!r} in: {text}"
