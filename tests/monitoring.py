"""What the monitoring files may name: the metrics ordersync's processes expose."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from prometheus_client.registry import REGISTRY

import streams.history.metrics
import streams.metrics
import streams.worker.backlog
import streams.worker.metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
# what Prometheus itself records for every target
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
_MODULES = (
    streams.metrics,
    streams.worker.metrics,
    streams.worker.backlog,
    streams.history.metrics,
)


def exposed_metric_names() -> set[str]:
    """Every series name ordersync's processes can expose (their metrics registered in this
    interpreter by importing the modules that define them), with the suffixes Prometheus
    sees: a counter's ``_total``, a histogram's ``_bucket``, ``_count`` and ``_sum``."""
    assert _MODULES
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("ordersync_"):
            continue
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        else:
            names.add(family.name)
    return names


def named_metrics(expression: str) -> set[str]:
    return set(re.findall(r"\bordersync_[a-z0-9_]+", expression))


def promtool() -> str:
    """promtool's path, or the test skips saying why (Debian's prometheus package)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found: install Debian's prometheus package (make test does)")
    return path
