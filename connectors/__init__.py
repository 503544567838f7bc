"""Platform connectors, one module per platform, registered in ``CONNECTORS``."""

from __future__ import annotations

from connectors.base import Connector, Delivery, PlatformRequest
from connectors.magento2 import Magento2Connector
from connectors.mercadolivre import MercadoLivreConnector
from connectors.nuvemshop import NuvemshopConnector
from connectors.sandbox import SandboxConnector
from connectors.shopify import ShopifyConnector
from connectors.tray import TrayConnector
from connectors.vtex import VtexConnector
from connectors.woocommerce import WooCommerceConnector
from streams.errors import ConfigurationError

CONNECTORS: dict[str, type[Connector]] = {
    connector.platform: connector
    for connector in (
        SandboxConnector,
        VtexConnector,
        ShopifyConnector,
        NuvemshopConnector,
        Magento2Connector,
        WooCommerceConnector,
        TrayConnector,
        MercadoLivreConnector,
    )
}


def connector_class(platform: str) -> type[Connector]:
    try:
        return CONNECTORS[platform]
    except KeyError:
        raise ConfigurationError(
            f"unknown platform {platform!r}; valid: {', '.join(sorted(CONNECTORS))}"
        ) from None


__all__ = ["CONNECTORS", "Connector", "Delivery", "PlatformRequest", "connector_class"]
