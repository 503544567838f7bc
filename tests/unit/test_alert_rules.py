"""deploy/prometheus/alerts.yml: valid, tested with promtool's own rule tests, and naming
only metrics the processes expose."""

from __future__ import annotations

import subprocess

import yaml

from tests.monitoring import (
    PROMETHEUS_DIR,
    SCRAPE_SERIES,
    exposed_metric_names,
    named_metrics,
    promtool,
)

ALERTS = PROMETHEUS_DIR / "alerts.yml"


def rules() -> list[dict]:  # type: ignore[type-arg]
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_finds_the_rules_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_each_alert_fires_when_it_must_and_only_then() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == {rule["alert"] for rule in rules()}


def test_the_rules_name_only_metrics_a_process_exposes() -> None:
    exposed = exposed_metric_names()
    for rule in rules():
        named = named_metrics(rule["expr"])
        assert named or "up{" in rule["expr"], rule["alert"]
        assert named <= exposed, f"{rule['alert']}: {sorted(named - exposed)}"
    assert "up" in SCRAPE_SERIES


def test_every_alert_links_to_the_report_and_says_how_bad_it_is() -> None:
    for rule in rules():
        annotations = rule["annotations"]
        assert annotations["report"].startswith("{{ $externalLabels.report_url }}/?tab=")
        assert annotations["runbook"].startswith("docs/runbook.md#")
        assert rule["labels"]["severity"] in {"page", "ticket"}
        # one that names an integration links to the report filtered to it
        if "integration" in rule["expr"] or "store" in rule["expr"]:
            assert "integration={{ $labels.integration | urlquery }}" in annotations["report"]
