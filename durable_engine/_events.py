"""Lifecycle events of workers and executions, logged on the `durable_engine` logger.

Each event is one log record whose message reads as text (`claim execution_id=...`)
and which carries the event's name and fields as the record attributes `event` and
`event_fields`, so a handler can write it as one structured line.

Events: `claim`, `takeover` (the previous owner's lease had expired), `suspend`,
`finish` (with the terminal status), `lease_lost` (a write was refused: another
worker or a stop took the execution), `worker_lease_lost` (this worker was paused
past its lease and dropped everything). A worker process adds `start`, `stopping`
and `stop`.
"""

from __future__ import annotations

import logging

from ._models import timestamp_to_datetime

__all__ = ["emit", "run_ended"]


def emit(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log lifecycle `event` with `fields`."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    logger.log(level, "%s %s", event, text, extra={"event": event, "event_fields": fields})


def run_ended(
    logger: logging.Logger, execution_id: str, outcome: str, wake_at: float | None
) -> None:
    """Log how a run ended: `suspend`, `block`, `finish` (with its status) or `lease_lost`."""
    if outcome == "SUSPENDED":
        emit(logger, "suspend", execution_id=execution_id, wake_at=_iso(wake_at))
    elif outcome == "BLOCKED":
        emit(logger, "block", logging.WARNING, execution_id=execution_id, wake_at=_iso(wake_at))
    elif outcome == "DROPPED":
        emit(logger, "lease_lost", logging.WARNING, execution_id=execution_id)
    else:
        emit(logger, "finish", execution_id=execution_id, status=outcome)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return timestamp_to_datetime(ts).isoformat(timespec="milliseconds")
