"""Execution rows: their columns, reading one back, and creating many at once.

Executions started together (a thousand `engine.start` calls gathered) reach one batch;
consecutive creations in it go in with a few multi-row statements rather than one
statement each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from .._errors import StoreError
from .._models import TERMINAL_EXECUTION, ExecutionRecord, ExecutionStatus
from .base import NewExecution
from .rows import in_statements

__all__ = [
    "EXEC_COLUMNS",
    "CreateExecution",
    "create_executions",
    "disown",
    "execution_from_row",
    "listing_query",
]

EXEC_COLUMNS = (
    "execution_id, name, function, status, input, result, error, parent_id, "
    "created_at, ended_at, wake_at, timeout_at, owner, epoch, version, custom_status, rerun_of, "
    "trace_context, run_number"
)
_COLUMNS = EXEC_COLUMNS.count(",") + 1
_INSERT = f"INSERT INTO executions ({EXEC_COLUMNS})"
# Rows are inserted in the order given, so of two with the same id or name the first
# goes in; RETURNING names the rows that did.
_INSERTED = " ON CONFLICT DO NOTHING RETURNING execution_id"


def execution_from_row(row: Sequence[Any], taken_from: str | None = None) -> ExecutionRecord:
    """A row of EXEC_COLUMNS as a record."""
    return ExecutionRecord(
        execution_id=row[0],
        name=row[1],
        function=row[2],
        status=ExecutionStatus(row[3]),
        input=row[4],
        result=row[5],
        error=row[6],
        parent_id=row[7],
        created_at=row[8],
        ended_at=row[9],
        wake_at=row[10],
        timeout_at=row[11],
        owner=row[12],
        epoch=row[13],
        taken_from=taken_from,
        version=row[14],
        custom_status=row[15],
        rerun_of=row[16],
        trace_context=row[17],
        run_number=row[18],
    )


class CreateExecution:
    """A queued creation: insert the execution's row, or find the execution that holds
    its id or name already. Called alone, or applied with its neighbours by
    `create_executions`; either way its value is `(record, created)`."""

    __slots__ = ("record",)

    def __init__(self, new: NewExecution) -> None:
        owned = new.owner is not None
        self.record = ExecutionRecord(
            execution_id=new.execution_id,
            name=new.name,
            function=new.function,
            status=ExecutionStatus.RUNNING,
            input=new.input,
            result=None,
            error=None,
            parent_id=new.parent_id,
            created_at=new.created_at,
            ended_at=None,
            wake_at=None if owned else new.created_at,
            timeout_at=new.timeout_at,
            owner=new.owner,
            epoch=1 if owned else 0,
            version=new.version,
            rerun_of=new.rerun_of,
            trace_context=new.trace_context,
        )

    def __call__(self, conn: sqlite3.Connection) -> tuple[ExecutionRecord, bool]:
        return create_executions(conn, [self])[0]

    def row(self) -> tuple[Any, ...]:
        r = self.record
        return (
            r.execution_id,
            r.name,
            r.function,
            r.status,
            r.input,
            None,
            None,
            r.parent_id,
            r.created_at,
            None,
            r.wake_at,
            r.timeout_at,
            r.owner,
            r.epoch,
            r.version,
            None,
            r.rerun_of,
            r.trace_context,
            r.run_number,
        )


def create_executions(
    conn: sqlite3.Connection, creates: Sequence[CreateExecution]
) -> list[tuple[ExecutionRecord, bool]]:
    """Apply `creates` in order, as if one by one: a creation whose id or name is taken,
    by an earlier row or an earlier creation in `creates`, finds that execution."""
    owners = {c.record.owner for c in creates if c.record.owner is not None}
    if owners:
        marks = ", ".join("?" * len(owners))
        sql = f"SELECT worker_id FROM workers WHERE worker_id IN ({marks})"
        disown(creates, owners - {row[0] for row in conn.execute(sql, list(owners))})
    inserted: set[str] = set()
    for sql, chunk in in_statements(_INSERT, _COLUMNS, _INSERTED, creates):
        rows = conn.execute(sql, list(chain.from_iterable(c.row() for c in chunk))).fetchall()
        inserted.update(row[0] for row in rows)
    results: list[tuple[ExecutionRecord, bool]] = []
    for create in creates:
        record = create.record
        if record.execution_id in inserted:
            inserted.discard(record.execution_id)  # a second creation of the id found the first
            results.append((record, True))
        else:
            results.append((_existing(conn, record), False))
    return results


def disown(creates: Sequence[CreateExecution], gone: set[str]) -> None:
    """Store the creations owned by a worker in `gone` (one whose row was deleted: it
    was paused past its lease) unowned and due instead, for any worker to claim: a
    worker that lost its row must not take new work while others may take its old."""
    if not gone:
        return
    for create in creates:
        r = create.record
        if r.owner in gone:
            create.record = r._replace(owner=None, epoch=0, wake_at=r.created_at)


def _existing(conn: sqlite3.Connection, record: ExecutionRecord) -> ExecutionRecord:
    """The execution that holds `record`'s id (an invoke replayed: the child was created
    before) or its name."""
    for column, value in (("execution_id", record.execution_id), ("name", record.name)):
        row = conn.execute(
            f"SELECT {EXEC_COLUMNS} FROM executions WHERE {column} = ?", (value,)
        ).fetchone()
        if row is not None:
            return execution_from_row(row)
    raise StoreError(f"execution {record.execution_id} could not be created")


def listing_query(
    param: Callable[[int], str],
    *,
    status: ExecutionStatus | None,
    function: str | None,
    parent_id: str | None,
    name: str | None,
    limit: int | None,
    newest_first: bool,
    version: int | None,
    unfinished: bool,
) -> tuple[str, list[object]]:
    """The SELECT of `Store.list_executions` with these filters, and its arguments;
    `param(n)` is the dialect's placeholder for the n-th argument (`?`, `$n`)."""
    where: list[str] = []
    args: list[object] = []

    def equal(column: str, value: object) -> None:
        args.append(value)
        where.append(f"{column} = {param(len(args))}")

    filters = {"status": status, "function": function, "parent_id": parent_id, "name": name}
    for column, value in filters.items():
        if value is not None:
            equal(column, str(value))
    if version is not None:
        equal("version", int(version))
    if unfinished:
        args.extend(TERMINAL_EXECUTION)
        first = len(args) - len(TERMINAL_EXECUTION) + 1
        listed = ", ".join(param(n) for n in range(first, len(args) + 1))
        where.append(f"status NOT IN ({listed})")
    sql = f"SELECT {EXEC_COLUMNS} FROM executions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += (
        " ORDER BY created_at DESC, execution_id DESC"
        if newest_first
        else " ORDER BY created_at, execution_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, args
