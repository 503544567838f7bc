"""One connector, and so one HTTP client with its connection pool, per integration."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from connectors import CONNECTORS, Connector
from connectors.http import insecure_url_reason, make_client
from connectors.nfe import NfeSource
from streams.errors import PermanentDeliveryError
from streams.reasons import ReasonCode
from streams.records import IntegrationConfig
from streams.secrets import Secret
from streams.settings import Settings

log = logging.getLogger(__name__)
SECRET_RECHECK_S = 5.0


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """A store the worker is not calling now: its circuit is open, or it said Retry-After."""

    store: str
    tenant: str
    circuit_open_s: float  # how long its circuit has been open (0: closed)
    paused_s: float  # how long pauses have held it without a break (0: none does)
    paused_until: float | None  # epoch seconds


class ConnectorPool:
    """One connector, and so one HTTP client with its connection pool, per integration.

    A credentials store renews short-lived tokens (Tray's every 3 hours, Mercado Livre's
    every 6) by rewriting the secret's file, so a held connector's secret is read again
    every ``recheck_s`` seconds, and at its next call after the platform refused it.
    """

    def __init__(self, settings: Settings, recheck_s: float = SECRET_RECHECK_S) -> None:
        self.settings = settings
        self.recheck_s = recheck_s
        self._pool: dict[str, tuple[IntegrationConfig, Connector]] = {}
        self._read_at: dict[str, float] = {}  # integration -> when its secret was last read
        # one for every connector: its clients to the ERP's hosts are the worker's
        self.documents = NfeSource(
            max_bytes=settings.nfe_max_bytes,
            timeout_s=settings.nfe_fetch_timeout_s,
            allowed=settings.allowed_networks,
            extra_ca_file=str(settings.erp_ca_file) if settings.erp_ca_file else None,
        )

    def get(self, config: IntegrationConfig) -> Connector:
        held = self._pool.get(config.integration_id)
        if held is not None and held[0] == config:
            connector = held[1]
            if config.credentials_ref and self._due(config.integration_id):
                self._reread(config, connector)
            return connector
        credentials: Secret | None = None
        if config.credentials_ref:
            credentials = self.settings.secret(config.credentials_ref)
            if credentials is None:
                raise PermanentDeliveryError(
                    f"secret {config.credentials_ref!r} is not set "
                    f"(ORDERSYNC_SECRET_{config.credentials_ref} or the secrets directory)",
                    reason_code=ReasonCode.CREDENTIALS_MISSING,
                )
            self._read_at[config.integration_id] = time.monotonic()
        insecure = insecure_url_reason(
            config.platform, config.store_url, self.settings.allowed_networks
        )
        if insecure is not None:
            raise PermanentDeliveryError(insecure, reason_code=ReasonCode.INSECURE_URL)
        client = make_client(
            config.store_url,
            timeout_s=self.settings.http_timeout_s,
            allowed=self.settings.allowed_networks,
        )
        connector = CONNECTORS[config.platform](
            config,
            credentials,
            client,
            longest_pause_s=self.settings.retry_max_delay_s,
            documents=self.documents,
        )
        self._pool[config.integration_id] = (config, connector)
        return connector

    def refused(self, config: IntegrationConfig) -> None:
        """The platform refused the integration's credentials: read them at the next call."""
        self._read_at.pop(config.integration_id, None)

    def _due(self, integration_id: str) -> bool:
        read_at = self._read_at.get(integration_id)
        return read_at is None or time.monotonic() - read_at >= self.recheck_s

    def _reread(self, config: IntegrationConfig, connector: Connector) -> None:
        assert config.credentials_ref is not None
        try:
            current = self.settings.secret(config.credentials_ref)
        except OSError:
            current = None
        if current is None:
            # being rewritten, or gone: keep sending with the held secret, look again later
            log.warning(
                "secret %r of %s could not be read again; the held one is kept",
                config.credentials_ref,
                config.integration_id,
            )
            return
        self._read_at[config.integration_id] = time.monotonic()
        connector.renew_credentials(current)

    def health(self) -> list[StoreHealth]:
        """The stores whose circuit is open or that are paused now."""
        now = time.time()
        rows = []
        for config, connector in list(self._pool.values()):
            open_s = connector.breaker.open_for_s()
            left_s = connector.limiter.paused_for()
            if open_s or left_s:
                rows.append(
                    StoreHealth(
                        config.integration_id,
                        config.tenant,
                        round(open_s, 3),
                        round(connector.limiter.paused_run_s(), 3),
                        now + left_s if left_s else None,
                    )
                )
        return rows

    async def close(self) -> None:
        for _, connector in self._pool.values():
            await connector.client.aclose()
        self._pool.clear()
        await self.documents.aclose()
