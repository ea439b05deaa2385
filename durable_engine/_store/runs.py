"""SQL for an execution's runs: continuing as new, and reading the runs kept.

`continue_as_new` switches an execution to its next run in one transaction: the
run number goes up by one, the input becomes the new one, the epoch moves on (so a
write still in flight from the run that ended is refused), the operations and kept
attempts of the run that ended are deleted (or its operations moved, by run number,
to `kept_operations`), its pending callbacks become CANCELLED, and the events it
received are deleted while the ones no operation received yet stay for the next run.
"""

from __future__ import annotations

import sqlite3

from .._models import TERMINAL_EXECUTION, Checkpoint, ExecutionRecord
from .base import Fence, LeaseLost
from .executions import EXEC_COLUMNS, execution_from_row
from .group_commit import row_to_checkpoint
from .schema import OP_COLUMNS

__all__ = ["KEPT_COLUMNS", "continue_as_new", "kept_operations", "kept_runs"]

# An operation kept as its run ends is kept as that end left it: one still open (a
# timer, a callback, a retry delay) is CANCELLED then, as at any other ending.
_OPEN = "status IN ('STARTED', 'PENDING')"
KEPT_COLUMNS = ", ".join(
    f"CASE WHEN {_OPEN} THEN 'CANCELLED' ELSE status END"
    if column == "status"
    else f"CASE WHEN {_OPEN} THEN {{now}} ELSE ended_at END"
    if column == "ended_at"
    else column
    for column in OP_COLUMNS.split(", ")
)
"""The operations table's columns as kept: `{now}` is the placeholder of the switch's
instant."""

_KEEP = (
    f"INSERT OR REPLACE INTO kept_operations (run_number, {OP_COLUMNS})"
    f" SELECT :run, {KEPT_COLUMNS.format(now=':now')} FROM operations"
    " WHERE execution_id = :execution_id"
)
_NEXT_RUN = (
    "UPDATE executions SET run_number = run_number + 1, input = ?, epoch = epoch + 1,"
    " status = 'RUNNING', result = NULL, error = NULL, wake_at = NULL WHERE execution_id = ?"
)


def continue_as_new(
    conn: sqlite3.Connection, fence: Fence, data: bytes | None, now: float, keep_history: bool
) -> ExecutionRecord:
    """Start the next run of the execution `fence` holds; returns it as now stored.
    Raises LeaseLost, writing nothing, if the fence no longer holds."""
    execution_id = fence.execution_id
    row = conn.execute(
        "SELECT epoch, status, run_number FROM executions WHERE execution_id = ?",
        (execution_id,),
    ).fetchone()
    if row is None or row[0] != fence.epoch or row[1] in TERMINAL_EXECUTION:
        raise LeaseLost(execution_id)
    if keep_history:
        conn.execute(_KEEP, {"run": row[2], "now": now, "execution_id": execution_id})
    conn.execute("DELETE FROM operations WHERE execution_id = ?", (execution_id,))
    conn.execute("DELETE FROM attempts WHERE execution_id = ?", (execution_id,))
    conn.execute(
        "UPDATE callbacks SET status = 'CANCELLED', resolved_at = ?"
        " WHERE execution_id = ? AND status = 'PENDING'",
        (now, execution_id),
    )
    conn.execute("DELETE FROM events WHERE execution_id = ? AND op_id IS NOT NULL", (execution_id,))
    conn.execute(_NEXT_RUN, (data, execution_id))
    stored = conn.execute(
        f"SELECT {EXEC_COLUMNS} FROM executions WHERE execution_id = ?", (execution_id,)
    ).fetchone()
    return execution_from_row(stored)


def kept_operations(
    conn: sqlite3.Connection, execution_id: str, run_number: int
) -> list[Checkpoint]:
    """The operations kept of run `run_number` of the execution (none if not kept)."""
    rows = conn.execute(
        f"SELECT {OP_COLUMNS} FROM kept_operations WHERE execution_id = ? AND run_number = ?",
        (execution_id, run_number),
    ).fetchall()
    return [row_to_checkpoint(r) for r in rows]


def kept_runs(conn: sqlite3.Connection, execution_id: str) -> list[int]:
    """The numbers of the execution's earlier runs whose operations are kept, in order."""
    rows = conn.execute(
        "SELECT DISTINCT run_number FROM kept_operations WHERE execution_id = ?"
        " ORDER BY run_number",
        (execution_id,),
    ).fetchall()
    return [int(r[0]) for r in rows]
