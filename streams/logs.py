"""Structured JSON logs: one object per line, with the ids a log line is about.

Pass ids with ``extra={"event_id": ..., "order": ..., "integration": ...}``. Messages go
through ``redact``: every secret the process holds is masked on the way out.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from streams.redact import redact

IDS = ("event_id", "order", "integration", "tenant", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
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
