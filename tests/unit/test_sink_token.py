from __future__ import annotations

from streams.history.sink import dedup_token


def test_token_is_stable_for_the_same_offsets_in_any_order() -> None:
    a = dedup_token([("o", 0, 5), ("o", 1, 9), ("o", 0, 6)])
    b = dedup_token([("o", 0, 6), ("o", 0, 5), ("o", 1, 9)])
    assert a == b == "o:0:5-6:2;o:1:9-9:1"


def test_token_differs_when_offsets_differ() -> None:
    assert dedup_token([("o", 0, 5)]) != dedup_token([("o", 0, 6)])
