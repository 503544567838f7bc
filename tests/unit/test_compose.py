"""docker-compose.yml cannot run here (no Docker engine); check it parses and is complete."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_their_references_exist() -> None:
    services = compose()["services"]
    assert {"kafka", "registry", "clickhouse", "worker", "history"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    for name in ("worker", "history"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()
        env = services[name]["environment"]
        assert env["ORDERSYNC_CLICKHOUSE_DSN"].startswith("http://clickhouse:8123")
        assert env["ORDERSYNC_KAFKA_BOOTSTRAP"] == "kafka:9092"
        for dependency in services[name]["depends_on"]:
            assert dependency in services
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_workers_scale_by_configuration() -> None:
    worker = compose()["services"]["worker"]
    # a fixed container name or host port would make `--scale worker=N` fail
    assert "container_name" not in worker
    assert all(":" not in str(p) for p in worker.get("ports", []))


def test_dockerfile_installs_the_package_and_runs_ordersync() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text
    assert 'ENTRYPOINT ["ordersync"]' in text


def test_grafana_is_provisioned_with_clickhouse_and_a_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/clickhouse.yml").read_text()
    )["datasources"][0]
    assert datasource["jsonData"]["host"] == "clickhouse"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/ordersync.json").read_text())
    sql = " ".join(p["targets"][0]["rawSql"] for p in dashboard["panels"])
    # the dashboard reads the views the migrations create
    assert "daily_outcomes" in sql and "open_errors" in sql
