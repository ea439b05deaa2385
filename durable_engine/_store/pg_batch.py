"""Group commit on PostgreSQL: a batch of queued writes in one transaction.

The fast path gathers the batch's checkpoints, endings, suspensions, callbacks,
cancellations, custom statuses and kept attempts, and writes each kind with one
statement over arrays (`unnest`; many checkpoints go through COPY instead), after
one statement that checks every fence and locks the fenced executions (`FOR SHARE`,
in id order) until the commit: a claim or a stop from another process waits for the
transaction, or skips those rows, so a fence checked holds until the writes are in.
If any job fails, the transaction is rolled back and every job is applied again on
its own inside a savepoint, so one bad job cannot sink the others. A deadlock or a
serialization failure (another process's transaction in the way) retries the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from .._models import TERMINAL_EXECUTION, Checkpoint
from . import crashpoints
from .base import (
    BlockExecution,
    CancelOperations,
    EndAttempt,
    Fence,
    FinishExecution,
    LeaseLost,
    Mutation,
    PutCallback,
    SetCustomStatus,
    SuspendExecution,
)
from .pg_notify import SEND_NOTES, collecting, note, payloads
from .pg_rows import OP_COLUMNS, STAGE_AT, PgCreate, create_executions, names, stage

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["CommitUncertain", "Job", "Outcome", "apply_batch", "is_disconnect", "is_retryable"]

Job = tuple[
    asyncio.Future[Any],
    Callable[["Conn"], Awaitable[Any]] | None,
    Fence | None,
    Mutation | None,
]
"""A queued write `(future, fn, fence, mutation)`: a function to run (`fn`), or a commit
(`fence` and `mutation`)."""

Outcome = tuple[asyncio.Future[Any], bool, Any]
"""A job's future, and whether it succeeded with this value or failed with this error."""

_RETRIES = 8

_FENCE_QUERY = """
WITH locked AS (
    SELECT execution_id, epoch, status, parent_id FROM executions
    WHERE execution_id = ANY($1::text[]) ORDER BY execution_id FOR SHARE
)
SELECT f.id, l.epoch, l.status, l.parent_id
FROM unnest($1::text[], $2::bigint[]) AS f(id, epoch)
LEFT JOIN locked AS l ON l.execution_id = f.id
WHERE l.epoch IS DISTINCT FROM f.epoch OR l.parent_id IS NOT NULL OR l.status = ANY($3::text[])
"""
_UPSERT_OPS = """
ON CONFLICT (execution_id, op_id) DO UPDATE SET
    parent_id = EXCLUDED.parent_id, type = EXCLUDED.type, name = EXCLUDED.name,
    status = EXCLUDED.status, attempt = EXCLUDED.attempt, result = EXCLUDED.result,
    error = EXCLUDED.error, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
    wake_at = EXCLUDED.wake_at, ref = EXCLUDED.ref
"""
_PUT_OPS = f"""
INSERT INTO operations ({OP_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::integer[], $8::bytea[], $9::bytea[], $10::float8[], $11::float8[], $12::float8[],
    $13::text[])
{_UPSERT_OPS}"""
_MOVE_STAGED = f"""
INSERT INTO operations ({OP_COLUMNS}) SELECT {OP_COLUMNS} FROM {{staged}}
{_UPSERT_OPS}"""
_OP_NAMES = names(OP_COLUMNS)
_PUT_CALLBACKS = """
INSERT INTO callbacks (callback_id, execution_id, op_id, status, created_at, timeout_at,
    heartbeat_timeout, heartbeat_at)
SELECT c.id, c.eid, c.op, 'PENDING', c.at, c.timeout_at, c.hb, c.at
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[])
    AS c(id, eid, op, at, timeout_at, hb)
"""
_CANCEL_OPERATIONS = """
UPDATE operations AS o SET status = 'CANCELLED', ended_at = c.at
FROM unnest($1::text[], $2::text[], $3::float8[]) AS c(eid, op, at)
WHERE o.execution_id = c.eid AND o.op_id = c.op AND o.status IN ('STARTED', 'PENDING')
"""
_CANCEL_CALLBACKS = """
UPDATE callbacks AS cb SET status = 'CANCELLED', resolved_at = c.at
FROM unnest($1::text[], $2::text[], $3::float8[]) AS c(eid, op, at)
WHERE cb.execution_id = c.eid AND cb.op_id = c.op AND cb.status = 'PENDING'
"""
_FINISH = """
UPDATE executions AS e SET status = f.status, result = f.result, error = f.error,
    ended_at = f.ended_at, owner = NULL, wake_at = NULL
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::float8[])
    AS f(id, status, result, error, ended_at)
WHERE e.execution_id = f.id
"""
WAKE_PARENT = """
UPDATE executions SET wake_at = LEAST(wake_at, $1::float8) WHERE execution_id =
    (SELECT parent_id FROM executions WHERE execution_id = $2)
    AND status IN ('RUNNING', 'SUSPENDED')
"""
"""An execution that ends wakes the execution that invoked it ($1: when, $2: the child)."""
# A wake-up recorded while the execution ran (a callback resolved) survives suspension,
# and a total timeout wakes it at the latest: LEAST ignores the instants not set.
# Held for a new deploy; due at its timeout, if any, so that still applies.
_BLOCK = (
    "UPDATE executions SET status = 'BLOCKED', owner = NULL, error = $1, wake_at = timeout_at"
    " WHERE execution_id = $2"
)
_SUSPEND = """
UPDATE executions AS e SET status = 'SUSPENDED', owner = NULL,
    wake_at = LEAST(e.wake_at, s.wake_at, e.timeout_at)
FROM unnest($1::text[], $2::float8[]) AS s(id, wake_at)
WHERE e.execution_id = s.id
RETURNING e.wake_at
"""


_CUSTOM_STATUS = """
UPDATE executions AS e SET custom_status = s.value
FROM unnest($1::text[], $2::bytea[]) AS s(id, value)
WHERE e.execution_id = s.id
"""
# An attempt kept again (the same number: a retry replayed) replaces the one kept before.
_PUT_ATTEMPTS = """
INSERT INTO attempts (execution_id, op_id, attempt, started_at, ended_at, error)
SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::float8[], $5::float8[],
    $6::bytea[])
ON CONFLICT (execution_id, op_id, attempt) DO UPDATE SET
    started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, error = EXCLUDED.error
"""


class CommitUncertain(StoreError):
    """The connection was lost while the transaction committed: its writes may or may
    not be in the database. `xid` (None: it wrote nothing) tells which, once the server
    answers again; `outcomes` and `wrote` are the batch's if it did commit."""

    def __init__(self, message: str, xid: int | None, outcomes: list[Outcome], wrote: bool):
        super().__init__(message)
        self.xid = xid
        self.outcomes = outcomes
        self.wrote = wrote


def is_disconnect(exc: BaseException) -> bool:
    """A lost connection or a server going down: nothing of an unfinished transaction
    was committed, and a new connection may do better."""
    import asyncpg

    return isinstance(
        exc,
        asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError  # shutting down, starting up
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.InternalClientError  # a connection left mid-operation
        | OSError
        | TimeoutError,
    )


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction may succeed if run again."""
    import asyncpg

    return isinstance(exc, asyncpg.exceptions.TransactionRollbackError)


def _is_fatal(exc: BaseException) -> bool:
    """An error the batch cannot get past by undoing one job: a lost connection, or one
    that another attempt of the whole batch may get past."""
    return is_retryable(exc) or is_disconnect(exc)


async def apply_batch(
    conn: Conn, jobs: list[Job], channel: str = "", sender: str = ""
) -> tuple[list[Outcome], bool, bool]:
    """Apply `jobs` in one transaction. Returns the outcome of every job that failed or
    returned a value (each job left out succeeded with None), whether the transaction
    wrote anything, and whether it advanced the `commits` sequence after its COMMIT (in
    the same round trip: a transaction that wrote does). The notes the jobs leave
    (`pg_notify.note`) go out on `channel`, signed `sender`, if it commits."""
    for attempt in range(_RETRIES):
        try:
            return await _attempt(conn, jobs, channel, sender)
        except Exception as exc:
            if not is_retryable(exc) or attempt == _RETRIES - 1:
                raise
            await asyncio.sleep(min(0.005 * 2**attempt, 0.5))
    raise AssertionError("unreachable")  # pragma: no cover


async def _attempt(
    conn: Conn, jobs: list[Job], channel: str, sender: str
) -> tuple[list[Outcome], bool, bool]:
    hook = crashpoints.hook
    await conn.execute("BEGIN")
    try:
        with collecting() as notes:
            try:
                outcomes = await _fast(conn, jobs)
            except (Exception, LeaseLost) as exc:  # a job's own failure (LeaseLost too)
                if _is_fatal(exc):
                    raise
                await conn.execute("ROLLBACK")
                await conn.execute("BEGIN")
                notes.clear()
                outcomes = await _one_by_one(conn, jobs)
        if notes and channel:
            sent = await conn.fetchrow(SEND_NOTES, channel, payloads(sender, notes))
            xid = None if sent is None else sent[0]
        else:
            xid = await conn.fetchval("SELECT txid_current_if_assigned()")
        if hook is not None:
            hook("before commit")
        try:
            # After the commit and before anyone hears of it, in the same round trip:
            # whoever sees the counter move can read what moved it.
            await conn.execute("COMMIT" if xid is None else "COMMIT; SELECT nextval('commits')")
        except Exception as exc:
            if is_disconnect(exc):
                raise CommitUncertain(
                    f"the connection to PostgreSQL was lost while committing: {exc}",
                    xid,
                    outcomes,
                    xid is not None,
                ) from exc
            raise
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            try:
                await conn.execute("ROLLBACK")
            except Exception:  # the connection is gone: the server rolls back for us
                conn.terminate()
        raise
    if hook is not None:
        hook("after commit")
    return outcomes, xid is not None, xid is not None


async def _fast(conn: Conn, jobs: list[Job]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    commits = [job for job in jobs if job[1] is None]
    if len(commits) != len(jobs):
        await _run_functions(conn, jobs, outcomes)
    if not commits:
        return outcomes
    state = await _fence_state(conn, commits)
    ops: dict[tuple[str, str], Checkpoint] = {}
    finishes: list[tuple[Any, ...]] = []
    wake_parents: list[tuple[float, str]] = []
    suspends: dict[str, float | None] = {}
    callbacks: list[tuple[Any, ...]] = []
    cancels: list[tuple[str, str, float]] = []
    custom: dict[str, bytes] = {}
    attempts: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for future, _, fence, m in commits:
        assert fence is not None
        current = state.get(fence.execution_id)  # None: live at this epoch, no parent
        if current is not None and (current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION):
            outcomes.append((future, False, LeaseLost(fence.execution_id)))
            continue
        if isinstance(m, Checkpoint):
            ops[m.execution_id, m.op_id] = m
        elif isinstance(m, FinishExecution):
            parent = None if current is None else current[2]
            finishes.append((fence.execution_id, m.status.value, m.result, m.error, m.ended_at))
            note("end", fence.execution_id)
            if parent is not None:  # it was invoked: its parent may go on
                wake_parents.append((m.ended_at, fence.execution_id))
                note("answer", parent)
                note("due", repr(m.ended_at))
            state[fence.execution_id] = (fence.epoch, m.status.value, parent)
            cancels.extend((fence.execution_id, op_id, m.ended_at) for op_id in m.open_ops)
        elif isinstance(m, SuspendExecution):
            earlier = suspends.get(fence.execution_id)
            wake = [t for t in (earlier, m.wake_at) if t is not None]
            suspends[fence.execution_id] = min(wake, default=None)
        elif isinstance(m, SetCustomStatus):
            # Gathered like the rest: a custom status queued after the execution's
            # ending in this batch was refused above, one queued before goes in.
            custom[fence.execution_id] = m.value
        elif isinstance(m, BlockExecution):
            await conn.execute(_BLOCK, m.error, fence.execution_id)
        elif isinstance(m, EndAttempt):
            o = m.operation
            ops[o.execution_id, o.op_id] = o
            attempts[o.execution_id, o.op_id, o.attempt] = (
                o.execution_id,
                o.op_id,
                o.attempt,
                m.started_at,
                m.ended_at,
                o.error,
            )
        elif isinstance(m, PutCallback):
            ops[m.operation.execution_id, m.operation.op_id] = m.operation
            callbacks.append(
                (
                    m.callback_id,
                    fence.execution_id,
                    m.operation.op_id,
                    m.created_at,
                    m.timeout_at,
                    m.heartbeat_timeout,
                )
            )
        elif isinstance(m, CancelOperations):
            for record in (m.operation, *m.records):
                ops[record.execution_id, record.op_id] = record
            cancels.extend((fence.execution_id, op_id, m.ended_at) for op_id in m.open_ops)
        else:  # pragma: no cover - the Mutation union is closed
            raise TypeError(f"unknown mutation {m!r}")
    await _write_rows(
        conn, list(ops.values()), callbacks, cancels, finishes, wake_parents, suspends
    )
    if custom:
        await conn.execute(_CUSTOM_STATUS, list(custom), list(custom.values()))
    if attempts:
        await conn.execute(_PUT_ATTEMPTS, *_columns(list(attempts.values()), 6))
    return outcomes


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as columns: one array parameter per column."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


async def _write_rows(
    conn: Conn,
    ops: list[Checkpoint],
    callbacks: list[tuple[Any, ...]],
    cancels: list[tuple[str, str, float]],
    finishes: list[tuple[Any, ...]],
    wake_parents: list[tuple[float, str]],
    suspends: dict[str, float | None],
) -> None:
    """Write what a batch's commits gathered, each kind with one statement."""
    if len(ops) >= STAGE_AT:
        staged = await stage(conn, "operations", _OP_NAMES, ops)
        await conn.execute(_MOVE_STAGED.format(staged=staged))
    elif ops:
        await conn.execute(_PUT_OPS, *_columns(ops, len(Checkpoint._fields)))
    if callbacks:
        await conn.execute(_PUT_CALLBACKS, *_columns(callbacks, 6))
    if cancels:
        columns = _columns(cancels, 3)
        await conn.execute(_CANCEL_OPERATIONS, *columns)
        await conn.execute(_CANCEL_CALLBACKS, *columns)
    if finishes:
        await conn.execute(_FINISH, *_columns(finishes, 5))
    if wake_parents:
        await conn.executemany(WAKE_PARENT, wake_parents)
    if suspends:
        woken = await conn.fetch(_SUSPEND, list(suspends), list(suspends.values()))
        due = [row[0] for row in woken if row[0] is not None]
        if due:  # another process may be the one to resume it
            note("due", repr(min(due)))


async def _run_functions(conn: Conn, jobs: list[Job], outcomes: list[Outcome]) -> None:
    """Run the jobs that are functions, in order; creations next to each other go in
    together."""
    futures: list[asyncio.Future[Any]] = []
    creates: list[PgCreate] = []
    for future, fn, _, _ in jobs:
        if type(fn) is PgCreate:
            futures.append(future)
            creates.append(fn)
            continue
        if creates:
            outcomes.extend(
                zip(
                    futures,
                    [True] * len(creates),
                    await create_executions(conn, creates),
                    strict=True,
                )
            )
            futures, creates = [], []
        if fn is not None and (value := await fn(conn)) is not None:
            outcomes.append((future, True, value))
    if creates:
        outcomes.extend(
            zip(futures, [True] * len(creates), await create_executions(conn, creates), strict=True)
        )


async def _fence_state(
    conn: Conn, commits: list[Job]
) -> dict[str, tuple[int | None, str | None, str | None]]:
    """Epoch, status and parent of each execution fenced by `commits` that is not simply
    live at its fence's epoch: the epoch moved, it ended, it is gone (all None), or it
    has a parent. Locks every fenced execution's row until the transaction ends."""
    ids = [job[2].execution_id for job in commits]  # type: ignore[union-attr]
    epochs = [job[2].epoch for job in commits]  # type: ignore[union-attr]
    rows = await conn.fetch(_FENCE_QUERY, ids, epochs, TERMINAL_EXECUTION)
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def _one_by_one(conn: Conn, jobs: list[Job]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    # Executions a commit of which failed: their later commits fail with it, so that
    # one execution's writes land in order, never a later one without an earlier.
    broken: dict[str, BaseException] = {}
    for job in jobs:
        fence = job[2]
        if fence is not None and fence.execution_id in broken:
            outcomes.append((job[0], False, broken[fence.execution_id]))
            continue
        await conn.execute("SAVEPOINT job")
        try:
            if job[1] is not None:
                value = await job[1](conn)
            else:
                failed = await _fast(conn, [job])
                if failed:
                    raise failed[0][2]
                value = None
            await conn.execute("RELEASE SAVEPOINT job")
            if value is not None:
                outcomes.append((job[0], True, value))
        except (Exception, LeaseLost) as exc:
            if _is_fatal(exc):
                raise
            await conn.execute("ROLLBACK TO SAVEPOINT job")
            await conn.execute("RELEASE SAVEPOINT job")
            outcomes.append((job[0], False, exc))
            if fence is not None:
                broken[fence.execution_id] = exc
    return outcomes


def store_error(exc: BaseException) -> BaseException:
    """A database error as the StoreError the engine expects (ours pass through)."""
    import asyncpg

    if isinstance(exc, asyncpg.exceptions.PostgresError) or is_disconnect(exc):
        return StoreError(f"PostgreSQL: {exc}")
    return exc
