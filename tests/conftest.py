"""Shared fixtures. Integration tests run against a real Kafka, Apicurio Registry and chDB.

The stack is started once per session on test ports (so a running demo is not
disturbed) and stopped at the end unless ``ORDERSYNC_KEEP_STACK=1``. Each test gets
its own topic prefix, consumer groups, ports and chDB directory.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from streams.local import LocalRun
from streams.local.stack import Stack
from streams.local.stack.services import port_open
from streams.settings import Settings
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
TEST_ENV = {
    "ORDERSYNC_VAR_DIR": str(ROOT / "var" / "test"),
    "ORDERSYNC_CACHE_DIR": str(ROOT / "var" / "cache"),
    "ORDERSYNC_KAFKA_BOOTSTRAP": os.environ.get("ORDERSYNC_TEST_KAFKA", "127.0.0.1:19092"),
    "ORDERSYNC_KAFKA_CONTROLLER_PORT": os.environ.get(
        "ORDERSYNC_TEST_KAFKA_CONTROLLER_PORT", "19093"
    ),
    "ORDERSYNC_REGISTRY_URL": os.environ.get(
        "ORDERSYNC_TEST_REGISTRY", "http://127.0.0.1:18081/apis/ccompat/v7"
    ),
    "ORDERSYNC_PARTITIONS": "4",
    # the sandbox and the platform emulators listen on loopback
    "ORDERSYNC_ALLOWED_NETWORKS": "127.0.0.0/8",
}


SANDBOX_SECRET = "s3cr3t-sandbox-token-4821"
# report tokens: an acme viewer, an acme operator and an operator of another tenant
VIEWER_TOKEN = "viewer-acme-token-0001"
OPERATOR_TOKEN = "operator-acme-token-0002"
OTHER_TENANT_TOKEN = "operator-globex-token-0003"


# Ports for the tests' processes come from 10000-17999: below 32768, where the kernel picks
# no source ports for outgoing connections (one took the port a process was about to bind,
# see side_stack_settings), and apart from the demo's, the bench's and the chaos stack's.
_FIRST = random.randrange(10_000, 18_000)
_PORTS = iter([*range(_FIRST, 18_000), *range(10_000, _FIRST)])


def free_port() -> int:
    """A port nothing listens on, never handed out twice in a session."""
    for port in _PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in 10000-17999")


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    settings = Settings.from_env(TEST_ENV)
    stack = Stack(settings)
    if stack.kafka.process.pid() is None and not port_open(settings.kafka_port):
        # every test leaves its topics behind; a session that starts the broker starts it
        # empty, or thousands of old partitions end in the broker's heap running out
        shutil.rmtree(stack.kafka.data_dir, ignore_errors=True)
    stack.up()
    yield settings
    if os.environ.get("ORDERSYNC_KEEP_STACK") != "1":
        stack.down()


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    """Settings with this test's own topics, ports and chDB path; topics created."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    test_settings = replace(
        stack_settings,
        topic_prefix=prefix,
        clickhouse_dsn=f"chdb://{tmp_path / 'clickhouse'}",
        worker_port=free_port(),
        history_port=free_port(),
        sandbox_port=free_port(),
        sink_flush_interval_s=0.2,
        retry_delays_s=(0.5, 1.0),
    )
    ensure_topics(test_settings)
    return test_settings


@pytest.fixture
def local_run(settings: Settings, tmp_path: Path) -> Iterator[LocalRun]:
    run = LocalRun(
        settings,
        tmp_path / "log",
        {
            "ORDERSYNC_SINK_FLUSH_INTERVAL_S": "0.2",
            "ORDERSYNC_SECRET_SANDBOX_TOKEN": SANDBOX_SECRET,
            "ORDERSYNC_API_TOKEN_ACME_VIEWER": f"acme:viewer:{VIEWER_TOKEN}",
            "ORDERSYNC_API_TOKEN_ACME_OPERATOR": f"acme:operator:{OPERATOR_TOKEN}",
            "ORDERSYNC_API_TOKEN_GLOBEX_OPERATOR": f"globex:operator:{OTHER_TENANT_TOKEN}",
        },
    )
    try:
        run.start()
        yield run
    finally:
        run.stop()
        for process in run.processes:
            if process.log_path.exists():
                # keep each process's log visible in the test report when something fails
                print(f"--- {process.name} log (tail) ---")
                print("\n".join(process.log_path.read_text(errors="replace").splitlines()[-40:]))
