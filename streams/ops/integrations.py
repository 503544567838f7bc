"""``ordersync integrations apply|list``: the Automations tab, as a file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

import schemas
from connectors import CONNECTORS
from connectors.http import IPNetwork, insecure_url_reason
from streams import topics
from streams.codec import Codec
from streams.decision import is_magento1
from streams.errors import ConfigurationError
from streams.ops.publish import make_producer
from streams.records import IntegrationConfig
from streams.settings import Settings

KNOWN_PLATFORMS = frozenset(CONNECTORS) | {"magento1", "magento"}


def load_configs(path: Path, allowed: Sequence[IPNetwork] = ()) -> list[IntegrationConfig | str]:
    """Configs from YAML or JSON: a list, or ``{"integrations": [...]}``.

    An entry ``{"integration_id": X, "delete": true}`` becomes the string X (a tombstone).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: not UTF-8 at byte {exc.start}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigurationError(f"{path}: not valid {kind}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("integrations")
    if not isinstance(data, list):
        raise ConfigurationError(f"{path}: expected a list of integrations")
    result: list[IntegrationConfig | str] = []
    fields = set(IntegrationConfig.__dataclass_fields__)
    for index, item in enumerate(data):
        where = f"{path}: integrations[{index}]"
        if not isinstance(item, dict):
            raise ConfigurationError(f"{where}: expected an object")
        if item.get("delete"):
            result.append(str(item["integration_id"]))
            continue
        unknown = set(item) - fields
        if unknown:
            raise ConfigurationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            config = IntegrationConfig(**item)
        except TypeError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        if config.platform not in KNOWN_PLATFORMS:
            raise ConfigurationError(
                f"{where}.platform: unknown platform {config.platform!r}; valid: {', '.join(sorted(KNOWN_PLATFORMS))}"
            )
        if not config.store_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{where}.store_url: expected an http(s) URL")
        insecure = insecure_url_reason(config.platform, config.store_url, allowed)
        if insecure is not None and not is_magento1(config):  # never called: scheduled sync
            raise ConfigurationError(f"{where}.store_url: {insecure}")
        result.append(config)
    return result


def apply_configs(settings: Settings, configs: list[IntegrationConfig | str]) -> int:
    codec = Codec(settings)
    producer = make_producer(settings)
    topic = settings.topic(topics.CONFIG)
    for config in configs:
        if isinstance(config, str):
            producer.produce(topic, key=config.encode(), value=None)
        else:
            value = codec.encode(topic, schemas.INTEGRATION_CONFIG, config.to_avro())
            producer.produce(topic, key=config.integration_id.encode(), value=value)
    remaining = producer.flush(30)
    if remaining:
        raise ConfigurationError(f"{remaining} integration config(s) not delivered to {topic}")
    return len(configs)
