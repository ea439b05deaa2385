"""Rows of the PostgreSQL store: columns, reading them back, and creating executions.

Executions started together reach one batch; consecutive creations in it go in with one
`INSERT ... SELECT FROM unnest(...)` rather than one statement each, or, from
`STAGE_AT` rows on, by COPY into a temporary table and one INSERT from it (`stage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from .._models import ExecutionRecord
from .base import NewExecution
from .executions import EXEC_COLUMNS, CreateExecution, disown, execution_from_row
from .group_commit import row_to_checkpoint
from .pg_notify import note
from .schema import OP_COLUMNS

if TYPE_CHECKING:
    from typing import TypeAlias

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
    """A connection of its own or one lent by a pool."""

__all__ = [
    "EXEC_COLUMNS",
    "OP_COLUMNS",
    "STAGE_AT",
    "PgCreate",
    "create_executions",
    "execution_from_row",
    "row_to_checkpoint",
    "stage",
]

STAGE_AT = 32
"""Rows from which a bulk write goes by COPY into a temporary table (`stage`) rather
than as array parameters: asyncpg encodes COPY rows value by value, while an array
parameter costs a Python-level type check per element (inserting 1,000 checkpoint rows
cost the client 2.0 ms of CPU by COPY against 9.9 ms as arrays). Fewer rows save the
extra round trip instead."""


def names(columns: str) -> list[str]:
    """`"a, b, c"` as `["a", "b", "c"]`."""
    return [c.strip() for c in columns.split(",")]


async def stage(
    conn: Conn, table: str, columns: list[str], records: Sequence[Sequence[Any]], extra: str = ""
) -> str:
    """COPY `records` (values of `columns`) into a temporary table shaped like `table`
    (with `extra` columns after its own), made in the current transaction if this
    session has none (gone again if the transaction rolls back) and emptied as it
    commits; returns its qualified name, to read the rows from."""
    name = f"durable_staged_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {table}{extra}) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(name, records=records, columns=columns, schema_name="pg_temp")
    return f"pg_temp.{name}"


# Rows go in in the order given (WITH ORDINALITY), so of two with the same id or name
# the first goes in; RETURNING names the rows that did.
_INSERT = f"""
INSERT INTO executions ({EXEC_COLUMNS})
SELECT execution_id, name, function, status, input, result, error, parent_id,
    created_at, ended_at, wake_at, timeout_at, owner, epoch, version, custom_status,
    rerun_of, trace_context, run_number
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[],
    $7::bytea[], $8::text[], $9::float8[], $10::float8[], $11::float8[], $12::float8[],
    $13::text[], $14::bigint[], $15::integer[], $16::bytea[], $17::text[], $18::text[],
    $19::integer[])
    WITH ORDINALITY
    AS r(execution_id, name, function, status, input, result, error, parent_id,
         created_at, ended_at, wake_at, timeout_at, owner, epoch, version, custom_status,
         rerun_of, trace_context, run_number, position)
ORDER BY position
ON CONFLICT DO NOTHING
RETURNING execution_id
"""
_WIDTH = EXEC_COLUMNS.count(",") + 1
_STAGED_INSERT = f"""
INSERT INTO executions ({EXEC_COLUMNS})
SELECT {EXEC_COLUMNS} FROM {{staged}}
ORDER BY position
ON CONFLICT DO NOTHING
RETURNING execution_id
"""
_STAGED_NAMES = [*names(EXEC_COLUMNS), "position"]


class PgCreate:
    """A queued creation: insert the execution's row, or find the execution that holds
    its id or name already. Its value is `(record, created)`."""

    __slots__ = ("create",)

    def __init__(self, new: NewExecution) -> None:
        self.create = CreateExecution(new)

    async def __call__(self, conn: Conn) -> tuple[ExecutionRecord, bool]:
        return (await create_executions(conn, [self]))[0]


async def create_executions(
    conn: Conn, creates: Sequence[PgCreate]
) -> list[tuple[ExecutionRecord, bool]]:
    """Apply `creates` in order, as if one by one: a creation whose id or name is taken,
    by an earlier row or an earlier creation in `creates`, finds that execution."""
    owners = {o for c in creates if (o := c.create.record.owner) is not None}
    if owners:
        # FOR SHARE: the rows found stay until this transaction ends, as in SQLite's
        # one writer.
        found = await conn.fetch(
            "SELECT worker_id FROM workers WHERE worker_id = ANY($1::text[]) FOR SHARE",
            list(owners),
        )
        disown([c.create for c in creates], owners - {r[0] for r in found})
    rows = [c.create.row() for c in creates]
    if len(rows) >= STAGE_AT:
        records = [(*r[:3], str(r[3]), *r[4:], i) for i, r in enumerate(rows)]
        staged = await stage(conn, "executions", _STAGED_NAMES, records, ", position integer")
        inserted = {r[0] for r in await conn.fetch(_STAGED_INSERT.format(staged=staged))}
    else:
        columns: list[list[Any]] = [list(col) for col in zip(*rows, strict=True)]
        columns[3] = [str(status) for status in columns[3]]
        inserted = {r[0] for r in await conn.fetch(_INSERT, *columns)}
    results: list[tuple[ExecutionRecord, bool]] = []
    for c in creates:
        record = c.create.record
        if record.execution_id in inserted:
            inserted.discard(record.execution_id)  # a second creation of the id found the first
            results.append((record, True))
            if record.owner is None:  # for any worker to claim
                note("new")
        else:
            results.append((await _existing(conn, record), False))
    return results


async def _existing(conn: Conn, record: ExecutionRecord) -> ExecutionRecord:
    """The execution that holds `record`'s id or its name."""
    for column, value in (("execution_id", record.execution_id), ("name", record.name)):
        if value is None:
            continue
        row = await conn.fetchrow(
            f"SELECT {EXEC_COLUMNS} FROM executions WHERE {column} = $1", value
        )
        if row is not None:
            return execution_from_row(tuple(row))
    raise StoreError(f"execution {record.execution_id} could not be created")
