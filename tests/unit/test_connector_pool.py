"""The connector pool's credentials: renewed from the secrets directory, never leaked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from connectors import CONNECTORS
from connectors.base import Connector, Performed
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import Action, OrderEvent
from streams.redact import redact
from streams.settings import Settings
from streams.worker.pool import ConnectorPool
from tests.factories import config, event

REF = "LOJA_TOKEN"


class EchoingConnector(Connector):
    """Waits to be let go, then fails with the token it started with in the platform's
    answer, as a platform echoing the token it refused would."""

    platform = "sandbox"
    actions = frozenset(Action)
    go: ClassVar[asyncio.Event]
    started: ClassVar[asyncio.Event]

    async def perform(
        self, action: Action, event: OrderEvent, platform_status: str | None
    ) -> Performed:
        token = self.require_credentials().reveal()
        EchoingConnector.started.set()
        await EchoingConnector.go.wait()
        raise PermanentDeliveryError(
            f"answered 401: token {token} refused", reason_code=ReasonCode.AUTH_REJECTED
        )


def pool(secrets: Path, recheck_s: float = 60.0) -> ConnectorPool:
    settings = Settings.from_env({"ORDERSYNC_SECRETS_DIR": str(secrets)})
    return ConnectorPool(settings, recheck_s=recheck_s)


def test_a_token_replaced_while_a_send_was_in_flight_stays_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CONNECTORS, "sandbox", EchoingConnector)
    (tmp_path / REF).write_text("token-old-1111")
    connectors = pool(tmp_path)
    cfg = config(credentials_ref=REF)

    async def go() -> str:
        EchoingConnector.go, EchoingConnector.started = asyncio.Event(), asyncio.Event()
        connector = connectors.get(cfg)
        sending = asyncio.ensure_future(connector.send(Action.CANCEL, event()))
        await EchoingConnector.started.wait()
        (tmp_path / REF).write_text("token-new-2222")  # renewed by the credentials store
        connectors.refused(cfg)
        assert connectors.get(cfg).credentials.reveal() == "token-new-2222"  # type: ignore[union-attr]
        EchoingConnector.go.set()
        with pytest.raises(PermanentDeliveryError) as caught:
            await sending
        return redact(str(caught.value))

    text = asyncio.run(go())
    assert "401" in text and "token-old-1111" not in text
    assert "token-old-1111" not in redact("a log line about token-old-1111")


def test_a_secret_unreadable_at_its_rereading_is_kept_and_read_again_later(tmp_path: Path) -> None:
    secret = tmp_path / REF
    secret.write_text("token-old")
    connectors = pool(tmp_path)
    cfg = config(credentials_ref=REF)
    connector = connectors.get(cfg)
    connectors.refused(cfg)
    secret.unlink()  # the credentials store is rewriting it
    assert connectors.get(cfg).credentials.reveal() == "token-old"  # type: ignore[union-attr]
    secret.write_text("token-new")
    assert connectors.get(cfg) is connector
    assert connector.credentials.reveal() == "token-new"  # type: ignore[union-attr]


@pytest.mark.parametrize(("recheck_s", "seen"), [(0.0, "token-new"), (60.0, "token-old")])
def test_a_renewed_secret_is_read_again_after_the_recheck_interval(
    tmp_path: Path, recheck_s: float, seen: str
) -> None:
    (tmp_path / REF).write_text("token-old")
    connectors = pool(tmp_path, recheck_s=recheck_s)
    cfg = config(credentials_ref=REF)
    connectors.get(cfg)
    (tmp_path / REF).write_text("token-new")  # renewed before any refusal
    assert connectors.get(cfg).credentials.reveal() == seen  # type: ignore[union-attr]


def test_a_real_platform_over_plain_http_is_refused_before_any_call(tmp_path: Path) -> None:
    connectors = pool(tmp_path)
    with pytest.raises(PermanentDeliveryError) as caught:
        connectors.get(config(platform="vtex", store_url="http://loja.example.com/"))
    assert caught.value.reason_code == ReasonCode.INSECURE_URL
    assert "https://" in str(caught.value)


def test_integrations_apply_names_a_plain_http_store_url(tmp_path: Path) -> None:
    from streams.errors import ConfigurationError
    from streams.ops.integrations import load_configs

    path = tmp_path / "integrations.yaml"
    path.write_text(
        "- {integration_id: a, tenant: t, platform: magento1, store_url: 'http://old.example/'}\n"
        "- {integration_id: b, tenant: t, platform: shopify, store_url: 'http://loja.example/'}\n"
    )
    with pytest.raises(
        ConfigurationError, match=r"integrations\[1\]\.store_url: shopify store URL"
    ):
        load_configs(path)
