"""PostgreSQL writes for events sent to executions by name: sending, receiving, timing out.

They mirror the SQLite store's `events`. Each locks its execution's row first, so a
send from one process and a wait started by the execution's owner in another take
turns: the send sees the waiter, or the waiter sees the event, never neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ExecutionAlreadyEnded, ExecutionNotFound
from .._models import TERMINAL_EXECUTION, Checkpoint, OperationStatus
from .base import Fence, LeaseLost
from .pg_notify import note
from .pg_rows import OP_COLUMNS, row_to_checkpoint

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["receive", "send", "time_out"]


_LOCK = "SELECT epoch, status FROM executions WHERE execution_id = $1 FOR UPDATE"
_WAITER = (
    "SELECT op_id FROM operations WHERE execution_id = $1 AND type = 'EVENT' AND name = $2"
    " AND status = 'STARTED' ORDER BY started_at, op_id LIMIT 1"
)
_NEXT = (
    "SELECT seq, payload FROM events WHERE execution_id = $1 AND name = $2 AND op_id IS NULL"
    " ORDER BY seq LIMIT 1"
)
_DELIVER = (
    "UPDATE operations SET status = 'SUCCEEDED', result = $1, error = NULL, ended_at = $2,"
    " wake_at = NULL, ref = $3 WHERE execution_id = $4 AND op_id = $5"
)
_PUT_OP = f"""
INSERT INTO operations ({OP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
    $12, $13)
ON CONFLICT (execution_id, op_id) DO UPDATE SET
    parent_id = EXCLUDED.parent_id, type = EXCLUDED.type, name = EXCLUDED.name,
    status = EXCLUDED.status, attempt = EXCLUDED.attempt, result = EXCLUDED.result,
    error = EXCLUDED.error, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
    wake_at = EXCLUDED.wake_at, ref = EXCLUDED.ref
"""


async def send(
    conn: Conn, execution_id: str, name: str, payload: bytes | None, now: float
) -> str | None:
    """See `Store.send_event`; `now` is on the database's clock."""
    row = await conn.fetchrow(_LOCK, execution_id)
    if row is None:
        raise ExecutionNotFound(f"no execution {execution_id}")
    if row[1] in TERMINAL_EXECUTION:
        raise ExecutionAlreadyEnded(f"execution {execution_id} has already ended ({row[1]})")
    await conn.execute(
        "INSERT INTO events (execution_id, name, payload, sent_at) VALUES ($1, $2, $3, $4)",
        execution_id,
        name,
        payload,
        now,
    )
    note("answer", execution_id)
    waiter = await conn.fetchval(_WAITER, execution_id, name)
    if waiter is None:
        return None
    op_id = str(waiter)
    # The oldest event kept goes to the waiter (a waiter exists only while none of its
    # name is kept, so that is the one just sent).
    event = await conn.fetchrow(_NEXT, execution_id, name)
    assert event is not None  # the event just sent, at the least
    seq, kept = event
    await conn.execute("UPDATE events SET op_id = $1 WHERE seq = $2", op_id, seq)
    await conn.execute(_DELIVER, kept, now, str(seq), execution_id, op_id)
    await conn.execute(
        "UPDATE executions SET wake_at = LEAST(wake_at, $1::float8) WHERE execution_id = $2",
        now,
        execution_id,
    )
    return op_id


async def _check(conn: Conn, fence: Fence) -> None:
    current = await conn.fetchrow(_LOCK, fence.execution_id)
    if current is None or current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)


async def _load(conn: Conn, execution_id: str, op_id: str) -> Checkpoint | None:
    row = await conn.fetchrow(
        f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = $1 AND op_id = $2",
        execution_id,
        op_id,
    )
    return None if row is None else row_to_checkpoint(tuple(row))


async def receive(conn: Conn, fence: Fence, operation: Checkpoint, now: float) -> Checkpoint:
    """See `Store.receive_event`; `operation` and `now` are on the database's clock."""
    await _check(conn, fence)
    execution_id, op_id = fence.execution_id, operation.op_id
    stored = await _load(conn, execution_id, op_id)
    if stored is not None and stored.status.is_terminal:
        return stored
    event = await conn.fetchrow(_NEXT, execution_id, operation.name)
    if event is None:
        if stored is None:
            await conn.execute(_PUT_OP, *operation)
            return operation
        return stored
    seq, payload = event
    await conn.execute("UPDATE events SET op_id = $1 WHERE seq = $2", op_id, seq)
    received = operation._replace(
        status=OperationStatus.SUCCEEDED, result=payload, ended_at=now, wake_at=None, ref=str(seq)
    )
    await conn.execute(_PUT_OP, *received)
    return await _load(conn, execution_id, op_id) or received


async def time_out(
    conn: Conn, fence: Fence, op_id: str, now: float, error: bytes
) -> Checkpoint | None:
    """See `Store.time_out_event`; `now` is on the database's clock."""
    await _check(conn, fence)
    await conn.execute(
        "UPDATE operations SET status = 'TIMED_OUT', error = $1, ended_at = $2"
        " WHERE execution_id = $3 AND op_id = $4 AND status = 'STARTED'",
        error,
        now,
        fence.execution_id,
        op_id,
    )
    return await _load(conn, fence.execution_id, op_id)
