"""JSON log lines for the engine's logger, `durable_engine`: see `json_handler`.

Everything the engine logs goes to the logger named `durable_engine` (`LOGGER_NAME`):
lifecycle events of executions and workers (records with an `event` attribute), its
own warnings and errors, and what workflow code writes through `ctx.logger` and a
step's logger. `json_handler()` writes each record as one JSON object per line; the
worker writes its stderr with the same `JsonFormatter`.
"""

from __future__ import annotations

from ._jsonlog import LOGGER_NAME as LOGGER_NAME
from ._jsonlog import JsonFormatter as JsonFormatter
from ._jsonlog import json_handler as json_handler

__all__ = ["LOGGER_NAME", "JsonFormatter", "json_handler"]
