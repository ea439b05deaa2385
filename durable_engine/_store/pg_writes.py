"""PostgreSQL writes that are not checkpoints: claims, endings and callbacks.

Each runs inside a batch's transaction (see `pg_batch`), mirroring the SQLite store's
`callbacks` and `endings`: bad ids change nothing, and an execution's row is locked
before it is judged, so two processes never decide on the same row at once.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import (
    CallbackAlreadyResolved,
    CallbackNotFound,
    CallbackNotPending,
    ExecutionNotFound,
    StoreError,
)
from .._models import TERMINAL_EXECUTION, Checkpoint, ExecutionRecord, ExecutionStatus
from .base import Fence, LeaseLost, WorkerGone
from .pg_batch import WAKE_PARENT
from .pg_notify import note
from .pg_rows import EXEC_COLUMNS, OP_COLUMNS, execution_from_row, row_to_checkpoint

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = [
    "claim",
    "heartbeat_callback",
    "resolve_callback",
    "resume",
    "retry_blocked",
    "stop",
    "time_out",
    "time_out_callback",
]


# Unowned and due, or owned by a worker whose row is gone (a takeover); rows another
# transaction holds (a batch writing for them, a claimer) are skipped, not waited for.
_PICK = """
SELECT execution_id, owner FROM executions
WHERE function || '@' || version = ANY($2::text[]) AND (
    (owner IS NULL AND wake_at <= $3)
    OR (owner IS NOT NULL AND owner <> $1 AND status IN ('RUNNING', 'SUSPENDED')
        AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = executions.owner)))
LIMIT $4
FOR UPDATE SKIP LOCKED
"""
_TAKE = f"""
UPDATE executions SET owner = $1, epoch = epoch + 1, status = 'RUNNING', wake_at = NULL,
    error = NULL
WHERE execution_id = ANY($2::text[])
RETURNING {EXEC_COLUMNS}
"""


async def claim(
    conn: Conn,
    worker_id: str,
    functions: Sequence[str],
    now: float,
    limit: int,
    lease_now: float,
    stale: Mapping[str, float] | None = None,
    expires_at: float | None = None,
) -> list[ExecutionRecord]:
    """See `Store.claim`; `lease_now`, `stale` and `expires_at` are already on the
    database's clock."""
    if stale is None:
        await conn.execute(
            "DELETE FROM workers WHERE expires_at <= $1 AND worker_id <> $2", lease_now, worker_id
        )
    else:
        if expires_at is None:
            mine = await conn.fetchval("SELECT 1 FROM workers WHERE worker_id = $1", worker_id)
        else:  # a heartbeat with the claim
            mine = await conn.fetchval(
                "UPDATE workers SET expires_at = $2 WHERE worker_id = $1 RETURNING 1",
                worker_id,
                expires_at,
            )
        if mine is None:
            raise WorkerGone(f"worker {worker_id!r} has no row: it must rejoin")
        await conn.execute(
            "DELETE FROM workers WHERE expires_at <= $1 AND worker_id <> $2"
            " AND (worker_id, expires_at) IN"
            " (SELECT * FROM unnest($3::text[], $4::float8[]))",
            lease_now,
            worker_id,
            list(stale),
            list(stale.values()),
        )
    picked = await conn.fetch(_PICK, worker_id, list(functions), now, limit)
    if not picked:
        return []
    previous: dict[str, str | None] = {r[0]: r[1] for r in picked}
    rows = await conn.fetch(_TAKE, worker_id, list(previous))
    return [execution_from_row(tuple(r), taken_from=previous.get(r[0])) for r in rows]


async def _end(
    conn: Conn, execution_id: str, status: ExecutionStatus, error: bytes, now: float
) -> None:
    await conn.execute(
        "UPDATE executions SET status = $1, result = NULL, error = $2, ended_at = $3,"
        " owner = NULL, wake_at = NULL, epoch = epoch + 1 WHERE execution_id = $4",
        status.value,
        error,
        now,
        execution_id,
    )
    await conn.execute(
        "UPDATE callbacks SET status = 'CANCELLED', resolved_at = $1"
        " WHERE execution_id = $2 AND status = 'PENDING'",
        now,
        execution_id,
    )
    await conn.execute(
        "UPDATE operations SET status = 'CANCELLED', ended_at = $1"
        " WHERE execution_id = $2 AND status IN ('STARTED', 'PENDING')",
        now,
        execution_id,
    )
    note("end", execution_id)
    parent = await conn.fetchval(WAKE_PARENT + " RETURNING execution_id", now, execution_id)
    if parent is not None:
        note("answer", str(parent))
        note("due", repr(now))


async def _locked(conn: Conn, execution_id: str) -> Any:
    return await conn.fetchrow(
        "SELECT epoch, status FROM executions WHERE execution_id = $1 FOR UPDATE", execution_id
    )


async def stop(conn: Conn, execution_id: str, now: float, error: bytes) -> str | None:
    """Stop an unfinished execution; returns the status of one that had already ended."""
    row = await _locked(conn, execution_id)
    if row is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    if row[1] in TERMINAL_EXECUTION:
        return str(row[1])
    await _end(conn, execution_id, ExecutionStatus.STOPPED, error, now)
    note("stop", execution_id)  # its owner unwinds its run
    return None


async def resume(conn: Conn, execution_id: str, now: float) -> ExecutionStatus:
    """Make a BLOCKED execution due at `now`; returns its status as it was."""
    row = await _locked(conn, execution_id)
    if row is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    if row[1] == ExecutionStatus.BLOCKED:
        await conn.execute(
            "UPDATE executions SET wake_at = $1 WHERE execution_id = $2", now, execution_id
        )
        note("due", repr(now))
    return ExecutionStatus(row[1])


async def retry_blocked(conn: Conn, functions: Sequence[str], now: float) -> int:
    """Make every BLOCKED execution of the function keys `functions` due at `now`."""
    done = await conn.execute(
        "UPDATE executions SET wake_at = LEAST(COALESCE(wake_at, $1), $1)"
        " WHERE status = 'BLOCKED' AND function || '@' || version = ANY($2::text[])",
        now,
        list(functions),
    )
    count = int(done.split()[-1])
    if count:
        note("due", repr(now))
    return count


async def time_out(conn: Conn, fence: Fence, now: float, error: bytes) -> None:
    """End the execution as TIMED_OUT if `fence` still holds it, else raise LeaseLost."""
    row = await _locked(conn, fence.execution_id)
    if row is None or row[0] != fence.epoch or row[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)
    await _end(conn, fence.execution_id, ExecutionStatus.TIMED_OUT, error, now)


# -- callbacks -----------------------------------------------------------------------


def _deadline(
    created_at: float, timeout_at: float | None, hb_timeout: float | None, hb_at: float | None
) -> float | None:
    candidates = [t for t in (timeout_at,) if t is not None]
    if hb_timeout is not None:
        candidates.append((hb_at or created_at) + hb_timeout)
    return min(candidates, default=None)


async def _pending(conn: Conn, callback_id: str, now: float) -> Any:
    """The pending callback's row, or the error that says why it cannot be resolved."""
    row = await conn.fetchrow(
        "SELECT c.callback_id, c.execution_id, c.op_id, c.status, c.created_at, c.timeout_at,"
        " c.heartbeat_timeout, c.heartbeat_at, e.status FROM callbacks c"
        " JOIN executions e ON e.execution_id = c.execution_id WHERE c.callback_id = $1"
        " FOR UPDATE",
        callback_id,
    )
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
    return row


async def function_of(conn: Conn, callback_id: str) -> str | None:
    value = await conn.fetchval(
        "SELECT e.function FROM callbacks c JOIN executions e ON e.execution_id = c.execution_id"
        " WHERE c.callback_id = $1",
        callback_id,
    )
    return None if value is None else str(value)


async def resolve_callback(
    conn: Conn,
    callback_id: str,
    status: str,
    result: bytes | None,
    error: bytes | None,
    now: float,
) -> tuple[str, str]:
    row = await _pending(conn, callback_id, now)
    execution_id, op_id = str(row[1]), str(row[2])
    await conn.execute(
        "UPDATE callbacks SET status = $1, result = $2, error = $3, resolved_at = $4"
        " WHERE callback_id = $5",
        status,
        result,
        error,
        now,
        callback_id,
    )
    await conn.execute(
        "UPDATE operations SET status = $1, result = $2, error = $3, ended_at = $4"
        " WHERE execution_id = $5 AND op_id = $6",
        status,
        result,
        error,
        now,
        execution_id,
        op_id,
    )
    await conn.execute(
        "UPDATE executions SET wake_at = LEAST(wake_at, $1::float8) WHERE execution_id = $2",
        now,
        execution_id,
    )
    note("answer", execution_id)
    return execution_id, op_id


# A suspended execution that was to wake at the callback's old deadline wakes at the
# earliest of: the new deadline, its total timeout, and the other timers it waits on.
_FOLLOW_DEADLINE = """
UPDATE executions SET wake_at = LEAST(
    $1::float8,
    timeout_at,
    (SELECT MIN(o.wake_at) FROM operations o
     WHERE o.execution_id = $2 AND o.op_id <> $3
       AND o.status IN ('STARTED', 'PENDING') AND o.wake_at >= $4::float8))
WHERE execution_id = $2 AND owner IS NULL AND status = 'SUSPENDED' AND wake_at = $4::float8
"""


async def heartbeat_callback(conn: Conn, callback_id: str, now: float) -> tuple[str, str]:
    row = await _pending(conn, callback_id, now)
    execution_id, op_id = str(row[1]), str(row[2])
    old = await conn.fetchval(
        "SELECT wake_at FROM operations WHERE execution_id = $1 AND op_id = $2",
        execution_id,
        op_id,
    )
    deadline = _deadline(row[4], row[5], row[6], now)
    await conn.execute(
        "UPDATE callbacks SET heartbeat_at = $1 WHERE callback_id = $2", now, callback_id
    )
    await conn.execute(
        "UPDATE operations SET wake_at = $1 WHERE execution_id = $2 AND op_id = $3",
        deadline,
        execution_id,
        op_id,
    )
    if old is not None and deadline is not None and deadline != old:
        await conn.execute(_FOLLOW_DEADLINE, deadline, execution_id, op_id, old)
    return execution_id, op_id


async def time_out_callback(
    conn: Conn,
    fence: Fence,
    callback_id: str,
    op_id: str,
    now: float,
    error: bytes,
) -> Checkpoint:
    current = await conn.fetchrow(
        "SELECT epoch, status FROM executions WHERE execution_id = $1 FOR SHARE",
        fence.execution_id,
    )
    if current is None or current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION:
        raise LeaseLost(fence.execution_id)
    row = await conn.fetchrow(
        "SELECT status, created_at, timeout_at, heartbeat_timeout, heartbeat_at FROM callbacks"
        " WHERE callback_id = $1 FOR UPDATE",
        callback_id,
    )
    if row is not None and row[0] == "PENDING":
        deadline = _deadline(row[1], row[2], row[3], row[4])
        if deadline is not None and deadline <= now:
            await conn.execute(
                "UPDATE callbacks SET status = 'TIMED_OUT', resolved_at = $1"
                " WHERE callback_id = $2",
                now,
                callback_id,
            )
            await conn.execute(
                "UPDATE operations SET status = 'TIMED_OUT', error = $1, ended_at = $2"
                " WHERE execution_id = $3 AND op_id = $4",
                error,
                now,
                fence.execution_id,
                op_id,
            )
    op = await conn.fetchrow(
        f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = $1 AND op_id = $2",
        fence.execution_id,
        op_id,
    )
    if op is None:  # its execution is live: its operation cannot have gone
        raise StoreError(f"operation {op_id} of execution {fence.execution_id} is missing")
    return row_to_checkpoint(tuple(op))
