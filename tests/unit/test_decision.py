"""The routing decision, by table: the product article's rules, one row each."""

from __future__ import annotations

import itertools

import pytest

from connectors import CONNECTORS
from streams.decision import OrderState, Send, Skip, decide
from streams.reasons import ReasonCode as R
from streams.records import Action as A
from streams.records import EventType as E
from tests.factories import config, event

ALL = frozenset(A)
NO_STATE = OrderState()


@pytest.mark.parametrize(
    ("event_type", "flags", "fulfillment", "expected"),
    [
        # automation 1: order updates
        (E.INVOICE_AUTHORIZED, (1, 0, 0), False, Send(A.INVOICE)),
        (E.INVOICE_AUTHORIZED, (0, 1, 1), False, Skip(R.AUTOMATION_ORDER_UPDATES_OFF)),
        (E.PICKING_STARTED, (1, 0, 0), False, Send(A.START_HANDLING)),
        (E.PICKING_STARTED, (0, 1, 1), False, Skip(R.AUTOMATION_ORDER_UPDATES_OFF)),
        (E.STATUS_CHANGED, (1, 0, 0), False, Send(A.UPDATE_STATUS, "ready")),
        (E.STATUS_CHANGED, (0, 1, 1), True, Skip(R.AUTOMATION_ORDER_UPDATES_OFF)),
        # automation 2: cancellations
        (E.CANCELED, (0, 1, 0), False, Send(A.CANCEL)),
        (E.CANCELED, (1, 0, 1), False, Skip(R.AUTOMATION_CANCELLATIONS_OFF)),
        (E.CANCELED, (0, 1, 0), True, Send(A.CANCEL)),
        # automation 3: delivery information, never in Fulfillment mode
        (E.DELIVERED, (0, 0, 1), False, Send(A.DELIVER)),
        (E.DELIVERED, (1, 1, 0), False, Skip(R.AUTOMATION_DELIVERY_INFO_OFF)),
        (E.DELIVERED, (1, 1, 1), True, Skip(R.FULFILLMENT_MODE)),
        # SHIPPED: tracking with automation 3, status only with automation 1
        (E.SHIPPED, (1, 0, 1), False, Send(A.SHIP_WITH_TRACKING)),
        (E.SHIPPED, (0, 0, 1), False, Send(A.SHIP_WITH_TRACKING)),
        (E.SHIPPED, (1, 0, 0), False, Send(A.SHIP)),
        (E.SHIPPED, (1, 0, 1), True, Send(A.SHIP)),
        (E.SHIPPED, (0, 0, 1), True, Skip(R.FULFILLMENT_MODE)),
        (E.SHIPPED, (0, 1, 0), False, Skip(R.AUTOMATIONS_OFF)),
    ],
)
def test_automations_and_fulfillment(
    event_type: E, flags: tuple[int, int, int], fulfillment: bool, expected: object
) -> None:
    cfg = config(
        send_order_updates=bool(flags[0]),
        send_cancellations=bool(flags[1]),
        send_delivery_info=bool(flags[2]),
        fulfillment_mode=fulfillment,
    )
    assert decide(event(event_type), cfg, NO_STATE, ALL) == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"platform": "magento1"}, R.MAGENTO1_SCHEDULED_SYNC),
        ({"platform": "magento", "platform_version": "1.9.4"}, R.MAGENTO1_SCHEDULED_SYNC),
        ({"platform": "magento2", "platform_version": "1.9"}, R.MAGENTO1_SCHEDULED_SYNC),
        ({"enabled": False}, R.INTEGRATION_DISABLED),
        ({"tenant": "other"}, R.TENANT_MISMATCH),
    ],
)
def test_integration_level_skips(overrides: dict[str, object], reason: R) -> None:
    for event_type in E:
        assert decide(event(event_type), config(**overrides), NO_STATE, ALL) == Skip(reason)


def test_unknown_integration_is_an_error_not_a_silent_drop() -> None:
    decision = decide(event(), None, NO_STATE, ALL)
    assert decision == Skip(R.UNKNOWN_INTEGRATION)
    assert isinstance(decision, Skip) and decision.is_error


def test_unknown_platform_is_an_error() -> None:
    decision = decide(event(), config(platform="nope"), NO_STATE, None)
    assert decision == Skip(R.UNKNOWN_PLATFORM) and decision.is_error


def test_magento2_is_sent() -> None:
    cfg = config(platform="magento2", platform_version="2.4.7")
    assert decide(event(), cfg, NO_STATE, ALL) == Send(A.INVOICE)


@pytest.mark.parametrize(
    ("supported", "event_type", "expected"),
    [
        (ALL - {A.CANCEL}, E.CANCELED, Skip(R.ACTION_UNSUPPORTED)),
        (ALL - {A.SHIP_WITH_TRACKING}, E.SHIPPED, Send(A.SHIP)),
        (ALL - {A.SHIP_WITH_TRACKING, A.SHIP}, E.SHIPPED, Skip(R.ACTION_UNSUPPORTED)),
        # picking on a platform without a handling call becomes the mapped status
        (ALL - {A.START_HANDLING}, E.PICKING_STARTED, Send(A.UPDATE_STATUS, "handling")),
        (ALL - {A.START_HANDLING, A.UPDATE_STATUS}, E.PICKING_STARTED, Skip(R.ACTION_UNSUPPORTED)),
    ],
)
def test_platform_capabilities(supported: frozenset[A], event_type: E, expected: object) -> None:
    assert decide(event(event_type), config(), NO_STATE, supported) == expected


def test_unmapped_status_is_a_recorded_skip_not_a_guess() -> None:
    cfg = config(status_map={})
    assert decide(event(E.STATUS_CHANGED), cfg, NO_STATE, ALL) == Skip(R.STATUS_UNMAPPED)


def test_older_update_than_one_delivered_is_superseded() -> None:
    state = OrderState(delivered={"SHIP": 5})
    assert decide(event(E.SHIPPED, sequence=4), config(), state, ALL) == Skip(R.SUPERSEDED_BY_NEWER)
    assert decide(event(E.SHIPPED, sequence=6), config(), state, ALL) == Send(A.SHIP_WITH_TRACKING)
    # another kind of update is not superseded by a shipment
    assert decide(event(E.DELIVERED, sequence=4), config(), state, ALL) == Send(A.DELIVER)


def test_every_combination_yields_exactly_one_decision_and_respects_fulfillment() -> None:
    for flags in itertools.product([False, True], repeat=4):
        cfg = config(
            send_order_updates=flags[0],
            send_cancellations=flags[1],
            send_delivery_info=flags[2],
            fulfillment_mode=flags[3],
        )
        for event_type in E:
            decision = decide(event(event_type), cfg, NO_STATE, ALL)
            assert isinstance(decision, Send | Skip)
            if cfg.fulfillment_mode and isinstance(decision, Send):
                assert decision.action not in (A.DELIVER, A.SHIP_WITH_TRACKING)
            if isinstance(decision, Send) and decision.action is A.CANCEL:
                assert cfg.send_cancellations


# -- the full matrix: 2^3 flags x Fulfillment x every event type x Magento 1.x / other -------
# The expected decision is written out per event type from the article, independently of
# decision.py's structure: (order updates, cancellations, delivery info, fulfillment) -> result.
def expected(event_type: E, upd: bool, canc: bool, deliv: bool, ff: bool, magento1: bool) -> object:
    if magento1:
        return Skip(R.MAGENTO1_SCHEDULED_SYNC)
    table = {
        E.INVOICE_AUTHORIZED: Send(A.INVOICE) if upd else Skip(R.AUTOMATION_ORDER_UPDATES_OFF),
        E.PICKING_STARTED: Send(A.START_HANDLING) if upd else Skip(R.AUTOMATION_ORDER_UPDATES_OFF),
        E.STATUS_CHANGED: Send(A.UPDATE_STATUS, "ready") if upd else Skip(R.AUTOMATION_ORDER_UPDATES_OFF),
        E.CANCELED: Send(A.CANCEL) if canc else Skip(R.AUTOMATION_CANCELLATIONS_OFF),
        E.DELIVERED: (
            Skip(R.AUTOMATION_DELIVERY_INFO_OFF) if not deliv
            else Skip(R.FULFILLMENT_MODE) if ff
            else Send(A.DELIVER)
        ),
        E.SHIPPED: (
            Send(A.SHIP_WITH_TRACKING) if deliv and not ff
            else Send(A.SHIP) if upd
            else Skip(R.FULFILLMENT_MODE) if deliv
            else Skip(R.AUTOMATIONS_OFF)
        ),
    }  # fmt: skip
    return table[event_type]


MATRIX = [
    (event_type, *flags) for event_type in E for flags in itertools.product([False, True], repeat=5)
]


@pytest.mark.parametrize(("event_type", "upd", "canc", "deliv", "ff", "magento1"), MATRIX)
def test_full_matrix(
    event_type: E, upd: bool, canc: bool, deliv: bool, ff: bool, magento1: bool
) -> None:
    cfg = config(
        send_order_updates=upd,
        send_cancellations=canc,
        send_delivery_info=deliv,
        fulfillment_mode=ff,
        platform="magento1" if magento1 else "magento2",
        platform_version="1.9" if magento1 else "2.4",
    )
    assert decide(event(event_type), cfg, NO_STATE, ALL) == expected(
        event_type, upd, canc, deliv, ff, magento1
    )


# -- properties over generated configs and events --------------------------------------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

configs = st.builds(
    config,
    platform=st.sampled_from(["sandbox", "vtex", "magento1", "magento2", "magento"]),
    platform_version=st.one_of(st.none(), st.sampled_from(["1.9.4", "2.4.7", "1.0"])),
    tenant=st.sampled_from(["acme", "other"]),
    enabled=st.booleans(),
    fulfillment_mode=st.booleans(),
    send_order_updates=st.booleans(),
    send_cancellations=st.booleans(),
    send_delivery_info=st.booleans(),
    status_map=st.dictionaries(st.sampled_from(["20", "30", "99"]), st.sampled_from(["a", "b"])),
)
states = st.builds(
    OrderState,
    delivered=st.dictionaries(st.sampled_from(["SHIP", "DELIVER", "INVOICE"]), st.integers(0, 5)),
)
supported_sets = st.frozensets(st.sampled_from(list(A)))


@given(
    cfg=configs,
    event_type=st.sampled_from(list(E)),
    sequence=st.integers(0, 6),
    state=states,
    supported=supported_sets,
)
def test_decision_properties(
    cfg: object, event_type: E, sequence: int, state: OrderState, supported: frozenset[A]
) -> None:
    ev = event(event_type, sequence=sequence)
    decision = decide(ev, cfg, state, supported)  # type: ignore[arg-type]
    c = cfg  # type: ignore[assignment]
    if isinstance(decision, Send):
        # something is only sent when its automation is on, the integration is usable,
        # the platform can take it, and nothing newer of its kind went out
        assert c.enabled and c.tenant == ev.tenant  # type: ignore[attr-defined]
        version = c.platform_version or ""  # type: ignore[attr-defined]
        assert c.platform != "magento1"  # type: ignore[attr-defined]
        assert not (c.platform in ("magento", "magento2") and version.startswith("1"))  # type: ignore[attr-defined]
        assert decision.action in supported
        if decision.action is A.CANCEL:
            assert c.send_cancellations  # type: ignore[attr-defined]
        elif decision.action in (A.DELIVER, A.SHIP_WITH_TRACKING):
            assert c.send_delivery_info and not c.fulfillment_mode  # type: ignore[attr-defined]
        else:
            assert c.send_order_updates  # type: ignore[attr-defined]
        if decision.action is A.UPDATE_STATUS:
            assert decision.platform_status in c.status_map.values()  # type: ignore[attr-defined]
        kind = (
            "SHIP" if decision.action in (A.SHIP, A.SHIP_WITH_TRACKING) else decision.action.value
        )
        assert state.delivered.get(kind, -1) <= sequence
    else:
        assert decision.reason in R


# -- per platform: what each connector's actions make of the NF-e event ----------------------
@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("mercadolivre", Send(A.INVOICE)),  # the NF-e is imported (connectors/nfe.py)
        ("vtex", Send(A.INVOICE)),
        ("shopify", Skip(R.ACTION_UNSUPPORTED)),
    ],
)
def test_the_nfe_event_per_platform(platform: str, expected: object) -> None:
    supported = CONNECTORS[platform].actions
    decision = decide(event(E.INVOICE_AUTHORIZED), config(platform=platform), NO_STATE, supported)
    assert decision == expected
