"""A worker whose offset commit never returns stops, for its supervisor to start it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.local import LocalRun
from streams.local.stack.process import wait_until
from streams.settings import Settings
from tests.factories import config, event_record
from tests.integration.test_end_to_end import apply, publish_one

pytestmark = pytest.mark.integration

HUNG_COMMIT = Path(__file__).parent / "hung_commit"


def test_a_worker_whose_commit_never_returns_stops(settings: Settings, tmp_path: Path) -> None:
    run = LocalRun(
        settings,
        tmp_path / "log",
        {"PYTHONPATH": str(HUNG_COMMIT), "ORDERSYNC_TEST_COMMIT_TIMEOUT_S": "2"},
    )
    run.start()
    try:
        apply(settings, run, config(store_url=f"{run.sandbox_url}/stores/loja-1/"))
        publish_one(settings, event_record(order="H1"))  # its offset is the commit that hangs
        worker = run.worker.proc
        assert worker is not None
        wait_until(lambda: worker.poll() is not None, 60, "the worker to stop")
        assert worker.returncode != 0
        assert "offset commit still waiting after 2s" in run.worker.log_path.read_text()
        assert run.history.proc is not None and run.history.proc.poll() is None
    finally:
        run.stop()
