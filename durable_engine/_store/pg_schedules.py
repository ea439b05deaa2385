"""PostgreSQL schedules: their rows, and firing one atomically with the executions it starts.

They mirror the SQLite store's `schedules`. Instants arrive already on the database's
clock; `fire` alone is given the offset, to compare the instant its caller read with
the one stored exactly as the caller computed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ScheduleNotFound
from .._models import ExecutionRecord
from .base import ScheduleRecord
from .pg_notify import note
from .pg_rows import PgCreate, create_executions
from .schedules import COLUMNS as _COLUMNS

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["delete", "due", "fire", "get", "listed", "put", "set_paused"]

_DEFINITION = ("function", "cron", "timezone", "input", "catchup")


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


async def get(conn: Conn, name: str, *, lock: bool = False) -> ScheduleRecord | None:
    sql = f"SELECT {_COLUMNS} FROM schedules WHERE name = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, name)
    return None if row is None else _record(tuple(row))


async def listed(conn: Conn) -> list[ScheduleRecord]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM schedules ORDER BY name")
    return [_record(tuple(r)) for r in rows]


async def put(conn: Conn, schedule: ScheduleRecord) -> ScheduleRecord:
    """See `Store.put_schedule`. Workers declaring one schedule at once take turns: the
    first inserts it, the others find it."""
    note("schedules")
    inserted = await conn.fetchval(
        f"INSERT INTO schedules ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (name) DO NOTHING RETURNING name",
        *schedule,
    )
    if inserted is not None:
        return schedule
    current = await get(conn, schedule.name, lock=True)
    if current is None:  # deleted meanwhile: declared anew
        return await put(conn, schedule)
    if all(getattr(current, f) == getattr(schedule, f) for f in _DEFINITION):
        return current
    await conn.execute(
        "UPDATE schedules SET function = $1, cron = $2, timezone = $3, input = $4,"
        " catchup = $5, next_fire_at = $6 WHERE name = $7",
        schedule.function,
        schedule.cron,
        schedule.timezone,
        schedule.input,
        schedule.catchup,
        schedule.next_fire_at,
        schedule.name,
    )
    return current._replace(
        **{f: getattr(schedule, f) for f in _DEFINITION}, next_fire_at=schedule.next_fire_at
    )


async def set_paused(
    conn: Conn, name: str, paused: bool, next_fire_at: float | None
) -> ScheduleRecord:
    note("schedules")
    row = await conn.fetchrow(
        f"UPDATE schedules SET paused = $1, next_fire_at = COALESCE($2, next_fire_at)"
        f" WHERE name = $3 RETURNING {_COLUMNS}",
        paused,
        next_fire_at,
        name,
    )
    if row is None:
        raise ScheduleNotFound(f"no schedule named {name!r}")
    return _record(tuple(row))


async def delete(conn: Conn, name: str) -> None:
    note("schedules")
    if await conn.execute("DELETE FROM schedules WHERE name = $1", name) == "DELETE 0":
        raise ScheduleNotFound(f"no schedule named {name!r}")


async def due(conn: Conn, functions: Sequence[str], now: float | None) -> list[ScheduleRecord]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM schedules WHERE NOT paused AND function = ANY($1::text[])"
        " AND ($2::float8 IS NULL OR next_fire_at <= $2) ORDER BY next_fire_at, name",
        list(functions),
        now,
    )
    return [_record(tuple(r)) for r in rows]


async def fire(
    conn: Conn,
    name: str,
    expected: float,
    next_fire_at: float,
    creates: Sequence[PgCreate],
    now: float,
    offset: float,
) -> list[tuple[ExecutionRecord, bool]] | None:
    """See `Store.fire_schedule`: `next_fire_at`, `now` and `creates` are on the
    database's clock, `expected` on the caller's (it read the stored instant less
    `offset`, and it is compared with that)."""
    row = await conn.fetchrow(
        "SELECT next_fire_at, paused FROM schedules WHERE name = $1 FOR UPDATE", name
    )
    if row is None or row[1] or row[0] - offset != expected:
        return None
    await conn.execute(
        "UPDATE schedules SET next_fire_at = $1, fired_at = $2 WHERE name = $3",
        next_fire_at,
        now,
        name,
    )
    return await create_executions(conn, creates) if creates else []
