"""Log records: what a library logs as an error but retries is not one."""

from __future__ import annotations

import logging


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
