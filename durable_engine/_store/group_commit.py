"""Applying a batch of queued writes in one transaction, on the database thread.

Checkpoint commits take a fast path: every fence in the batch is checked with one
query, then all operation rows go in one `executemany`, and likewise the execution
updates. Other jobs (creating executions, claims) run one by one. If anything in
the fast path fails unexpectedly, the transaction is rolled back and every job is
applied again on its own, inside a savepoint, so one bad job cannot sink the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from .._errors import DatabaseCorrupt, StoreError
from .._models import (
    TERMINAL_EXECUTION,
    Checkpoint,
    ExecutionStatus,
    OperationStatus,
    OperationType,
)
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
from .executions import CreateExecution, create_executions
from .files import is_transient
from .rows import in_statements
from .schema import OP_COLUMNS

__all__ = [
    "OP_COLUMNS",
    "WAKE_PARENT",
    "Job",
    "Outcome",
    "apply_batch",
    "register_adapters",
    "row_to_checkpoint",
]

_new_tuple = tuple.__new__

# sqlite3 binds None, bytes and str subclasses (our StrEnums) only after looking for an
# adaptation protocol on them, and on Python 3.11 that look raises and clears two
# AttributeErrors per value: once a third of the database thread's time. A registered
# adapter is found before that look. These bind each value exactly as sqlite3 would
# anyway (None as NULL, bytes as a blob, a StrEnum as its text). sqlite3 keeps its
# adapters process-wide, so they are registered when a store opens, not on import.
_ADAPTERS: tuple[tuple[type[Any], Callable[[Any], Any]], ...] = (
    (type(None), {}.get),  # a C callable that returns None
    (bytes, bytes.__bytes__),  # returns the same object, cheaper to call than `bytes`
    (ExecutionStatus, str),
    (OperationStatus, str),
    (OperationType, str),
)


def register_adapters() -> None:
    """Register the adapters above (once; any adapter someone else registered first for
    one of these types is left in place)."""
    for type_, adapter in _ADAPTERS:
        if (type_, sqlite3.PrepareProtocol) not in sqlite3.adapters:
            sqlite3.register_adapter(type_, adapter)


_PUT_OPS = f"INSERT OR REPLACE INTO operations ({OP_COLUMNS})"
# A wake-up recorded while the execution ran (a callback resolved) survives suspension,
# and an execution with a total timeout wakes at it at the latest: the earliest of the
# three instants that are set, or NULL if none is.
_SUSPEND = (
    "UPDATE executions SET status = 'SUSPENDED', owner = NULL, wake_at = MIN("
    "COALESCE(wake_at, :wake_at, timeout_at), COALESCE(:wake_at, timeout_at, wake_at), "
    "COALESCE(timeout_at, wake_at, :wake_at)) WHERE execution_id = :execution_id"
)
# Held for a new deploy; due at its timeout, if any, so that still applies.
_BLOCK = (
    "UPDATE executions SET status = 'BLOCKED', owner = NULL, error = :error,"
    " wake_at = timeout_at WHERE execution_id = :execution_id"
)
_PUT_CALLBACK = (
    "INSERT INTO callbacks (callback_id, execution_id, op_id, status, created_at, timeout_at,"
    " heartbeat_timeout, heartbeat_at) VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?)"
)
# An execution that ends wakes the execution that invoked it.
WAKE_PARENT = (
    "UPDATE executions SET wake_at = MIN(COALESCE(wake_at, :at), :at) WHERE execution_id ="
    " (SELECT parent_id FROM executions WHERE execution_id = :execution_id)"
    " AND status IN ('RUNNING', 'SUSPENDED')"
)
# `?` is a JSON object {execution_id: epoch}; rows come back only for executions
# whose fence does not plainly hold, and for invoked ones (their parents are woken).
_FENCE_QUERY = (
    "SELECT f.key, e.epoch, e.status, e.parent_id FROM json_each(?) AS f"
    " LEFT JOIN executions AS e ON e.execution_id = f.key"
    " WHERE e.epoch IS NOT f.value OR e.parent_id IS NOT NULL OR e.status IN ("
    + ", ".join(f"'{s}'" for s in sorted(TERMINAL_EXECUTION))
    + ")"
)
# What a decided batch or an ending leaves open: only what is still open, so an answer
# that came in meanwhile (a callback resolved from outside) stands.
_CANCEL_OPERATION = (
    "UPDATE operations SET status = 'CANCELLED', ended_at = :at WHERE execution_id ="
    " :execution_id AND op_id = :op_id AND status IN ('STARTED', 'PENDING')"
)
_CANCEL_CALLBACK = (
    "UPDATE callbacks SET status = 'CANCELLED', resolved_at = :at WHERE execution_id ="
    " :execution_id AND op_id = :op_id AND status = 'PENDING'"
)
_CUSTOM_STATUS = "UPDATE executions SET custom_status = ? WHERE execution_id = ?"
_PUT_ATTEMPT = (
    "INSERT OR REPLACE INTO attempts (execution_id, op_id, attempt, started_at, ended_at, error)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_FENCE_ONE = "SELECT epoch, status, parent_id FROM executions WHERE execution_id = ?"
_FINISH = (
    "UPDATE executions SET status = ?, result = ?, error = ?, ended_at = ?, "
    "owner = NULL, wake_at = NULL WHERE execution_id = ?"
)


Job = tuple[
    asyncio.Future[Any], Callable[[sqlite3.Connection], Any] | None, Fence | None, Mutation | None
]
"""A queued write `(future, fn, fence, mutation)`: a function to run (`fn`), or a commit
(`fence` and `mutation`). A plain tuple: made and unpacked without Python code running."""


_TYPES: dict[str, OperationType] = {t.value: t for t in OperationType}
_STATUSES: dict[str, OperationStatus] = {s.value: s for s in OperationStatus}


def row_to_checkpoint(row: Sequence[Any]) -> Checkpoint:
    """A row of OP_COLUMNS as a checkpoint (a checkpoint is written as the row it is)."""
    try:
        type_, status = _TYPES[row[3]], _STATUSES[row[5]]
    except KeyError:
        raise DatabaseCorrupt(
            f"operation {row[1]} of execution {row[0]} has an unknown type or status "
            f"({row[3]!r}, {row[5]!r})"
        ) from None
    return _new_tuple(Checkpoint, (row[0], row[1], row[2], type_, row[4], status, *row[6:]))


def _begin(conn: sqlite3.Connection) -> None:
    """Take the write lock, waiting for it up to the connection's busy timeout (SQLite's
    busy handler). A lock still held then raises SQLITE_BUSY: the writer waits and tries
    the whole batch again (`SqliteStore._write_jobs`)."""
    conn.execute("BEGIN IMMEDIATE")


Outcome = tuple[asyncio.Future[Any], bool, Any]
"""A job's future, and whether it succeeded with this value or failed with this error."""


def apply_batch(conn: sqlite3.Connection, jobs: list[Job]) -> list[Outcome]:
    """Apply `jobs` in one transaction. Returns the outcome of every job that failed or
    returned a value; each job left out succeeded with None (most commits, by far).

    A transient failure (`files.is_transient`: locked, full, I/O error) is no job's own:
    it rolls the whole batch back and is raised, for the writer to try the batch again."""
    hook = crashpoints.hook
    _begin(conn)
    try:
        try:
            outcomes = _fast(conn, jobs)
        except (Exception, LeaseLost) as exc:  # a job's own failure: LeaseLost too
            if is_transient(exc):
                raise
            conn.execute("ROLLBACK")
            _begin(conn)
            outcomes = _one_by_one(conn, jobs)
        if hook is not None:
            hook("before commit")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # it may fail as the commit did
                conn.execute("ROLLBACK")
        raise
    if hook is not None:
        hook("after commit")
    return outcomes


def _fast(conn: sqlite3.Connection, jobs: list[Job]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    commits = [job for job in jobs if job[1] is None]
    if len(commits) != len(jobs):
        _run_functions(conn, jobs, outcomes)
    if not commits:
        return outcomes
    state = _fence_state(conn, commits)
    ops: list[Checkpoint] = []
    finishes: list[tuple[Any, ...]] = []
    wake_parents: list[dict[str, Any]] = []
    suspends: list[dict[str, Any]] = []
    callbacks: list[tuple[Any, ...]] = []
    cancels: list[dict[str, Any]] = []
    attempts: list[tuple[Any, ...]] = []
    for future, _, fence, m in commits:
        assert fence is not None
        current = None
        if state:  # else every fence holds and no execution has a parent: the usual case
            current = state.get(fence.execution_id)  # None: live at this epoch, no parent
            if current is not None and (
                current[0] != fence.epoch or current[1] in TERMINAL_EXECUTION
            ):
                outcomes.append((future, False, LeaseLost(fence.execution_id)))
                continue
        if type(m) is Checkpoint:
            ops.append(m)
        elif isinstance(m, FinishExecution):
            parent = None if current is None else current[2]
            finishes.append((m.status, m.result, m.error, m.ended_at, fence.execution_id))
            if parent is not None:  # it was invoked: its parent may go on
                wake_parents.append({"at": m.ended_at, "execution_id": fence.execution_id})
            state[fence.execution_id] = (fence.epoch, m.status.value, parent)
            if m.open_ops:
                cancels.extend(_cancels(fence.execution_id, m.open_ops, m.ended_at))
        elif isinstance(m, SuspendExecution):
            suspends.append({"wake_at": m.wake_at, "execution_id": fence.execution_id})
        elif isinstance(m, SetCustomStatus):
            # Written at once: rare, and it must not wait for an ending in this batch
            # (a finished execution's later writes are refused, not this one).
            conn.execute(_CUSTOM_STATUS, (m.value, fence.execution_id))
        elif isinstance(m, BlockExecution):
            conn.execute(_BLOCK, {"error": m.error, "execution_id": fence.execution_id})
        elif isinstance(m, PutCallback):
            ops.append(m.operation)
            callbacks.append(
                (
                    m.callback_id,
                    fence.execution_id,
                    m.operation.op_id,
                    m.created_at,
                    m.timeout_at,
                    m.heartbeat_timeout,
                    m.created_at,
                )
            )
        elif isinstance(m, EndAttempt):
            op = m.operation
            ops.append(op)
            attempts.append(
                (op.execution_id, op.op_id, op.attempt, m.started_at, m.ended_at, op.error)
            )
        elif isinstance(m, CancelOperations):
            ops.append(m.operation)
            ops.extend(m.records)
            cancels.extend(_cancels(fence.execution_id, m.open_ops, m.ended_at))
        else:  # pragma: no cover - the Mutation union is closed
            raise TypeError(f"unknown mutation {m!r}")
    _write_rows(conn, ops, callbacks, cancels, finishes, wake_parents, suspends)
    if attempts:
        conn.executemany(_PUT_ATTEMPT, attempts)
    return outcomes


def _write_rows(
    conn: sqlite3.Connection,
    ops: list[Checkpoint],
    callbacks: list[tuple[Any, ...]],
    cancels: list[dict[str, Any]],
    finishes: list[tuple[Any, ...]],
    wake_parents: list[dict[str, Any]],
    suspends: list[dict[str, Any]],
) -> None:
    """Write what a batch's commits gathered, each kind with as few statements as can be."""
    if ops:
        _put_operations(conn, ops)
    if callbacks:
        conn.executemany(_PUT_CALLBACK, callbacks)
    if cancels:
        conn.executemany(_CANCEL_OPERATION, cancels)
        conn.executemany(_CANCEL_CALLBACK, cancels)
    if finishes:
        conn.executemany(_FINISH, finishes)
    if wake_parents:
        conn.executemany(WAKE_PARENT, wake_parents)
    if suspends:
        conn.executemany(_SUSPEND, suspends)


def _cancels(execution_id: str, op_ids: Sequence[str], at: float) -> list[dict[str, Any]]:
    return [{"execution_id": execution_id, "op_id": op_id, "at": at} for op_id in op_ids]


def _run_functions(conn: sqlite3.Connection, jobs: list[Job], outcomes: list[Outcome]) -> None:
    """Run the jobs that are functions, in order; creations next to each other go in
    together."""
    futures: list[asyncio.Future[Any]] = []
    creates: list[CreateExecution] = []
    for future, fn, _, _ in jobs:
        if type(fn) is CreateExecution:
            futures.append(future)
            creates.append(fn)
            continue
        if creates:
            outcomes.extend(_created(futures, create_executions(conn, creates)))
            futures, creates = [], []
        if fn is not None and (value := fn(conn)) is not None:
            outcomes.append((future, True, value))
    if creates:
        outcomes.extend(_created(futures, create_executions(conn, creates)))


def _created(futures: list[asyncio.Future[Any]], values: list[Any]) -> list[Outcome]:
    return [(future, True, value) for future, value in zip(futures, values, strict=True)]


_COLUMNS = len(Checkpoint._fields)
_TYPE_AT = Checkpoint._fields.index("type")
_STATUS_AT = Checkpoint._fields.index("status")
_PLAIN = {member: member.value for member in (*OperationType, *OperationStatus)}.__getitem__
"""An operation type or status as the plain string it is stored as."""


def _put_operations(conn: sqlite3.Connection, rows: Sequence[Checkpoint]) -> None:
    """Write `rows` with a few multi-row statements rather than one per row."""
    for sql, chunk in in_statements(_PUT_OPS, _COLUMNS, "", rows):
        params = list(chain.from_iterable(chunk))
        if len(chunk) >= 4:
            # sqlite3 binds an enum member only through its adapter (about 140 ns each,
            # on the database thread): the two enum columns go in as their plain strings,
            # swapped in by two slice assignments that run in C. (Below four rows the
            # slicing costs more than the adapter.)
            params[_TYPE_AT::_COLUMNS] = map(_PLAIN, params[_TYPE_AT::_COLUMNS])
            params[_STATUS_AT::_COLUMNS] = map(_PLAIN, params[_STATUS_AT::_COLUMNS])
        conn.execute(sql, params)


def _fence_state(
    conn: sqlite3.Connection, commits: list[Job]
) -> dict[str, tuple[int | None, str | None, str | None]]:
    """Epoch, status and parent of each execution fenced by `commits` that is not simply
    live at its fence's epoch: the epoch moved, it ended, it is gone (all None), or it
    has a parent. An execution left out holds the lease its fence names and has no parent.

    The comparison runs inside SQLite, so a batch of a thousand live executions reads
    back no rows at all."""
    if len(commits) == 1:  # one write alone: read its execution's row directly
        only = commits[0][2].execution_id  # type: ignore[union-attr]
        row = conn.execute(_FENCE_ONE, (only,)).fetchone()
        return {only: (None, None, None) if row is None else row}
    # An execution that wrote twice appears twice; json_each yields both members, and
    # a fence that does not hold brings the row back to be checked against each write.
    members = ",".join([job[2].json_member for job in commits])  # type: ignore[union-attr]
    rows = conn.execute(_FENCE_QUERY, ("{" + members + "}",)).fetchall()
    state = {r[0]: (r[1], r[2], r[3]) for r in rows}
    if state and not state.keys() <= {job[2].execution_id for job in commits}:  # type: ignore[union-attr]
        # An id did not come back from JSON as it went in: its fence would go unchecked.
        # Fail the fast path; one by one, each fence is read with a bound parameter.
        raise StoreError("an execution id did not survive the fence check's JSON")
    return state


def _one_by_one(conn: sqlite3.Connection, jobs: list[Job]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    # Executions a commit of which failed: their later commits fail with it, so that
    # one execution's writes land in order, never a later one without an earlier.
    broken: dict[str, BaseException] = {}
    for job in jobs:
        fence = job[2]
        if fence is not None and fence.execution_id in broken:
            outcomes.append((job[0], False, broken[fence.execution_id]))
            continue
        conn.execute("SAVEPOINT job")
        try:
            if job[1] is not None:
                value = job[1](conn)
            else:
                failed = _fast(conn, [job])
                if failed:
                    raise failed[0][2]
                value = None
            conn.execute("RELEASE job")
            if value is not None:
                outcomes.append((job[0], True, value))
        except (Exception, LeaseLost) as exc:
            if is_transient(exc):  # not this job's failure: the batch is tried again
                raise
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            outcomes.append((job[0], False, exc))
            if fence is not None:
                broken[fence.execution_id] = exc
    return outcomes
