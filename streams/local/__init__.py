"""Runs ordersync's own processes (sandbox platform, worker, history) for the demo and tests."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streams.local.stack.process import StackError, wait_until
from streams.ops.client import http_json
from streams.records import IntegrationConfig
from streams.settings import Settings

__all__ = [
    "LocalProcess",
    "LocalRun",
    "child_env",
    "healthy",
    "http_json",
    "serve_sandbox",
    "serve_sandbox_stores",
    "side_stack_settings",
]


def healthy(url: str) -> bool:
    try:
        http_json(url, timeout=1.0)
    except OSError:
        return False
    return True


class LocalProcess:
    """An ``ordersync`` sub-command running as a child, with its log in a file."""

    def __init__(
        self, name: str, args: list[str], health_url: str, log_dir: Path, env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.args = args
        self.health_url = health_url
        self.log_path = log_dir / f"{name}.log"
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.ops.cli", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log_path}"
                )
            return healthy(self.health_url)

        wait_until(up, timeout_s, f"{self.name} at {self.health_url}", interval_s=0.25)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:  # faust can hang on shutdown; nothing is lost by killing
            self.proc.kill()
            self.proc.wait(10)


def side_stack_settings(
    root: Path, name: str, port_base: int, extra: Mapping[str, str] | None = None
) -> Settings:
    """Settings for a stack of its own (``make bench``, ``make chaos``) beside the demo's and
    the tests': ``var/<name>``, and the usual ports plus ``port_base`` (Kafka
    ``9092 + base``, registry ``8081 + base``, worker ``6066 + base``, ...).

    Keep every port below 32768: above it the kernel hands out the source ports of
    outgoing connections, and one to the sandbox once held the history's port as it
    started (the bench's history failed to bind, twice in a row)."""

    def port(usual: int) -> str:
        return str(port_base + usual)

    return Settings.from_env(
        {
            "ORDERSYNC_VAR_DIR": str(root / "var" / name),
            "ORDERSYNC_CACHE_DIR": str(root / "var" / "cache"),
            "ORDERSYNC_KAFKA_BOOTSTRAP": f"127.0.0.1:{port(9092)}",
            "ORDERSYNC_KAFKA_CONTROLLER_PORT": port(9093),
            "ORDERSYNC_REGISTRY_URL": f"http://127.0.0.1:{port(8081)}/apis/ccompat/v7",
            "ORDERSYNC_ALLOWED_NETWORKS": "127.0.0.0/8",
            "ORDERSYNC_WORKER_PORT": port(6066),
            "ORDERSYNC_HISTORY_PORT": port(8090),
            "ORDERSYNC_SANDBOX_PORT": port(8070),
            "ORDERSYNC_LOG_LEVEL": "warning",
            **(extra or {}),
        }
    )


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ORDERSYNC_VAR_DIR": str(settings.var_dir),
            "ORDERSYNC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "ORDERSYNC_REGISTRY_URL": settings.registry_url,
            "ORDERSYNC_CLICKHOUSE_DSN": settings.clickhouse_url,
            "ORDERSYNC_TOPIC_PREFIX": settings.topic_prefix,
            "ORDERSYNC_PARTITIONS": str(settings.partitions),
            "ORDERSYNC_WORKER_PORT": str(settings.worker_port),
            "ORDERSYNC_HISTORY_PORT": str(settings.history_port),
            "ORDERSYNC_SANDBOX_PORT": str(settings.sandbox_port),
            "ORDERSYNC_ALLOWED_NETWORKS": ",".join(str(n) for n in settings.allowed_networks),
            "ORDERSYNC_MAX_ATTEMPTS": str(settings.max_attempts),
            "ORDERSYNC_RETRY_DELAYS_S": ",".join(str(d) for d in settings.retry_delays_s),
            "ORDERSYNC_HTTP_TIMEOUT_S": str(settings.http_timeout_s),
            "ORDERSYNC_MAX_IN_FLIGHT": str(settings.max_in_flight),
            "ORDERSYNC_READ_AHEAD": str(settings.read_ahead),
            "ORDERSYNC_STORE_CONCURRENCY": str(settings.store_concurrency),
            "ORDERSYNC_STORE_CONCURRENCY_MAX": str(settings.store_concurrency_max),
            "ORDERSYNC_STORE_QUEUE_S": str(settings.store_queue_s),
            "ORDERSYNC_PRODUCE_LINGER_MS": str(settings.produce_linger_ms),
            "ORDERSYNC_NFE_MAX_BYTES": str(settings.nfe_max_bytes),
            "ORDERSYNC_NFE_FETCH_TIMEOUT_S": str(settings.nfe_fetch_timeout_s),
            "ORDERSYNC_ERP_CA_FILE": str(settings.erp_ca_file or ""),
        }
    )
    env.update(extra or {})
    return env


class LocalRun:
    """The sandbox platform, one dispatch worker and the history process.

    It makes an all-tenants operator token for itself (``api``) and a signing key for
    resends, and hands them to the processes and to the commands it runs.
    """

    def __init__(
        self, settings: Settings, log_dir: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.token = secrets.token_urlsafe(24)
        env = child_env(
            settings,
            {
                "ORDERSYNC_API_TOKEN_LOCAL_OPERATOR": f"*:operator:{self.token}",
                "ORDERSYNC_CLIENT_TOKEN": self.token,
                "ORDERSYNC_SIGNING_KEY": secrets.token_urlsafe(32),
                **(extra_env or {}),
            },
        )
        self.settings = settings
        self.sandbox = LocalProcess(
            "sandbox", ["sandbox"], f"http://127.0.0.1:{settings.sandbox_port}/health", log_dir, env
        )
        self.worker = LocalProcess(
            "worker", ["worker"], f"http://127.0.0.1:{settings.worker_port}/health", log_dir, env
        )
        self.history = LocalProcess(
            "history", ["history"], f"http://127.0.0.1:{settings.history_port}/health", log_dir, env
        )
        self.processes = [self.sandbox, self.history, self.worker]
        self.env = env
        self._log_dir = log_dir

    def add_worker(self, port: int) -> LocalProcess:
        """Another dispatch worker in the same consumer group, on its own HTTP port."""
        env = self.env | {"ORDERSYNC_WORKER_PORT": str(port)}
        name = f"worker-{port}"
        worker = LocalProcess(
            name, ["worker"], f"http://127.0.0.1:{port}/health", self._log_dir, env
        )
        self.processes.append(worker)
        return worker

    def api(self, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call the history API as the local operator."""
        return http_json(f"{self.history_url}{path}", body, timeout=timeout, token=self.token)

    def worker_api(self, path: str) -> Any:
        """Call the dispatch worker's API as the local operator."""
        return http_json(f"{self.worker_url}{path}", token=self.token)

    @property
    def history_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.history_port}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.worker_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.sandbox_port}"

    def sandbox_received(self) -> int:
        """Calls the sandbox platform has accepted so far (repeats not counted)."""
        return int(http_json(f"{self.sandbox_url}/_stats")["received"])

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        # side by side: each spends its first seconds importing and joining its group
        for process in self.processes:
            process.launch()

    def wait_ready(self) -> None:
        for process in self.processes:
            process.wait_ready()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def wait_for_terminal(self, event_ids: list[str], timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait until every event has a terminal outcome in the history; returns the lookup."""
        result: dict[str, Any] = {}

        def done() -> bool:
            nonlocal result
            result = self.api("/api/lookup", {"event_ids": event_ids})
            return bool(result["terminal"] >= len(set(event_ids)))

        try:
            wait_until(done, timeout_s, f"{len(event_ids)} events to reach a terminal outcome", 0.2)
        except StackError:
            missing = set(event_ids) - set(result.get("events", {}))
            raise StackError(
                f"after {timeout_s:.0f}s, {len(missing)} of {len(set(event_ids))} events have no outcome"
            ) from None
        return result


def serve_sandbox(settings: Settings) -> None:
    """The bundled sandbox platform, in this process, until stopped."""
    from connectors.emulators.sandbox import serve

    serve(settings.sandbox_port)


def serve_sandbox_stores(settings: Settings, run: LocalRun, tenant: str, stores: list[str]) -> None:
    """One sandbox integration per store, every automation on; returns once the worker has them."""
    from streams.ops.integrations import apply_configs

    apply_configs(
        settings,
        [
            IntegrationConfig(
                integration_id=store,
                tenant=tenant,
                platform="sandbox",
                store_url=f"{run.sandbox_url}/stores/{store}/",
                send_order_updates=True,
                send_cancellations=True,
                send_delivery_info=True,
            )
            for store in stores
        ],
    )
    wait_until(
        lambda: len(run.worker_api("/api/integrations")) >= len(stores),
        60,
        f"the worker to hold the {len(stores)} {tenant} integrations",
    )
