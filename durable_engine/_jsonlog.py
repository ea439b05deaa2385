"""Logs as JSON lines: the format the worker writes, for an embedding app's handlers too.

Public as `durable_engine.logging`.

Everything the engine logs goes to the logger named `durable_engine` (see
`LOGGER_NAME`): its lifecycle events, its warnings and errors, and what workflow code
writes through `ctx.logger` and a step's `step_ctx.logger`. A lifecycle event is one
record whose attributes `event` and `event_fields` hold its name and fields;
`JsonFormatter` writes it as one JSON object:

    {"ts": "2030-01-02T03:04:05.678+00:00", "level": "info", "logger": "durable_engine",
     "event": "finish", "execution_id": "...", "function": "order", "status": "FAILED",
     "error_type": "ValueError", "error_message": "no such item"}

Any other record becomes `"event": "log"` with its `message`, the execution, context,
operation and attempt it was logged from when `ctx.logger` or a step's logger wrote it,
and a `traceback` if it carries an exception.

    import logging
    import durable_engine.logging

    logging.getLogger("durable_engine").addHandler(durable_engine.logging.json_handler())
    logging.getLogger("durable_engine").setLevel(logging.INFO)
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["EVENT_ATTR", "FIELDS_ATTR", "LOGGER_NAME", "JsonFormatter", "json_handler"]

LOGGER_NAME = "durable_engine"
"""The logger the engine writes everything to."""

EVENT_ATTR = "event"
"""The record attribute that holds a lifecycle event's name."""

FIELDS_ATTR = "event_fields"
"""The record attribute that holds a lifecycle event's fields (a dict)."""

_CONTEXT_KEYS = ("execution_id", "context_id", "operation_id", "attempt")
"""What `ctx.logger` and a step's logger add to each record."""


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object (no newline): lifecycle events and plain logs.

    `constant` fields (a worker's id, a service's name) go into every object."""

    def __init__(self, **constant: object) -> None:
        super().__init__()
        self.constant = constant

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, EVENT_ATTR, None)
        if isinstance(event, str):
            line[EVENT_ATTR] = event
            line.update(self.constant)
            fields = getattr(record, FIELDS_ATTR, None)
            if isinstance(fields, dict):
                line.update(fields)
        else:
            line[EVENT_ATTR] = "log"
            line["message"] = record.getMessage()
            line.update(self.constant)
            for key in _CONTEXT_KEYS:
                if hasattr(record, key):
                    line[key] = getattr(record, key)
        if record.exc_info:
            line["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


def json_handler(stream: TextIO | None = None, **constant: object) -> logging.Handler:
    """A handler that writes one JSON object per line to `stream` (default: stderr),
    each with the `constant` fields; it flushes after every line."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter(**constant))
    return handler
