"""The chaos run's accounting of repeated deliveries: each one is held to the worker fault
it followed, and one that followed none is listed."""

from __future__ import annotations

from chaos.run import attribute_repeats


def test_repeats_are_held_to_the_sends_in_flight_at_each_fault() -> None:
    faults = [
        {"signal": "SIGKILL", "at": 100.0, "gone_at": 100.2, "sending": ["a", "b"]},
        {"signal": "SIGTERM", "at": 200.0, "gone_at": 203.0, "sending": ["c"]},
    ]
    repeated = [
        {"event_id": "a", "action": "invoice", "first_received_at": 99.0},  # in the snapshot
        {"event_id": "x", "action": "invoice", "first_received_at": 100.9},  # sent after it
        {"event_id": "c", "action": "invoice", "first_received_at": 199.0},  # graceful: a fault
        {"event_id": "z", "action": "cancel", "first_received_at": 150.0},  # no fault near
    ]
    blame = attribute_repeats(repeated, faults)
    assert blame["counts"] == {"SIGKILL": 2, "SIGTERM": 1}
    assert [r["event_id"] for r in blame["outside"]] == ["z"]
