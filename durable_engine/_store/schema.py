"""The database schema, its version, and forward migrations."""

from __future__ import annotations

import contextlib
import functools
import sqlite3

from .._errors import StoreError

SCHEMA_VERSION = 7
"""`PRAGMA user_version` of a database this code writes."""

# The operations table's columns, in the order of OP_COLUMNS (both versions have them).
_OPERATION_TABLE = """
    execution_id TEXT NOT NULL,
    op_id        TEXT NOT NULL,
    parent_id    TEXT,
    type         TEXT NOT NULL,
    name         TEXT,
    status       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    result       BLOB,
    error        BLOB,
    started_at   REAL,
    ended_at     REAL,
    wake_at      REAL,
    ref          TEXT,
"""

_V1 = f"""
CREATE TABLE executions (
    execution_id TEXT PRIMARY KEY,
    name         TEXT UNIQUE,
    function     TEXT NOT NULL,
    status       TEXT NOT NULL,
    input        BLOB,
    result       BLOB,
    error        BLOB,
    parent_id    TEXT,
    created_at   REAL NOT NULL,
    ended_at     REAL,
    wake_at      REAL,
    timeout_at   REAL,
    owner        TEXT,
    epoch        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX executions_due ON executions (wake_at) WHERE owner IS NULL;
CREATE INDEX executions_owner ON executions (owner) WHERE owner IS NOT NULL;
CREATE INDEX executions_listing ON executions (status, created_at);
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE operations ({_OPERATION_TABLE}    PRIMARY KEY (execution_id, op_id)
) WITHOUT ROWID;

CREATE TABLE callbacks (
    callback_id       TEXT PRIMARY KEY,
    execution_id      TEXT NOT NULL,
    op_id             TEXT NOT NULL,
    status            TEXT NOT NULL,
    result            BLOB,
    error             BLOB,
    created_at        REAL NOT NULL,
    resolved_at       REAL,
    timeout_at        REAL,
    heartbeat_timeout REAL,
    heartbeat_at      REAL
);
CREATE INDEX callbacks_execution ON callbacks (execution_id, op_id);

CREATE TABLE workers (
    worker_id  TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""

OP_COLUMNS = (
    "execution_id, op_id, parent_id, type, name, status, attempt, result, error, "
    "started_at, ended_at, wake_at, ref"
)
"""The operations table's columns, in the order of a Checkpoint's fields."""

# Version 2 stores operations in a rowid table, in the order they are written, with a
# unique index on (execution_id, op_id). A batch of a thousand executions' checkpoints
# then appends to the table's last pages and touches only the small index entries
# elsewhere; keyed by (execution_id, op_id) itself, the batch rewrote a page of the
# table for nearly every execution: several times the pages written to the WAL.
_V2 = f"""
CREATE TABLE operations_v2 ({_OPERATION_TABLE}    UNIQUE (execution_id, op_id)
);
INSERT INTO operations_v2 ({OP_COLUMNS}) SELECT {OP_COLUMNS} FROM operations;
DROP TABLE operations;
ALTER TABLE operations_v2 RENAME TO operations;
"""

# Version 3 records the version of its function each execution started on (1 for
# every execution before it: functions had no versions).
_V3 = "ALTER TABLE executions ADD COLUMN version INTEGER NOT NULL DEFAULT 1"

# Version 4: an execution's custom status (set by its code, committed with its writes),
# the execution a rerun repeats, and an index to find ended executions by their end
# (what a purge looks for).
_V4 = """
ALTER TABLE executions ADD COLUMN custom_status BLOB;
ALTER TABLE executions ADD COLUMN rerun_of TEXT;
CREATE INDEX executions_ended ON executions (ended_at) WHERE ended_at IS NOT NULL
"""

# Version 5 keeps events sent to executions by name, each consumed once by the
# operation that received it (`op_id`), in the order sent (`seq`); and schedules,
# each due at `next_fire_at` (NULL while paused).
_V5 = """
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    payload      BLOB,
    sent_at      REAL NOT NULL,
    op_id        TEXT
);
CREATE INDEX events_waiting ON events (execution_id, name, seq) WHERE op_id IS NULL;
CREATE INDEX events_execution ON events (execution_id);

CREATE TABLE schedules (
    name         TEXT PRIMARY KEY,
    function     TEXT NOT NULL,
    cron         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    input        BLOB,
    catchup      TEXT NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0,
    next_fire_at REAL NOT NULL,
    created_at   REAL NOT NULL,
    fired_at     REAL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
"""

# Version 6 keeps each execution's trace context (a W3C `traceparent`, so that every run
# of it joins one trace) and every ended attempt of a step that took more than one: the
# operation row holds only its latest attempt. A step that succeeds on its first attempt
# writes no attempt row.
_V6 = """
ALTER TABLE executions ADD COLUMN trace_context TEXT;
CREATE TABLE attempts (
    execution_id TEXT NOT NULL,
    op_id        TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   REAL,
    ended_at     REAL,
    error        BLOB,
    PRIMARY KEY (execution_id, op_id, attempt)
) WITHOUT ROWID;
"""

# Version 7 numbers an execution's runs (`ctx.continue_as_new` starts the next one) and
# keeps the operations of earlier runs continued with `keep_history=True`, by run, until
# the execution is purged. The operations table holds the current run's alone.
_V7 = f"""
ALTER TABLE executions ADD COLUMN run_number INTEGER NOT NULL DEFAULT 1;
CREATE TABLE kept_operations (
    run_number   INTEGER NOT NULL,{_OPERATION_TABLE}
    PRIMARY KEY (execution_id, run_number, op_id)
) WITHOUT ROWID;
"""

_OUR_TABLES = frozenset({"executions", "operations", "callbacks", "workers"})


def read_version(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """The file's schema version, and why it was not written by durable_engine (None if
    it was, or is still empty). Reads only, both from one snapshot: another process may
    be creating the schema meanwhile. `conn` must be in autocommit mode."""
    conn.execute("BEGIN")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        reason = _not_ours(conn, version)
    except BaseException:
        # The real error is raised: a COMMIT here would fail too ("no transaction is
        # active" once SQLite rolled back by itself) and hide it.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return version, reason


def not_ours_error(path: str, reason: str) -> StoreError:
    """The error for a file `read_version` found was not written by durable_engine."""
    return StoreError(f"{path} is not a durable_engine database: {reason}. It was left as it is")


def _not_ours(conn: sqlite3.Connection, version: int) -> str | None:
    objects = {
        (str(t), str(n), str(tbl))
        for t, n, tbl in conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite%'"
        )
    }
    tables = sorted(n for t, n, _ in objects if t == "table")
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    if version == 0:
        if objects:
            return f"it holds another application's objects ({_shown(objects)})"
        return None
    # A newer version may have changed its tables, but not all of them at once.
    ours = _OUR_TABLES & set(tables) if version > SCHEMA_VERSION else _OUR_TABLES - set(tables)
    if (version > SCHEMA_VERSION and not ours) or (version <= SCHEMA_VERSION and ours):
        held = f"; it holds {shown}" if tables else ""
        return f"its user_version is {version} but it lacks durable_engine's tables{held}"
    if version <= SCHEMA_VERSION:
        # A trigger, view, index or table planted beside ours would run or be read
        # with ours: refuse the file rather than write to it.
        foreign = objects - _objects_at(version)
        if foreign:
            return f"it holds objects durable_engine did not make ({_shown(foreign)})"
    return None


def _shown(objects: set[tuple[str, str, str]]) -> str:
    names = sorted(f"{t} {n}" for t, n, _ in objects)
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


@functools.cache
def _objects_at(version: int) -> frozenset[tuple[str, str, str]]:
    """The schema objects (type, name, table) of a database at `version`, made by
    running the migrations up to it on an empty in-memory database."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for step in range(version):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        return frozenset(
            (str(t), str(n), str(tbl))
            for t, n, tbl in conn.execute(
                "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite%'"
            )
        )
    finally:
        conn.close()


# MIGRATIONS[v] brings a database from version v to v + 1.
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V2, 2: _V3, 3: _V4, 4: _V5, 5: _V6, 6: _V7}


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to `SCHEMA_VERSION`; returns the version found."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        return found
    version = found
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
