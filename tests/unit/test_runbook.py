"""docs/runbook.md and deploy/prometheus/alerts.yml held together: every alert has its
section, and every runbook link of an alert resolves to a heading."""

from __future__ import annotations

import re

import yaml

from tests.monitoring import PROMETHEUS_DIR, ROOT

RUNBOOK = ROOT / "docs" / "runbook.md"


def anchor(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's, GitLab's) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def sections() -> dict[str, str]:
    """Each ``##`` heading's anchor, with its text."""
    parts = re.split(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {anchor(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def alerts() -> list[dict]:  # type: ignore[type-arg]
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_has_its_section_and_every_section_its_alert() -> None:
    headings = {anchor(rule["alert"]) for rule in alerts()}
    assert headings == set(sections())


def test_every_runbook_link_resolves_to_a_heading() -> None:
    for rule in alerts():
        path, _, fragment = rule["annotations"]["runbook"].partition("#")
        assert (ROOT / path).resolve() == RUNBOOK.resolve(), rule["alert"]
        assert fragment in sections(), f"{rule['alert']}: #{fragment}"
        assert fragment == anchor(rule["alert"])


def test_each_section_says_what_it_means_how_to_confirm_and_what_to_do() -> None:
    exprs = {anchor(rule["alert"]): rule["expr"] for rule in alerts()}
    for name, text in sections().items():
        for part in ("**Means**", "**Confirm**", "**Do**"):
            assert part in text, f"{name}: {part}"
        # the confirmation names a metric the alert reads
        metrics = set(re.findall(r"\b(?:ordersync_[a-z0-9_]+|up)\b", exprs[name]))
        assert any(metric in text for metric in metrics), name
