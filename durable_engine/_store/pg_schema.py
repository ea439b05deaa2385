"""The PostgreSQL schema: its tables, its version, and forward migrations.

Every table lives in one PostgreSQL schema (`durable` unless the URL names another
with `?schema=`), so one database can hold several applications. The schema's version
is a row of its `meta` table; a schema with tables but no `meta` table belongs to
someone else and is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import StoreError

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["PG_SCHEMA_VERSION", "migrate", "read_version"]

PG_SCHEMA_VERSION = 4
"""The version of the schema this code writes."""

_V1 = """
CREATE TABLE executions (
    execution_id text PRIMARY KEY,
    name         text UNIQUE,
    function     text NOT NULL,
    status       text NOT NULL,
    input        bytea,
    result       bytea,
    error        bytea,
    parent_id    text,
    created_at   double precision NOT NULL,
    ended_at     double precision,
    wake_at      double precision,
    timeout_at   double precision,
    owner        text,
    epoch        bigint NOT NULL DEFAULT 0
);
CREATE INDEX executions_due ON executions (wake_at) WHERE owner IS NULL;
CREATE INDEX executions_owner ON executions (owner) WHERE owner IS NOT NULL;
CREATE INDEX executions_listing ON executions (status, created_at);
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE operations (
    execution_id text NOT NULL,
    op_id        text NOT NULL,
    parent_id    text,
    type         text NOT NULL,
    name         text,
    status       text NOT NULL,
    attempt      integer NOT NULL,
    result       bytea,
    error        bytea,
    started_at   double precision,
    ended_at     double precision,
    wake_at      double precision,
    ref          text,
    PRIMARY KEY (execution_id, op_id)
);

CREATE TABLE callbacks (
    callback_id       text PRIMARY KEY,
    execution_id      text NOT NULL,
    op_id             text NOT NULL,
    status            text NOT NULL,
    result            bytea,
    error             bytea,
    created_at        double precision NOT NULL,
    resolved_at       double precision,
    timeout_at        double precision,
    heartbeat_timeout double precision,
    heartbeat_at      double precision
);
CREATE INDEX callbacks_execution ON callbacks (execution_id, op_id);

CREATE TABLE workers (
    worker_id  text PRIMARY KEY,
    host       text NOT NULL,
    pid        integer NOT NULL,
    started_at double precision NOT NULL,
    expires_at double precision NOT NULL
);

CREATE SEQUENCE commits;

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
"""

# Version 2 records the version of its function each execution started on.
_V2 = "ALTER TABLE executions ADD COLUMN version integer NOT NULL DEFAULT 1"

# Version 3 holds what the SQLite schema's versions 4 to 6 added: an execution's custom
# status, the execution a rerun repeats and its trace context; an index to find ended
# executions by their end (what a purge looks for); events sent to executions by name,
# each received once by the operation that took it (`op_id`), in the order sent (`seq`);
# schedules; and every ended attempt of a step that took more than one.
_V3 = """
ALTER TABLE executions ADD COLUMN custom_status bytea;
ALTER TABLE executions ADD COLUMN rerun_of text;
ALTER TABLE executions ADD COLUMN trace_context text;
CREATE INDEX executions_ended ON executions (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE events (
    seq          bigserial PRIMARY KEY,
    execution_id text NOT NULL,
    name         text NOT NULL,
    payload      bytea,
    sent_at      double precision NOT NULL,
    op_id        text
);
CREATE INDEX events_waiting ON events (execution_id, name, seq) WHERE op_id IS NULL;
CREATE INDEX events_execution ON events (execution_id);

CREATE TABLE schedules (
    name         text PRIMARY KEY,
    function     text NOT NULL,
    cron         text NOT NULL,
    timezone     text NOT NULL,
    input        bytea,
    catchup      text NOT NULL,
    paused       boolean NOT NULL DEFAULT false,
    next_fire_at double precision NOT NULL,
    created_at   double precision NOT NULL,
    fired_at     double precision
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused;

CREATE TABLE attempts (
    execution_id text NOT NULL,
    op_id        text NOT NULL,
    attempt      integer NOT NULL,
    started_at   double precision,
    ended_at     double precision,
    error        bytea,
    PRIMARY KEY (execution_id, op_id, attempt)
);
"""

# Version 4 numbers an execution's runs (`ctx.continue_as_new` starts the next one) and
# keeps the operations of earlier runs continued with `keep_history=True`, by run, until
# the execution is purged (as the SQLite schema's version 7 does).
_V4 = """
ALTER TABLE executions ADD COLUMN run_number integer NOT NULL DEFAULT 1;
CREATE TABLE kept_operations (
    run_number   integer NOT NULL,
    execution_id text NOT NULL,
    op_id        text NOT NULL,
    parent_id    text,
    type         text NOT NULL,
    name         text,
    status       text NOT NULL,
    attempt      integer NOT NULL,
    result       bytea,
    error        bytea,
    started_at   double precision,
    ended_at     double precision,
    wake_at      double precision,
    ref          text,
    PRIMARY KEY (execution_id, run_number, op_id)
);
"""

# MIGRATIONS[v] brings a schema from version v to v + 1.
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V2, 2: _V3, 3: _V4}

_LOCK_CLASS = 0x44_75_72_61  # an advisory lock class of ours, with the schema's hash


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def read_version(conn: Conn, schema: str) -> int:
    """The version of `schema` (0 if it is missing or empty). Raises StoreError, reading
    only, for a schema of another application."""
    has_meta = await conn.fetchval(
        "SELECT to_regclass(quote_ident($1::text) || '.meta') IS NOT NULL", schema
    )
    if has_meta:
        value = await conn.fetchval(
            f"SELECT value FROM {quote_ident(schema)}.meta WHERE key = 'schema_version'"
        )
        if value is not None and str(value).isdigit():
            return int(value)
        raise StoreError(
            f"the PostgreSQL schema {schema!r} has a meta table with no schema_version: it "
            "is not a durable_engine schema. It was left as it is"
        )
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1"
        " ORDER BY table_name LIMIT 6",
        schema,
    )
    if tables:
        names = [str(r[0]) for r in tables]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise StoreError(
            f"the PostgreSQL schema {schema!r} holds another application's tables ({shown}); "
            "name another with ?schema= in the URL. It was left as it is"
        )
    return 0


def newer_error(schema: str, found: int) -> StoreError:
    return StoreError(
        f"the PostgreSQL schema {schema!r} has schema version {found}, written by a newer "
        f"version of durable_engine (this one reads up to {PG_SCHEMA_VERSION}); upgrade to "
        "open it"
    )


async def migrate(conn: Conn, schema: str) -> tuple[int, int]:
    """Create `schema` or bring it up to `PG_SCHEMA_VERSION`, in one transaction under an
    advisory lock (processes opening at once take turns). Returns the versions before
    and after. Raises StoreError, writing nothing, for a newer or foreign schema."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, schema)
        found = await read_version(conn, schema)
        if found > PG_SCHEMA_VERSION:
            raise newer_error(schema, found)
        if found == PG_SCHEMA_VERSION:
            return found, found
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
        )
        if not exists:  # one made beforehand needs no CREATE right on the database
            await conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema)}")
        for version in range(found, PG_SCHEMA_VERSION):
            await conn.execute(MIGRATIONS[version])
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            str(PG_SCHEMA_VERSION),
        )
        return found, PG_SCHEMA_VERSION
