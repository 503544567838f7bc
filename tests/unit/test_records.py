"""The ids an outcome carries: a terminal one's is the same however often it is decided."""

from __future__ import annotations

import uuid

import pytest

from streams.records import TERMINAL_NAMESPACE, terminal_outcome_id


@pytest.mark.parametrize(
    ("tenant", "event_key", "resend_of"),
    [
        ("acme", "7c9e6679-7425-40de-944b-e07fc1f90ae7", None),
        ("globex", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "3f2b"),
        ("ação", "orders.events:3:1234", ""),
        ("", "", None),
    ],
)
def test_a_terminal_outcome_id_is_the_uuid5_of_tenant_event_and_resend(
    tenant: str, event_key: str, resend_of: str | None
) -> None:
    expected = uuid.uuid5(TERMINAL_NAMESPACE, f"{tenant}|{event_key}|{resend_of or ''}")
    assert terminal_outcome_id(tenant, event_key, resend_of) == str(expected)
