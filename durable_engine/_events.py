"""Lifecycle events of workers and executions, logged on the `durable_engine` logger.

Each event is one log record whose message reads as text (`claim execution_id=...`)
and which carries the event's name and fields as the record attributes `event` and
`event_fields`, so a handler (`durable_engine.logging.JsonFormatter`) can write it as
one structured line.

Events of an execution, each with its `execution_id` and `function`: `create` (stored,
status RUNNING), `claim` and `takeover` (a worker took it to run; a takeover when the
previous owner's lease had expired), `suspend` (with its `wake_at`), `finish` (with the
terminal `status`; when that is not SUCCEEDED, with `error_type` and `error_message`),
`lease_lost` (a write was refused: another worker or a stop took the execution).
Of a worker: `worker_lease_lost` (this worker was paused past its lease and dropped
everything); a worker process adds `start`, `stopping` and `stop`.
"""

from __future__ import annotations

import logging

from ._jsonlog import EVENT_ATTR, FIELDS_ATTR
from ._models import timestamp_to_datetime

__all__ = ["emit", "finished", "run_ended"]


def emit(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log lifecycle `event` with `fields`."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    logger.log(level, "%s %s", event, text, extra={EVENT_ATTR: event, FIELDS_ATTR: fields})


def run_ended(
    logger: logging.Logger,
    execution_id: str,
    function: str,
    outcome: str,
    wake_at: float | None,
    error: tuple[str, str] | None = None,
) -> None:
    """Log how a run ended: `suspend`, `block` (held for a new deploy), `finish` (with
    its status and, for a failure, `error`'s type and message) or `lease_lost`."""
    if outcome in ("SUSPENDED", "BLOCKED"):
        emit(
            logger,
            "suspend" if outcome == "SUSPENDED" else "block",
            logging.INFO if outcome == "SUSPENDED" else logging.WARNING,
            execution_id=execution_id,
            function=function,
            status=outcome,
            wake_at=_iso(wake_at),
        )
    elif outcome == "DROPPED":
        emit(logger, "lease_lost", logging.WARNING, execution_id=execution_id, function=function)
    else:
        finished(logger, execution_id, function, outcome, error)


def finished(
    logger: logging.Logger,
    execution_id: str,
    function: str,
    status: str,
    error: tuple[str, str] | None = None,
) -> None:
    """Log `finish` of an execution that ended as `status`, with `error`'s type and
    message if it did not succeed."""
    if error is None:
        emit(logger, "finish", execution_id=execution_id, function=function, status=status)
        return
    emit(
        logger,
        "finish",
        execution_id=execution_id,
        function=function,
        status=status,
        error_type=error[0],
        error_message=error[1],
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return timestamp_to_datetime(ts).isoformat(timespec="milliseconds")
