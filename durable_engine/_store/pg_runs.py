"""PostgreSQL SQL for an execution's runs: continuing as new, and reading the runs
kept. It mirrors the SQLite store's `runs`: see there for what a switch does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._models import TERMINAL_EXECUTION, Checkpoint, ExecutionRecord
from .base import Fence, LeaseLost
from .pg_rows import EXEC_COLUMNS, OP_COLUMNS, execution_from_row, row_to_checkpoint
from .runs import KEPT_COLUMNS

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["continue_as_new", "kept_operations", "kept_runs"]

_KEEP = (
    f"INSERT INTO kept_operations (run_number, {OP_COLUMNS})"
    f" SELECT $1, {KEPT_COLUMNS.format(now='$3')} FROM operations WHERE execution_id = $2"
    " ON CONFLICT (execution_id, run_number, op_id) DO NOTHING"
)
_NEXT_RUN = f"""
UPDATE executions SET run_number = run_number + 1, input = $1, epoch = epoch + 1,
    status = 'RUNNING', result = NULL, error = NULL, wake_at = NULL
WHERE execution_id = $2
RETURNING {EXEC_COLUMNS}
"""


async def continue_as_new(
    conn: Conn, fence: Fence, data: bytes | None, now: float, keep_history: bool
) -> ExecutionRecord:
    """Start the next run of the execution `fence` holds; returns it as now stored.
    Raises LeaseLost, writing nothing, if the fence no longer holds."""
    execution_id = fence.execution_id
    row = await conn.fetchrow(
        "SELECT epoch, status, run_number FROM executions WHERE execution_id = $1 FOR UPDATE",
        execution_id,
    )
    if row is None or row[0] != fence.epoch or row[1] in TERMINAL_EXECUTION:
        raise LeaseLost(execution_id)
    if keep_history:
        await conn.execute(_KEEP, row[2], execution_id, now)
    await conn.execute("DELETE FROM operations WHERE execution_id = $1", execution_id)
    await conn.execute("DELETE FROM attempts WHERE execution_id = $1", execution_id)
    await conn.execute(
        "UPDATE callbacks SET status = 'CANCELLED', resolved_at = $1"
        " WHERE execution_id = $2 AND status = 'PENDING'",
        now,
        execution_id,
    )
    await conn.execute(
        "DELETE FROM events WHERE execution_id = $1 AND op_id IS NOT NULL", execution_id
    )
    stored = await conn.fetchrow(_NEXT_RUN, data, execution_id)
    assert stored is not None  # the row was locked above
    return execution_from_row(tuple(stored))


async def kept_operations(conn: Conn, execution_id: str, run_number: int) -> list[Checkpoint]:
    """The operations kept of run `run_number` of the execution (none if not kept)."""
    rows = await conn.fetch(
        f"SELECT {OP_COLUMNS} FROM kept_operations WHERE execution_id = $1 AND run_number = $2",
        execution_id,
        run_number,
    )
    return [row_to_checkpoint(tuple(r)) for r in rows]


async def kept_runs(conn: Conn, execution_id: str) -> list[int]:
    """The numbers of the execution's earlier runs whose operations are kept, in order."""
    rows = await conn.fetch(
        "SELECT DISTINCT run_number FROM kept_operations WHERE execution_id = $1"
        " ORDER BY run_number",
        execution_id,
    )
    return [int(r[0]) for r in rows]
