from __future__ import annotations

from streams.redact import MASK, redact


def test_known_secret_values_are_masked() -> None:
    assert redact("token abc-123-xyz leaked", ["abc-123-xyz"]) == f"token {MASK} leaked"


def test_query_string_and_bearer_tokens_are_masked() -> None:
    text = "GET /orders?access_token=T0k3n&page=2 Authorization: Bearer eyJhbGc.x.y"
    out = redact(text)
    assert "T0k3n" not in out and "eyJhbGc" not in out
    assert "page=2" in out


def test_json_style_secrets_are_masked() -> None:
    out = redact('{"password": "hunter22", "user": "ana"}')
    assert "hunter22" not in out and '"user": "ana"' in out
