"""SQL that ends an execution from outside its code: a stop, or its total timeout.

Each ending is one transaction: the execution gets its terminal status and a new
epoch (so any write still in flight from a worker is refused), its pending callbacks
become CANCELLED, its timers and retry delays (STARTED or PENDING operations) become
CANCELLED, and an execution that invoked it is woken.
"""

from __future__ import annotations

import sqlite3

from .._errors import ExecutionNotFound
from .._models import TERMINAL_EXECUTION, ExecutionStatus
from .base import Fence, LeaseLost
from .group_commit import WAKE_PARENT

__all__ = ["stop", "time_out"]


def _end(
    conn: sqlite3.Connection, execution_id: str, status: ExecutionStatus, error: bytes, now: float
) -> None:
    conn.execute(
        "UPDATE executions SET status = ?, result = NULL, error = ?, ended_at = ?, owner = NULL,"
        " wake_at = NULL, epoch = epoch + 1 WHERE execution_id = ?",
        (status.value, error, now, execution_id),
    )
    conn.execute(
        "UPDATE callbacks SET status = 'CANCELLED', resolved_at = ?"
        " WHERE execution_id = ? AND status = 'PENDING'",
        (now, execution_id),
    )
    conn.execute(
        "UPDATE operations SET status = 'CANCELLED', ended_at = ?"
        " WHERE execution_id = ? AND status IN ('STARTED', 'PENDING')",
        (now, execution_id),
    )
    conn.execute(WAKE_PARENT, {"at": now, "execution_id": execution_id})


def stop(conn: sqlite3.Connection, execution_id: str, now: float, error: bytes) -> str | None:
    """Stop an unfinished execution; returns the status of one that had already ended."""
    row = conn.execute(
        "SELECT status FROM executions WHERE execution_id = ?", (execution_id,)
    ).fetchone()
    if row is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    if row[0] in TERMINAL_EXECUTION:
        return str(row[0])
    _end(conn, execution_id, ExecutionStatus.STOPPED, error, now)
    return None


def time_out(conn: sqlite3.Connection, fence: Fence, now: float, error: bytes) -> None:
    """End the execution as TIMED_OUT if `fence` still holds it, else raise LeaseLost."""
    row = conn.execute(
        "SELECT epoch, status FROM executions WHERE execution_id = ?", (fence.execution_id,)
    ).fetchone()
    if row is None or row[0] != fence.epoch or row[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)
    _end(conn, fence.execution_id, ExecutionStatus.TIMED_OUT, error, now)


def resume(conn: sqlite3.Connection, execution_id: str, now: float) -> ExecutionStatus:
    """Make a BLOCKED execution due at `now`; returns its status as it was."""
    row = conn.execute(
        "SELECT status FROM executions WHERE execution_id = ?", (execution_id,)
    ).fetchone()
    if row is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    if row[0] == ExecutionStatus.BLOCKED:
        conn.execute(
            "UPDATE executions SET wake_at = ? WHERE execution_id = ?", (now, execution_id)
        )
    return ExecutionStatus(row[0])


def retry_blocked(conn: sqlite3.Connection, functions: str, now: float) -> int:
    """Make every BLOCKED execution of the function keys (`name@version`) in JSON list
    `functions` due at `now`."""
    return conn.execute(
        "UPDATE executions SET wake_at = MIN(COALESCE(wake_at, :now), :now)"
        " WHERE status = 'BLOCKED'"
        " AND function || '@' || version IN (SELECT value FROM json_each(:functions))",
        {"now": now, "functions": functions},
    ).rowcount
