"""Moving an SQLite database to PostgreSQL, and bringing a schema up to date.

`copy_database` reads every execution, operation, callback, event, schedule and kept
attempt of an SQLite file (read only) and writes them to an empty PostgreSQL schema in
one transaction, with COPY;
running and suspended executions go as they are, so workers on PostgreSQL resume
them (an execution owned by a worker of the old database is taken over: that worker
has no row in the new one). Worker rows are not copied. Then it counts again on both
sides. No worker may be running on either database meanwhile.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .._errors import StoreError
from .executions import EXEC_COLUMNS
from .pg_schema import migrate as migrate_schema
from .postgres import PostgresStore
from .schedules import COLUMNS as SCHEDULE_COLUMNS
from .schema import OP_COLUMNS, SCHEMA_VERSION
from .sqlite import SqliteStore
from .urls import is_postgres, location

__all__ = ["CopyReport", "copy_database", "migrate_database"]

_CALLBACK_COLUMNS = (
    "callback_id, execution_id, op_id, status, result, error, created_at, resolved_at,"
    " timeout_at, heartbeat_timeout, heartbeat_at"
)
_TABLES = {
    "executions": EXEC_COLUMNS,
    "operations": OP_COLUMNS,
    "callbacks": _CALLBACK_COLUMNS,
    "events": "seq, execution_id, name, payload, sent_at, op_id",
    "schedules": SCHEDULE_COLUMNS,
    "attempts": "execution_id, op_id, attempt, started_at, ended_at, error",
    "kept_operations": f"run_number, {OP_COLUMNS}",
}
_PAUSED = 6
"""Where `paused` is in a schedules row: an integer in SQLite, a boolean in PostgreSQL."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    """What was copied: rows per table, and executions per status (equal on both sides)."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "rows": self.rows,
            "statuses": self.statuses,
        }


def _read_source(path: str) -> dict[str, list[tuple[Any, ...]]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{path} has schema version {version}, and copying reads version "
                f"{SCHEMA_VERSION}: run `durable-engine db migrate --db {path}` first"
                if version < SCHEMA_VERSION
                else f"{path} has schema version {version}, newer than this durable_engine"
            )
        conn.execute("BEGIN")  # one snapshot for every table
        data = {
            table: conn.execute(f"SELECT {columns} FROM {table}").fetchall()
            for table, columns in _TABLES.items()
        }
        data["schedules"] = [
            (*row[:_PAUSED], bool(row[_PAUSED]), *row[_PAUSED + 1 :]) for row in data["schedules"]
        ]
        return data
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()


def _statuses(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[3]] = counts.get(row[3], 0) + 1
    return dict(sorted(counts.items()))


async def copy_database(source: str, target: str) -> CopyReport:
    """Copy the SQLite database `source` into the empty PostgreSQL database `target`
    (its schema is created if needed). Raises StoreError, writing nothing, if the target
    holds any row of the tables copied, and if the counts differ afterwards."""
    source = location(source)
    if is_postgres(source):
        raise StoreError("db copy reads an SQLite file (--from); the source is a PostgreSQL URL")
    if not is_postgres(target):
        raise StoreError(f"db copy writes to PostgreSQL (--to postgresql://...), not {target}")
    SqliteStore.preflight(source)  # a damaged file, or another application's, is refused
    data = _read_source(source)
    store = PostgresStore(target)
    conn = await store.connect()
    try:
        await migrate_schema(conn, store.schema)
        async with conn.transaction():
            for table in _TABLES:
                await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    raise StoreError(
                        f"the target already holds {table}: db copy fills an empty database"
                        f" (schema {store.schema!r}); nothing was copied"
                    )
            for table, columns in _TABLES.items():
                await conn.copy_records_to_table(
                    table,
                    records=data[table],
                    columns=[c.strip() for c in columns.split(",")],
                )
            # Events sent from now on are numbered after the ones copied.
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('events', 'seq'),"
                " COALESCE(MAX(seq), 1), MAX(seq) IS NOT NULL) FROM events"
            )
            copied = {
                table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                for table in _TABLES
            }
            statuses = {
                str(r[0]): int(r[1])
                for r in await conn.fetch(
                    "SELECT status, count(*) FROM executions GROUP BY status ORDER BY status"
                )
            }
            expected = {table: len(rows) for table, rows in data.items()}
            if copied != expected or statuses != _statuses(data["executions"]):
                raise StoreError(
                    f"the copy does not match its source ({copied} rows for {expected}); "
                    "it was rolled back"
                )
            await conn.execute("SELECT nextval('commits')")  # wake any worker already there
    finally:
        await conn.close()
    return CopyReport(source=source, target=store.shown, rows=copied, statuses=statuses)


async def migrate_database(target: str) -> tuple[int, int]:
    """Bring the database `target` to the schema version of this code; returns the
    versions before and after. Raises StoreError for a newer or foreign schema."""
    if is_postgres(target):
        store = PostgresStore(target)
        conn = await store.connect()
        try:
            return await migrate_schema(conn, store.schema)
        finally:
            await conn.close()
    path = location(target)
    report = SqliteStore.preflight(path)
    if report is None:
        raise StoreError(f"no database file at {path}: there is nothing to migrate")
    before = report.schema_version
    sqlite = SqliteStore(path)
    await sqlite.open()
    await sqlite.close()
    return before, SCHEMA_VERSION
