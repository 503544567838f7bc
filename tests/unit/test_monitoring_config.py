"""docker-compose.yml, deploy/prometheus/prometheus.yml and the Grafana provisioning and
dashboards agree: ports, service names, job names, datasource ids."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from streams.settings import Settings
from tests.grafana import PROMETHEUS, dashboards, targets
from tests.monitoring import PROMETHEUS_DIR, ROOT

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning" / "datasources"


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def scrape() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())


def jobs() -> dict[str, dict]:  # type: ignore[type-arg]
    return {job["job_name"]: job for job in scrape()["scrape_configs"]}


def port_of(service: str, variable: str, default: int) -> int:
    """The port a compose service's ordersync process listens on."""
    env = compose()["services"][service].get("environment", {})
    return int(env.get(variable, default))


DEFAULTS = Settings.from_env({})


def test_prometheus_runs_in_compose_with_this_directory_and_its_rules() -> None:
    service = compose()["services"]["prometheus"]
    assert service["image"].startswith("prom/prometheus:")
    assert "./deploy/prometheus:/etc/prometheus:ro" in service["volumes"]
    (config,) = [a for a in service["command"] if a.startswith("--config.file=")]
    assert config == "--config.file=/etc/prometheus/prometheus.yml"
    for rules in scrape()["rule_files"]:
        assert (PROMETHEUS_DIR / rules).is_file(), rules
    assert {"worker", "history"} <= set(service["depends_on"])


def test_every_worker_is_found_by_dns_on_the_workers_port() -> None:
    (discovery,) = jobs()["ordersync-worker"]["dns_sd_configs"]
    assert discovery["type"] == "A"
    (name,) = discovery["names"]
    assert name in compose()["services"], "a compose service Docker's DNS answers for"
    assert discovery["port"] == port_of(name, "ORDERSYNC_WORKER_PORT", DEFAULTS.worker_port)
    # scaled workers: no fixed name, or DNS would answer for one container only
    assert "container_name" not in compose()["services"][name]


def test_the_history_is_scraped_where_it_listens() -> None:
    (static,) = jobs()["ordersync-history"]["static_configs"]
    (target,) = static["targets"]
    host, port = target.split(":")
    assert host in compose()["services"]
    assert int(port) == port_of(host, "ORDERSYNC_HISTORY_PORT", DEFAULTS.history_port)
    # the alerts link to the report where compose publishes it
    published = compose()["services"][host]["ports"]
    report_url = scrape()["global"]["external_labels"]["report_url"]
    assert f"{report_url.rsplit(':', 1)[1]}:{port}" in published


def test_grafana_reads_prometheus_where_compose_runs_it() -> None:
    datasources = {}
    for path in PROVISIONING.glob("*.yml"):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            datasources[source["uid"]] = source
    prometheus = next(s for s in datasources.values() if s["type"] == PROMETHEUS)
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", prometheus["url"]).groups()  # type: ignore[union-attr]
    assert host in compose()["services"]
    assert f"{port}:{port}" in compose()["services"][host]["ports"]
    assert "prometheus" in compose()["services"]["grafana"]["depends_on"]
    # every panel's datasource is one provisioned, of the same type
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            uid, kind = panel["datasource"]["uid"], panel["datasource"]["type"]
            assert uid in datasources and datasources[uid]["type"] == kind, (name, panel["title"])


def test_the_prometheus_panels_select_the_scrape_configs_jobs() -> None:
    known = set(jobs())
    for title, target in targets(PROMETHEUS):
        selected = re.findall(r'job=~?"([^"]+)"', target["expr"])
        assert selected, f"{title}: selects no job"
        for selector in selected:
            assert set(selector.split("|")) <= known, (title, selector)


def test_compose_config_is_valid_where_docker_compose_exists() -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60).returncode
        == 0
    )
    if docker is None or not has_compose:
        pytest.skip("no docker compose here: docker compose config cannot run")
    result = subprocess.run(
        [docker, "compose", "config", "--quiet"],
        cwd=ROOT,
        env={"ORDERSYNC_SIGNING_KEY": "x" * 32, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
