"""SQL for schedules: their rows, and firing one atomically with the executions it starts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from .._errors import ScheduleNotFound
from .._models import ExecutionRecord
from .base import NewExecution, ScheduleRecord
from .executions import CreateExecution, create_executions

__all__ = ["COLUMNS", "delete", "due", "fire", "get", "listed", "put", "set_paused"]

COLUMNS = (
    "name, function, cron, timezone, input, catchup, paused, next_fire_at, created_at, fired_at"
)
_FUNCTIONS = "function IN (SELECT value FROM json_each(?))"


def _record(row: Sequence[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        name=row[0],
        function=row[1],
        cron=row[2],
        timezone=row[3],
        input=row[4],
        catchup=row[5],
        paused=bool(row[6]),
        next_fire_at=row[7],
        created_at=row[8],
        fired_at=row[9],
    )


def get(conn: sqlite3.Connection, name: str) -> ScheduleRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM schedules WHERE name = ?", (name,)).fetchone()
    return None if row is None else _record(row)


def listed(conn: sqlite3.Connection) -> list[ScheduleRecord]:
    return [_record(r) for r in conn.execute(f"SELECT {COLUMNS} FROM schedules ORDER BY name")]


def put(conn: sqlite3.Connection, schedule: ScheduleRecord) -> ScheduleRecord:
    current = get(conn, schedule.name)
    definition = ("function", "cron", "timezone", "input", "catchup")
    if current is not None and all(getattr(current, f) == getattr(schedule, f) for f in definition):
        return current
    if current is None:
        conn.execute(
            f"INSERT INTO schedules ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(schedule),
        )
    else:
        conn.execute(
            "UPDATE schedules SET function = ?, cron = ?, timezone = ?, input = ?, catchup = ?,"
            " next_fire_at = ? WHERE name = ?",
            (
                schedule.function,
                schedule.cron,
                schedule.timezone,
                schedule.input,
                schedule.catchup,
                schedule.next_fire_at,
                schedule.name,
            ),
        )
    stored = get(conn, schedule.name)
    assert stored is not None
    return stored


def set_paused(
    conn: sqlite3.Connection, name: str, paused: bool, next_fire_at: float | None
) -> ScheduleRecord:
    if get(conn, name) is None:
        raise ScheduleNotFound(f"no schedule named {name!r}")
    conn.execute(
        "UPDATE schedules SET paused = ?, next_fire_at = COALESCE(?, next_fire_at) WHERE name = ?",
        (int(paused), next_fire_at, name),
    )
    stored = get(conn, name)
    assert stored is not None
    return stored


def delete(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 0:
        raise ScheduleNotFound(f"no schedule named {name!r}")


def due(
    conn: sqlite3.Connection, functions: Sequence[str], now: float | None
) -> list[ScheduleRecord]:
    sql = f"SELECT {COLUMNS} FROM schedules WHERE paused = 0 AND {_FUNCTIONS}"
    args: list[Any] = [json.dumps(list(functions))]
    if now is not None:
        sql += " AND next_fire_at <= ?"
        args.append(now)
    return [_record(r) for r in conn.execute(sql + " ORDER BY next_fire_at, name", args)]


def fire(
    conn: sqlite3.Connection,
    name: str,
    expected: float,
    next_fire_at: float,
    executions: Sequence[NewExecution],
    now: float,
) -> list[tuple[ExecutionRecord, bool]] | None:
    claimed = conn.execute(
        "UPDATE schedules SET next_fire_at = ?, fired_at = ?"
        " WHERE name = ? AND paused = 0 AND next_fire_at = ?",
        (next_fire_at, now, name, expected),
    ).rowcount
    if claimed == 0:
        return None
    return create_executions(conn, [CreateExecution(new) for new in executions])
