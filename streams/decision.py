"""The routing decision: pure, no I/O, no clock. The product article, as code.

- Automation 1 ("send order updates") gates INVOICE_AUTHORIZED, PICKING_STARTED,
  STATUS_CHANGED and the status part of SHIPPED.
- Automation 2 ("send cancelled status") gates CANCELED.
- Automation 3 ("send delivery information") gates tracking and DELIVERED, and never
  applies to an integration in Fulfillment mode.
- Magento 1.x stores stay on scheduled sync: never sent.

A SHIPPED event becomes exactly one action, so it has exactly one terminal outcome:
with automation 3 usable it is SHIP_WITH_TRACKING (the shipment call carries the
tracking code); with only automation 1 it is SHIP (status only, tracking withheld);
with neither it is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.reasons import ReasonCode
from streams.records import Action, EventType, IntegrationConfig, OrderEvent

# Decisions that an operator must act on show in the "Erros" tab; the others are skips.
ERROR_REASONS = frozenset(
    {ReasonCode.UNKNOWN_INTEGRATION, ReasonCode.TENANT_MISMATCH, ReasonCode.UNKNOWN_PLATFORM}
)


@dataclass(frozen=True, slots=True)
class Send:
    action: Action
    platform_status: str | None = None  # for UPDATE_STATUS, from the status map


@dataclass(frozen=True, slots=True)
class Skip:
    reason: ReasonCode

    @property
    def is_error(self) -> bool:
        return self.reason in ERROR_REASONS


Decision = Send | Skip


@dataclass(frozen=True, slots=True)
class OrderState:
    """What has been delivered for one order: the highest sequence per kind of update."""

    delivered: Mapping[str, int] = field(default_factory=dict)


def update_kind(action: Action) -> str:
    """Actions that overwrite the same thing on the platform share a kind."""
    return "SHIP" if action in (Action.SHIP, Action.SHIP_WITH_TRACKING) else action.value


def is_magento1(config: IntegrationConfig) -> bool:
    if config.platform == "magento1":
        return True
    return config.platform in ("magento", "magento2") and (
        config.platform_version or ""
    ).startswith("1")


def decide(
    event: OrderEvent,
    config: IntegrationConfig | None,
    state: OrderState,
    supported: frozenset[Action] | None,
) -> Decision:
    """``supported`` is the connector's action set; ``None`` when the platform is unknown."""
    if config is None:
        return Skip(ReasonCode.UNKNOWN_INTEGRATION)
    if config.tenant != event.tenant:
        return Skip(ReasonCode.TENANT_MISMATCH)
    if not config.enabled:
        return Skip(ReasonCode.INTEGRATION_DISABLED)
    if is_magento1(config):
        return Skip(ReasonCode.MAGENTO1_SCHEDULED_SYNC)
    wanted = _wanted(event, config)
    if isinstance(wanted, Skip):
        return wanted
    if supported is None:
        return Skip(ReasonCode.UNKNOWN_PLATFORM)
    decision = _fit_to_platform(event, config, wanted, supported)
    if isinstance(decision, Send):
        done = state.delivered.get(update_kind(decision.action))
        if done is not None and done > event.sequence:
            return Skip(ReasonCode.SUPERSEDED_BY_NEWER)
    return decision


def _wanted(event: OrderEvent, config: IntegrationConfig) -> Send | Skip:
    delivery_usable = config.send_delivery_info and not config.fulfillment_mode
    match event.event_type:
        case EventType.INVOICE_AUTHORIZED | EventType.PICKING_STARTED | EventType.STATUS_CHANGED:
            if not config.send_order_updates:
                return Skip(ReasonCode.AUTOMATION_ORDER_UPDATES_OFF)
            return Send(
                {
                    EventType.INVOICE_AUTHORIZED: Action.INVOICE,
                    EventType.PICKING_STARTED: Action.START_HANDLING,
                    EventType.STATUS_CHANGED: Action.UPDATE_STATUS,
                }[event.event_type]
            )
        case EventType.CANCELED:
            if not config.send_cancellations:
                return Skip(ReasonCode.AUTOMATION_CANCELLATIONS_OFF)
            return Send(Action.CANCEL)
        case EventType.DELIVERED:
            if not config.send_delivery_info:
                return Skip(ReasonCode.AUTOMATION_DELIVERY_INFO_OFF)
            if config.fulfillment_mode:
                return Skip(ReasonCode.FULFILLMENT_MODE)
            return Send(Action.DELIVER)
        case EventType.SHIPPED:
            if delivery_usable:
                return Send(Action.SHIP_WITH_TRACKING)
            if config.send_order_updates:
                return Send(Action.SHIP)
            if config.send_delivery_info:  # on, but refused by Fulfillment mode
                return Skip(ReasonCode.FULFILLMENT_MODE)
            return Skip(ReasonCode.AUTOMATIONS_OFF)
    raise AssertionError(f"unhandled event type {event.event_type}")  # pragma: no cover


def _fit_to_platform(
    event: OrderEvent, config: IntegrationConfig, wanted: Send, supported: frozenset[Action]
) -> Decision:
    action = wanted.action
    if action is Action.SHIP_WITH_TRACKING and action not in supported:
        # a platform without a tracking call can still be told the order shipped
        if config.send_order_updates and Action.SHIP in supported:
            return Send(Action.SHIP)
        return Skip(ReasonCode.ACTION_UNSUPPORTED)
    if action is Action.START_HANDLING and action not in supported:
        action = Action.UPDATE_STATUS  # picking becomes a mapped status change
    if action is Action.UPDATE_STATUS:
        if action not in supported:
            return Skip(ReasonCode.ACTION_UNSUPPORTED)
        code = event.status["code"] if event.status else None
        mapped = config.status_map.get(code) if code is not None else None
        if mapped is None:
            return Skip(ReasonCode.STATUS_UNMAPPED)
        return Send(Action.UPDATE_STATUS, platform_status=mapped)
    if action not in supported:
        return Skip(ReasonCode.ACTION_UNSUPPORTED)
    return Send(action)
