from __future__ import annotations

from pathlib import Path

from streams.reasons import ENGLISH, PT_BR, ReasonCode, markdown_table

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_code_has_report_text() -> None:
    for texts in (PT_BR, ENGLISH):
        assert set(texts) == set(ReasonCode)
        assert all(text.strip() for text in texts.values())


def test_documented_list_matches_the_code() -> None:
    assert markdown_table() in (ROOT / "docs" / "reason-codes.md").read_text()
