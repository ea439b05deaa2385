"""SQL for callbacks: resolving, heartbeats and timeouts, each one transaction.

A resolution updates the callback row, its CALLBACK operation row (so replay sees
the outcome in the one query that loads the journal) and the execution's wake-up,
all at once. Bad ids change nothing.
"""

from __future__ import annotations

import hmac
import sqlite3
from typing import Any

from .._errors import CallbackAlreadyResolved, CallbackNotFound, CallbackNotPending
from .._models import TERMINAL_EXECUTION, Checkpoint
from .base import Fence, LeaseLost
from .group_commit import OP_COLUMNS, row_to_checkpoint

__all__ = ["function_of", "heartbeat", "resolve", "time_out"]


def _deadline(
    created_at: float, timeout_at: float | None, hb_timeout: float | None, hb_at: float | None
) -> float | None:
    candidates = [t for t in (timeout_at,) if t is not None]
    if hb_timeout is not None:
        candidates.append((hb_at or created_at) + hb_timeout)
    return min(candidates, default=None)


def _pending(conn: sqlite3.Connection, callback_id: str, now: float) -> tuple[Any, ...]:
    """The pending callback's row, or the error that says why it cannot be resolved."""
    row = conn.execute(
        "SELECT c.callback_id, c.execution_id, c.op_id, c.status, c.created_at, c.timeout_at,"
        " c.heartbeat_timeout, c.heartbeat_at, e.status FROM callbacks c"
        " JOIN executions e ON e.execution_id = c.execution_id WHERE c.callback_id = ?",
        (callback_id,),
    ).fetchone()
    if row is None or not hmac.compare_digest(str(row[0]).encode(), callback_id.encode()):
        raise CallbackNotFound("no callback has that id")
    status = row[3]
    if status in ("SUCCEEDED", "FAILED"):
        raise CallbackAlreadyResolved(f"callback was already resolved ({status})")
    if row[8] in TERMINAL_EXECUTION:  # its callbacks were cancelled as it ended
        raise CallbackNotPending(f"the callback's execution has ended ({row[8]})")
    if status == "CANCELLED":
        raise CallbackNotPending(
            "callback was cancelled: the branch that waited for it was cancelled"
        )
    if status != "PENDING":
        raise CallbackNotPending(f"callback is no longer pending ({status})")
    deadline = _deadline(row[4], row[5], row[6], row[7])
    if deadline is not None and deadline <= now:
        raise CallbackNotPending("callback timed out")
    return tuple(row)


def function_of(conn: sqlite3.Connection, callback_id: str) -> str | None:
    row = conn.execute(
        "SELECT e.function FROM callbacks c JOIN executions e ON e.execution_id = c.execution_id"
        " WHERE c.callback_id = ?",
        (callback_id,),
    ).fetchone()
    return None if row is None else str(row[0])


def resolve(
    conn: sqlite3.Connection,
    callback_id: str,
    status: str,
    result: bytes | None,
    error: bytes | None,
    now: float,
) -> tuple[str, str]:
    row = _pending(conn, callback_id, now)
    execution_id, op_id = row[1], row[2]
    conn.execute(
        "UPDATE callbacks SET status = ?, result = ?, error = ?, resolved_at = ?"
        " WHERE callback_id = ?",
        (status, result, error, now, callback_id),
    )
    conn.execute(
        "UPDATE operations SET status = ?, result = ?, error = ?, ended_at = ?"
        " WHERE execution_id = ? AND op_id = ?",
        (status, result, error, now, execution_id, op_id),
    )
    conn.execute(
        "UPDATE executions SET wake_at = MIN(COALESCE(wake_at, :now), :now)"
        " WHERE execution_id = :execution_id",
        {"now": now, "execution_id": execution_id},
    )
    return execution_id, op_id


# A suspended execution that was to wake at the callback's old deadline wakes at the
# earliest of: the new deadline, its total timeout, and the other timers it waits on.
_FOLLOW_DEADLINE = """
UPDATE executions SET wake_at = MIN(
    :deadline,
    COALESCE(timeout_at, :deadline),
    COALESCE((SELECT MIN(o.wake_at) FROM operations o
              WHERE o.execution_id = :execution_id AND o.op_id != :op_id
                AND o.status IN ('STARTED', 'PENDING') AND o.wake_at >= :old), :deadline))
WHERE execution_id = :execution_id AND owner IS NULL AND status = 'SUSPENDED' AND wake_at = :old
"""


def heartbeat(conn: sqlite3.Connection, callback_id: str, now: float) -> tuple[str, str]:
    row = _pending(conn, callback_id, now)
    execution_id, op_id = row[1], row[2]
    (old,) = conn.execute(
        "SELECT wake_at FROM operations WHERE execution_id = ? AND op_id = ?",
        (execution_id, op_id),
    ).fetchone()
    deadline = _deadline(row[4], row[5], row[6], now)
    conn.execute("UPDATE callbacks SET heartbeat_at = ? WHERE callback_id = ?", (now, callback_id))
    conn.execute(
        "UPDATE operations SET wake_at = ? WHERE execution_id = ? AND op_id = ?",
        (deadline, execution_id, op_id),
    )
    if old is not None and deadline is not None and deadline != old:
        conn.execute(
            _FOLLOW_DEADLINE,
            {"deadline": deadline, "execution_id": execution_id, "op_id": op_id, "old": old},
        )
    return execution_id, op_id


def time_out(
    conn: sqlite3.Connection, fence: Fence, callback_id: str, op_id: str, now: float, error: bytes
) -> Checkpoint:
    current = conn.execute(
        "SELECT epoch, status FROM executions WHERE execution_id = ?", (fence.execution_id,)
    ).fetchone()
    if current is None or current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)
    row = conn.execute(
        "SELECT status, created_at, timeout_at, heartbeat_timeout, heartbeat_at FROM callbacks"
        " WHERE callback_id = ?",
        (callback_id,),
    ).fetchone()
    if row is not None and row[0] == "PENDING":
        deadline = _deadline(row[1], row[2], row[3], row[4])
        if deadline is not None and deadline <= now:
            conn.execute(
                "UPDATE callbacks SET status = 'TIMED_OUT', resolved_at = ? WHERE callback_id = ?",
                (now, callback_id),
            )
            conn.execute(
                "UPDATE operations SET status = 'TIMED_OUT', error = ?, ended_at = ?"
                " WHERE execution_id = ? AND op_id = ?",
                (error, now, fence.execution_id, op_id),
            )
    op = conn.execute(
        f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ? AND op_id = ?",
        (fence.execution_id, op_id),
    ).fetchone()
    return row_to_checkpoint(op)
