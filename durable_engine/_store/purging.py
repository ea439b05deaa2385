"""SQL that deletes ended executions for good (a purge), and hands freed space back
to the file system (`db vacuum`).

A purge deletes whole executions: the execution's row, its operations (those kept of
earlier runs too) and its callbacks in one transaction, and the executions it invoked
lose their link to it (`parent_id` becomes NULL: they are top-level executions from then
on, and keep running or stay as they ended). An execution invoked by one that has not
ended is never purged: its parent may still have to read its outcome.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import StoreError
from .._models import TERMINAL_EXECUTION

__all__ = ["VacuumReport", "find", "purge", "vacuum"]

_TERMINAL_SQL = ", ".join(f"'{s}'" for s in TERMINAL_EXECUTION)

# Oldest ending first, so a purge with a limit removes the oldest. The parent test
# keeps a child whose parent still runs (or is held): it may yet read the child's end.
_PURGEABLE = f"""
SELECT e.execution_id FROM executions AS e
WHERE e.ended_at IS NOT NULL AND e.ended_at < :before
  AND e.status IN (SELECT value FROM json_each(:statuses))
  AND (:function IS NULL OR e.function = :function)
  AND NOT EXISTS (
    SELECT 1 FROM executions AS p
    WHERE p.execution_id = e.parent_id AND p.status NOT IN ({_TERMINAL_SQL})
  )
ORDER BY e.ended_at, e.execution_id
LIMIT :limit
"""
_IDS = "(SELECT value FROM json_each(:ids))"
_DELETE = (
    f"DELETE FROM operations WHERE execution_id IN {_IDS}",
    f"DELETE FROM callbacks WHERE execution_id IN {_IDS}",
    f"DELETE FROM events WHERE execution_id IN {_IDS}",
    f"DELETE FROM attempts WHERE execution_id IN {_IDS}",
    f"DELETE FROM kept_operations WHERE execution_id IN {_IDS}",
    f"UPDATE executions SET parent_id = NULL WHERE parent_id IN {_IDS}",
    f"DELETE FROM executions WHERE execution_id IN {_IDS}",
)


def _parameters(
    before: float, statuses: Sequence[str] | None, function: str | None, limit: int | None
) -> dict[str, object]:
    wanted = (
        TERMINAL_EXECUTION if statuses is None else [s for s in statuses if s in TERMINAL_EXECUTION]
    )
    return {
        "before": before,
        "statuses": json.dumps(list(wanted)),
        "function": function,
        "limit": -1 if limit is None else int(limit),
    }


def find(
    conn: sqlite3.Connection,
    before: float,
    statuses: Sequence[str] | None,
    function: str | None,
    limit: int | None,
) -> list[str]:
    """The ids of the executions a purge with these filters would delete, oldest
    ending first."""
    params = _parameters(before, statuses, function, limit)
    return [str(row[0]) for row in conn.execute(_PURGEABLE, params).fetchall()]


def purge(
    conn: sqlite3.Connection,
    before: float,
    statuses: Sequence[str] | None,
    function: str | None,
    limit: int,
) -> list[str]:
    """Delete up to `limit` purgeable executions whole, inside the caller's
    transaction; returns their ids."""
    ids = find(conn, before, statuses, function, limit)
    if ids:
        listed = {"ids": json.dumps(ids)}
        for statement in _DELETE:
            conn.execute(statement, listed)
    return ids


@dataclass(frozen=True, slots=True)
class VacuumReport:
    """What `vacuum` did to a database file."""

    mode: str
    """"incremental" (`PRAGMA incremental_vacuum`: the file was made with
    auto_vacuum=INCREMENTAL) or "full" (`VACUUM`, which rewrites the whole file and
    makes it incremental from then on)."""
    size_before: int
    """The file's size in bytes before (the main file; the WAL is checkpointed first)."""
    size_after: int
    """The file's size in bytes after."""


def vacuum(path: str) -> VacuumReport:
    """Hand the free pages of the database at `path` back to the file system.

    A file made with auto_vacuum=INCREMENTAL (every file this version creates) gives
    back its free pages with `PRAGMA incremental_vacuum`, one write transaction that
    moves pages into the free ones and truncates the file. An older file is rewritten
    whole by `VACUUM` (it needs the file to itself for a while, and as much free disk
    space as the file's size), which also switches it to incremental auto_vacuum."""
    if not os.path.isfile(path):
        raise StoreError(f"{path} does not exist")
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = os.path.getsize(path)
        mode = int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])
        if mode == 2:  # INCREMENTAL
            # executescript steps the pragma to its end: `execute` frees one page only.
            conn.executescript("PRAGMA incremental_vacuum;")
            kind = "incremental"
        else:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            kind = "full"
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return VacuumReport(kind, before, os.path.getsize(path))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} could not be vacuumed: {exc}") from exc
    finally:
        conn.close()
