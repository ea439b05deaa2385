"""SQL for events sent to executions by name: sending, receiving, timing out.

An event is kept until an operation of its execution receives it: the operation
already waiting for that name, at the send, or the next one to wait for it. Each
event is received once, and events of one name in the order they were sent (`seq`).
"""

from __future__ import annotations

import sqlite3

from .._errors import ExecutionAlreadyEnded, ExecutionNotFound
from .._models import TERMINAL_EXECUTION, Checkpoint, OperationStatus
from .base import Fence, LeaseLost
from .group_commit import OP_COLUMNS, row_to_checkpoint

__all__ = ["receive", "send", "time_out"]


_WAITER = (
    "SELECT op_id FROM operations WHERE execution_id = ? AND type = 'EVENT' AND name = ?"
    " AND status = 'STARTED' ORDER BY started_at, op_id LIMIT 1"
)
_NEXT = (
    "SELECT seq, payload FROM events WHERE execution_id = ? AND name = ? AND op_id IS NULL"
    " ORDER BY seq LIMIT 1"
)
_DELIVER = (
    "UPDATE operations SET status = 'SUCCEEDED', result = ?, error = NULL, ended_at = ?,"
    " wake_at = NULL, ref = ? WHERE execution_id = ? AND op_id = ?"
)


def send(
    conn: sqlite3.Connection, execution_id: str, name: str, payload: bytes | None, now: float
) -> str | None:
    row = conn.execute(
        "SELECT status FROM executions WHERE execution_id = ?", (execution_id,)
    ).fetchone()
    if row is None:
        raise ExecutionNotFound(f"no execution {execution_id}")
    if row[0] in TERMINAL_EXECUTION:
        raise ExecutionAlreadyEnded(f"execution {execution_id} has already ended ({row[0]})")
    conn.execute(
        "INSERT INTO events (execution_id, name, payload, sent_at) VALUES (?, ?, ?, ?)",
        (execution_id, name, payload, now),
    )
    waiter = conn.execute(_WAITER, (execution_id, name)).fetchone()
    if waiter is None:
        return None
    op_id = str(waiter[0])
    # The oldest event queued goes to the waiter (a waiter exists only while none of
    # its name is queued, so that is the one just sent).
    seq, payload = conn.execute(_NEXT, (execution_id, name)).fetchone()
    conn.execute("UPDATE events SET op_id = ? WHERE seq = ?", (op_id, seq))
    conn.execute(_DELIVER, (payload, now, str(seq), execution_id, op_id))
    conn.execute(
        "UPDATE executions SET wake_at = MIN(COALESCE(wake_at, :now), :now)"
        " WHERE execution_id = :execution_id",
        {"now": now, "execution_id": execution_id},
    )
    return op_id


def _check(conn: sqlite3.Connection, fence: Fence) -> None:
    current = conn.execute(
        "SELECT epoch, status FROM executions WHERE execution_id = ?", (fence.execution_id,)
    ).fetchone()
    if current is None or current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)


def _load(conn: sqlite3.Connection, execution_id: str, op_id: str) -> Checkpoint | None:
    row = conn.execute(
        f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ? AND op_id = ?",
        (execution_id, op_id),
    ).fetchone()
    return None if row is None else row_to_checkpoint(row)


def receive(
    conn: sqlite3.Connection, fence: Fence, operation: Checkpoint, now: float
) -> Checkpoint:
    _check(conn, fence)
    execution_id, op_id = fence.execution_id, operation.op_id
    stored = _load(conn, execution_id, op_id)
    if stored is not None and stored.status.is_terminal:
        return stored
    event = conn.execute(_NEXT, (execution_id, operation.name)).fetchone()
    if event is None:
        if stored is None:
            conn.execute(
                f"INSERT INTO operations ({OP_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                tuple(operation),
            )
            return operation
        return stored
    seq, payload = event
    conn.execute("UPDATE events SET op_id = ? WHERE seq = ?", (op_id, seq))
    received = operation._replace(
        status=OperationStatus.SUCCEEDED, result=payload, ended_at=now, wake_at=None, ref=str(seq)
    )
    conn.execute(
        f"INSERT OR REPLACE INTO operations ({OP_COLUMNS}) VALUES ({', '.join('?' * 13)})",
        tuple(received),
    )
    return _load(conn, execution_id, op_id) or received


def time_out(
    conn: sqlite3.Connection, fence: Fence, op_id: str, now: float, error: bytes
) -> Checkpoint | None:
    _check(conn, fence)
    conn.execute(
        "UPDATE operations SET status = 'TIMED_OUT', error = ?, ended_at = ?"
        " WHERE execution_id = ? AND op_id = ? AND status = 'STARTED'",
        (error, now, fence.execution_id, op_id),
    )
    return _load(conn, fence.execution_id, op_id)
