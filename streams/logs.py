"""Structured JSON logs: one object per line, with the ids a log line is about.

While the dispatcher handles a record it binds the record's ids (``about``): every line
logged meanwhile in that task — the dispatcher's, a connector's, a library's — carries
``event_id``, ``order`` and ``integration``. ``extra={...}`` names them explicitly where a
line is about an event outside such a task. Messages go through ``redact``: every
secret the process holds is masked on the way out.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from streams.redact import redact

IDS = ("event_id", "order", "integration", "tenant", "topic", "partition", "offset")
# the ids of the record the current task handles; each asyncio task has its own
_ABOUT: ContextVar[dict[str, object] | None] = ContextVar("ordersync_log_ids", default=None)


def about(**ids: object) -> None:
    """Name the record the current task handles, for every log line it writes from now.

    Empty ids are left out when a line is written: most handlings write none."""
    _ABOUT.set(ids)


def stamp_ids() -> None:
    """Have every log record carry the ids of the record its task handles.

    Set on the records as they are made, in the task that logs: a handler that formats
    later, or on another thread, still sees them. ``extra=`` given by a call wins.
    """
    if getattr(logging.getLogRecordFactory(), "stamps_ids", False):
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        for name, value in (_ABOUT.get() or {}).items():
            if value is not None and value != "":
                record.__dict__.setdefault(name, value)
        return record

    factory.stamps_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for name in IDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    return handler


class RetriedByTheLibrary(logging.Filter):
    """A line a library writes as a warning or an error about a step it then retries is
    debug: written only when the process logs at debug. Each subclass says which lines."""

    def retried(self, record: logging.LogRecord) -> bool:
        raise NotImplementedError

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.retried(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


class RetriedLookups(RetriedByTheLibrary):
    """aiokafka logs each failed group-coordinator lookup at ERROR and then retries it: a
    worker starting while the broker warms up wrote three error lines for nothing. A
    lookup failure aiokafka retries is debug; one it gives up on stays an error."""

    LOGGER = "aiokafka.consumer.group_coordinator"
    MESSAGE = "Group Coordinator Request failed"

    def retried(self, record: logging.LogRecord) -> bool:
        if record.name != self.LOGGER or not str(record.msg).startswith(self.MESSAGE):
            return False
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return bool(getattr(error, "retriable", False))


# the loggers of libraries that narrate their own work at INFO: every registry request
# (the schema registry client runs on httpx, which also answers as httpx2)
CHATTY = ("httpx", "httpx2")


def quiet_libraries() -> None:
    """At the default level a command prints what was asked of it, not its libraries' work;
    at debug (the root logger's level, set first) their lines are what was asked for."""
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


class WarmingBroker(RetriedByTheLibrary):
    """librdkafka warns each time a request meets a broker still loading its coordinators
    — right after start-up — and then retries it: the publish that follows succeeds. A
    warning it retries past is debug; anything else it says keeps its level."""

    WARMING = ("Coordinator load in progress", "Coordinator not available")

    def retried(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return message.endswith("retrying") and any(w in message for w in self.WARMING)


# where the confluent-kafka clients' own lines go (instead of straight to stderr), so they
# get the process's format, its redaction and the filter above
LIBRDKAFKA = logging.getLogger("librdkafka")
LIBRDKAFKA.addFilter(WarmingBroker())
