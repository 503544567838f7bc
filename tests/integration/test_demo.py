"""`DEMO_ONESHOT=1 make demo`'s program, against the test stack: every event gets an outcome."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.local import child_env
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_demo_oneshot_exits_zero_with_every_event_accounted_for(
    settings: Settings, tmp_path: Path
) -> None:
    env = child_env(settings, {"DEMO_ONESHOT": "1", "ORDERSYNC_VAR_DIR": str(tmp_path / "var"),
                               "ORDERSYNC_CACHE_DIR": str(settings.cache_dir)})  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "streams.ops.cli", "demo"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    published = int(result.stdout.split("eventos publicados:")[1].split()[0])
    with_outcome = int(result.stdout.split("eventos com resultado:")[1].split()[0])
    assert published == with_outcome > 0
    assert "MAGENTO1_SCHEDULED_SYNC" in result.stdout
    assert "FULFILLMENT_MODE" in result.stdout
