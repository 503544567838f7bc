"""Every secret the process holds is masked, in every form it can leave in."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from connectors.base import Connector
from streams.logs import JsonFormatter
from streams.redact import redact
from streams.secrets import MASK, Secret, SecretMasker
from streams.settings import Settings
from tests.factories import config

SECRET = "ck_live_1234567890:cs_live_abcdefghij/+="


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        base64.b64encode(SECRET.encode()).decode(),  # an HTTP Basic header's value
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
        json.dumps(SECRET)[1:-1],
    ],
    ids=["raw", "quoted", "quoted-plus", "basic", "urlsafe-b64", "json"],
)
def test_a_held_secret_is_masked_in_each_encoding(form: str) -> None:
    Secret(SECRET)
    text = f"store answered 401: {{'echo': '{form}'}} for order 42"
    assert redact(text) == f"store answered 401: {{'echo': '{MASK}'}} for order 42"


def test_a_connector_masks_the_halves_it_sends_apart() -> None:
    Connector(config(), Secret("vtexappkey-loja-XYZ:TOKENVALUE123456"), None)  # type: ignore[arg-type]
    text = redact("X-VTEX-API-AppKey: vtexappkey-loja-XYZ X-VTEX-API-AppToken: TOKENVALUE123456")
    assert "vtexappkey-loja-XYZ" not in text and "TOKENVALUE123456" not in text


def test_an_excerpt_cut_in_the_middle_of_a_secret_is_masked_to_its_end() -> None:
    Secret("tail-secret-0987654321")
    assert redact("refused token tail-secret-09") == f"refused token {MASK}"


def test_settings_hold_no_password_in_their_repr_and_mask_it_in_logs() -> None:
    settings = Settings.from_env(
        {
            "ORDERSYNC_CLICKHOUSE_DSN": "https://ana:dsn-pass-7777@ch.example:8443/db",
            "ORDERSYNC_API_TOKEN_OPS": "acme:operator:api-token-value-5555",
            "ORDERSYNC_SIGNING_KEY": "signing-key-of-the-secrets-test-0123456789",
        }
    )
    shown = repr(settings)
    assert "dsn-pass-7777" not in shown and "api-token-value-5555" not in shown
    assert "signing-key-of-the-secrets" not in shown
    line = redact(
        "connect to ch.example failed: password dsn-pass-7777; token api-token-value-5555"
    )
    assert "dsn-pass-7777" not in line and "api-token-value-5555" not in line
    # the tenant and the role of a token are not secret, and stay readable
    assert "acme" in redact("tenant acme, role operator")
    assert "operator" in redact("tenant acme, role operator")
    query = Settings.from_env(
        {"ORDERSYNC_CLICKHOUSE_DSN": "http://ch:8123/db?password=qs-pass-8888"}
    )
    assert "qs-pass-8888" not in repr(query) and "qs-pass-8888" not in redact("qs-pass-8888")


def test_a_secret_read_from_a_file_is_masked_in_json_log_lines(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "LOJA_TOKEN").write_text("file-secret-4444\n")
    settings = Settings.from_env({"ORDERSYNC_SECRETS_DIR": str(directory)})
    assert settings.secret("LOJA_TOKEN") is not None
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "refused: %s", ("file-secret-4444",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == f"refused: {MASK}"


def test_the_masker_forgets_the_oldest_secrets_first() -> None:
    masker = SecretMasker()
    masker.MAX_HELD = 2
    for value in ("first-secret", "second-secret", "third-secret"):
        masker.add(value)
    assert masker.mask("first-secret second-secret third-secret") == f"first-secret {MASK} {MASK}"


def test_short_values_are_not_masked_and_ordinary_text_is_left_alone() -> None:
    masker = SecretMasker()
    masker.add("abc")
    assert masker.mask("abc abcdef") == "abc abcdef"
