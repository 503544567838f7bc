"""Prometheus (Debian's package) against the local stack: it scrapes the worker and the
history under the job names of deploy/prometheus/prometheus.yml, loads the alert rules,
sees what the worker counted for a send, and runs every panel of the Prometheus
dashboard."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.ops.publish import publish_file
from streams.records import EventType
from streams.settings import Settings
from tests.conftest import free_port
from tests.factories import config, event_record, jsonable
from tests.grafana import PROMETHEUS, targets
from tests.integration.test_end_to_end import apply
from tests.monitoring import PROMETHEUS_DIR, SCRAPE_SERIES, exposed_metric_names, named_metrics

pytestmark = pytest.mark.integration


def job_names() -> list[str]:
    scrape = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    return [job["job_name"] for job in scrape]


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # a bad query answers 400 with its error
        body = json.load(exc)
    assert body["status"] == "success", f"{path} {params}: {body.get('error')}"
    return body["data"]


@pytest.fixture
def prometheus(settings: Settings, local_run: LocalRun, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not found: install Debian's prometheus package (make test does)")
    worker_job, history_job = job_names()
    scrape = {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"report_url": local_run.history_url},
        },
        "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": worker_job,
                "static_configs": [{"targets": [f"127.0.0.1:{settings.worker_port}"]}],
            },
            {
                "job_name": history_job,
                "static_configs": [{"targets": [f"127.0.0.1:{settings.history_port}"]}],
            },
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(scrape))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        try:
            return urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 60, "Prometheus to be ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_prometheus_scrapes_the_processes_and_sees_a_send(
    settings: Settings, local_run: LocalRun, prometheus: str
) -> None:
    store = f"{local_run.sandbox_url}/stores/loja-1/"
    apply(settings, local_run, config(store_url=store, credentials_ref="SANDBOX_TOKEN"))
    record = event_record(EventType.INVOICE_AUTHORIZED, order="P1", sequence=1)
    report = publish_file(settings, io.StringIO(json.dumps(jsonable(record))))
    local_run.wait_for_terminal(report.event_ids, timeout_s=60)

    def all_up() -> bool:
        active = api(prometheus, "targets")["activeTargets"]
        return len(active) == 2 and all(t["health"] == "up" for t in active)

    wait_until(all_up, 30, "both targets up")
    jobs = {t["labels"]["job"] for t in api(prometheus, "targets")["activeTargets"]}
    assert jobs == set(job_names())

    def sent_seen() -> bool:
        query = 'ordersync_platform_sends_total{platform="sandbox",outcome="SENT"}'
        result = api(prometheus, "query", query=query)["result"]
        return bool(result) and float(result[0]["value"][1]) >= 1

    wait_until(sent_seen, 30, "the worker's send in Prometheus")
    (ready,) = api(prometheus, "query", query="ordersync_worker_ready")["result"]
    assert ready["value"][1] == "1"

    # the alert rules loaded and evaluate without error against real series
    def evaluated() -> bool:
        groups = api(prometheus, "rules", type="alert")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return bool(rules) and all(rule.get("lastEvaluation", "").startswith("2") for rule in rules)

    wait_until(evaluated, 30, "the alert rules evaluated")
    groups = api(prometheus, "rules", type="alert")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    alerts = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    assert set(rules) == {rule["alert"] for group in alerts for rule in group["rules"]}
    assert all(rule["health"] == "ok" for rule in rules.values()), rules
    # a healthy stack: nothing that pages fires
    firing = [r["name"] for r in rules.values() if r["state"] == "firing"]
    assert not [name for name in firing if rules[name]["labels"]["severity"] == "page"]

    # every panel of the Prometheus dashboard runs and names only metrics a process exposes
    names = set(api(prometheus, "label/__name__/values"))
    exposed = exposed_metric_names()
    panels = targets(PROMETHEUS)
    assert panels
    for title, target in panels:
        named = named_metrics(target["expr"])
        assert named <= exposed, f"{title}: {sorted(named - exposed)}"
        api(prometheus, "query", query=target["expr"])
        now = time.time()
        api(
            prometheus,
            "query_range",
            query=target["expr"],
            start=str(now - 60),
            end=str(now),
            step="5",
        )
    # what the worker and the history always expose is really scraped
    for always in (
        "ordersync_events_in_total",
        "ordersync_platform_sends_total",
        "ordersync_worker_ready",
        "ordersync_sink_batch_rows_count",
        "ordersync_sink_failures_total",
        "ordersync_delivery_latency_seconds_bucket",
    ):
        assert always in names, always
    assert SCRAPE_SERIES & names
