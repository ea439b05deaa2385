"""PostgreSQL purges: deleting ended executions for good, whole.

They mirror the SQLite store's `purging`: an execution goes with its operations, its
callbacks, the events sent to it and the attempts kept of its steps; the executions it
invoked lose their link to it. An execution invoked by one that has not ended is never
purged: its parent may still read its outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._models import TERMINAL_EXECUTION

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["find", "purge"]


# Oldest ending first, so a purge with a limit removes the oldest (LIMIT NULL: all).
_PURGEABLE = """
SELECT e.execution_id FROM executions AS e
WHERE e.ended_at IS NOT NULL AND e.ended_at < $1
  AND e.status = ANY($2::text[])
  AND ($3::text IS NULL OR e.function = $3)
  AND NOT EXISTS (
    SELECT 1 FROM executions AS p
    WHERE p.execution_id = e.parent_id AND p.status <> ALL($4::text[])
  )
ORDER BY e.ended_at, e.execution_id
LIMIT $5
"""
# Purges racing in two processes take disjoint executions (one locked is skipped: the
# next purge takes it).
_LOCKED = _PURGEABLE + " FOR UPDATE OF e SKIP LOCKED"
_DELETE = (
    "DELETE FROM operations WHERE execution_id = ANY($1::text[])",
    "DELETE FROM callbacks WHERE execution_id = ANY($1::text[])",
    "DELETE FROM events WHERE execution_id = ANY($1::text[])",
    "DELETE FROM attempts WHERE execution_id = ANY($1::text[])",
    "DELETE FROM kept_operations WHERE execution_id = ANY($1::text[])",
    "UPDATE executions SET parent_id = NULL WHERE parent_id = ANY($1::text[])",
    "DELETE FROM executions WHERE execution_id = ANY($1::text[])",
)


def _parameters(
    before: float, statuses: Sequence[str] | None, function: str | None, limit: int | None
) -> tuple[Any, ...]:
    wanted = (
        TERMINAL_EXECUTION if statuses is None else [s for s in statuses if s in TERMINAL_EXECUTION]
    )
    return (
        before,
        list(wanted),
        function,
        list(TERMINAL_EXECUTION),
        None if limit is None else int(limit),
    )


async def find(
    conn: Conn,
    before: float,
    statuses: Sequence[str] | None,
    function: str | None,
    limit: int | None,
) -> list[str]:
    """The ids a purge with these filters would delete, oldest ending first; `before`
    is on the database's clock."""
    rows = await conn.fetch(_PURGEABLE, *_parameters(before, statuses, function, limit))
    return [str(r[0]) for r in rows]


async def purge(
    conn: Conn,
    before: float,
    statuses: Sequence[str] | None,
    function: str | None,
    limit: int,
) -> list[str]:
    """Delete up to `limit` purgeable executions whole, inside the caller's transaction;
    returns their ids."""
    rows = await conn.fetch(_LOCKED, *_parameters(before, statuses, function, limit))
    ids = [str(r[0]) for r in rows]
    if ids:
        for statement in _DELETE:
            await conn.execute(statement, ids)
    return ids
