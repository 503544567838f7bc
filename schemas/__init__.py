"""The Avro contracts of ordersync's topics, loaded from the ``.avsc`` files beside this module."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ORDER_EVENT = "order_event"
INTEGRATION_CONFIG = "integration_config"
DISPATCH_OUTCOME = "dispatch_outcome"
STORE_BACKLOG = "store_backlog"
ALL = (ORDER_EVENT, INTEGRATION_CONFIG, DISPATCH_OUTCOME, STORE_BACKLOG)


@cache
def schema_text(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")


def schema(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(schema_text(name))
    return parsed
