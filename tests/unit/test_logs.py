"""Log records: what a library logs as an error but retries is not one."""

from __future__ import annotations

import logging
import time

import pytest


def test_a_coordinator_lookup_aiokafka_retries_is_not_an_error() -> None:
    from aiokafka import errors

    from streams.logs import RetriedLookups

    def record(error: Exception) -> logging.LogRecord:
        return logging.LogRecord(
            RetriedLookups.LOGGER, logging.ERROR, __file__, 1,
            "Group Coordinator Request failed: %s", (error,), None,
        )  # fmt: skip

    retried = record(errors.GroupCoordinatorNotAvailableError())
    assert RetriedLookups().filter(retried) is False  # at the default level: not written
    assert retried.levelno == logging.DEBUG
    given_up = record(errors.GroupAuthorizationFailedError())
    assert RetriedLookups().filter(given_up) is True and given_up.levelno == logging.ERROR


def test_a_warning_librdkafka_retries_past_while_the_broker_warms_up_is_debug() -> None:
    from streams.logs import WarmingBroker

    def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
        # confluent-kafka's own format: facility, client name, librdkafka's message
        return logging.LogRecord(
            "librdkafka", level, __file__, 1, "%s [%s] %s", ("GETPID", "rdkafka#producer-1",
            "[thrd:main]: Failed to acquire idempotence PID from broker 127.0.0.1:9092/1: "
            f"Broker: {message}"), None,
        )  # fmt: skip

    warming = record("Coordinator load in progress: retrying")
    assert WarmingBroker().filter(warming) is False and warming.levelno == logging.DEBUG
    refused = record("Cluster authorization failed")
    assert WarmingBroker().filter(refused) is True and refused.levelno == logging.WARNING


def test_librdkafka_writes_through_the_process_logging_not_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import Producer

    from streams import topics
    from streams.settings import Settings

    # nothing listens on port 9: librdkafka reports the refused connection
    producer = Producer(
        topics.kafka_config(Settings.from_env({"ORDERSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:9"}))
    )
    with caplog.at_level(logging.DEBUG, logger="librdkafka"):
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            producer.poll(0.1)
    assert any("127.0.0.1:9" in r.getMessage() for r in caplog.records), caplog.records
    assert all(r.name == "librdkafka" for r in caplog.records)
    assert "rdkafka" not in capfd.readouterr().err


def test_the_default_level_leaves_out_the_registry_clients_requests() -> None:
    from streams.logs import CHATTY, quiet_libraries

    quiet_libraries()
    for name in CHATTY:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
