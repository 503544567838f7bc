from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigurationError
from streams.settings import Secret, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.registry_url.endswith("/apis/ccompat/v7")
    assert settings.clickhouse_url.startswith("chdb:///") and settings.clickhouse_url.endswith(
        "var/clickhouse"
    )
    assert settings.max_attempts == 3


def test_server_dsn_and_prefix() -> None:
    settings = Settings.from_env(
        {"ORDERSYNC_CLICKHOUSE_DSN": "http://ch:8123", "ORDERSYNC_TOPIC_PREFIX": "x."}
    )
    assert settings.clickhouse_url == "http://ch:8123"
    assert settings.topic("orders.events") == "x.orders.events"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDERSYNC_PARTITIONS": "many"}, "ORDERSYNC_PARTITIONS: expected an integer"),
        ({"ORDERSYNC_KAFKA_BOOTSTRAP": "localhost"}, "expected host:port"),
        ({"ORDERSYNC_CLICKHOUSE_DSN": "mysql://x"}, "ORDERSYNC_CLICKHOUSE_DSN"),
        ({"ORDERSYNC_ALLOWED_NETWORKS": "10.0.0.0/33"}, "is not a network"),
        ({"ORDERSYNC_MAX_ATTEMPTS": "0"}, "at least 1"),
        ({"ORDERSYNC_PRODUCE_LINGER_MS": "-1"}, "ORDERSYNC_PRODUCE_LINGER_MS: from 0 to 1000"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_secrets_never_print_themselves(tmp_path: Path) -> None:
    (tmp_path / "FROM_FILE").write_text("file-secret\n")
    settings = Settings.from_env(
        {"ORDERSYNC_SECRET_FROM_ENV": "env-secret", "ORDERSYNC_SECRETS_DIR": str(tmp_path)}
    )
    env_secret = settings.secret("FROM_ENV")
    file_secret = settings.secret("FROM_FILE")
    assert env_secret is not None and env_secret.reveal() == "env-secret"
    assert file_secret is not None and file_secret.reveal() == "file-secret"
    assert settings.secret("../etc/passwd") is None
    for text in (repr(settings), str(env_secret), f"{file_secret}"):
        assert "env-secret" not in text and "file-secret" not in text
    assert Secret("a") == Secret("a") != Secret("b")
