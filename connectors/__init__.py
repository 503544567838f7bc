"""Platform connectors, one module per platform, registered in ``CONNECTORS``."""

from __future__ import annotations

from connectors.base import Connector, Delivery, PlatformRequest
from connectors.sandbox import SandboxConnector
from streams.errors import ConfigurationError

CONNECTORS: dict[str, type[Connector]] = {
    SandboxConnector.platform: SandboxConnector,
}


def connector_class(platform: str) -> type[Connector]:
    try:
        return CONNECTORS[platform]
    except KeyError:
        raise ConfigurationError(
            f"unknown platform {platform!r}; valid: {', '.join(sorted(CONNECTORS))}"
        ) from None


__all__ = ["CONNECTORS", "Connector", "Delivery", "PlatformRequest", "connector_class"]
