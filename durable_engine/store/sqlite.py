"""The SQLite store: WAL, one writer task doing group commit, fenced writes.

Every write goes through one queue. The writer task takes whatever has gathered,
applies it in one `BEGIN IMMEDIATE` transaction on the database thread, commits,
then resolves each caller's future: a thousand executions share one commit, and a
batch costs one thread round trip whatever its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosqlite

from ..errors import StoreError
from ..models import Checkpoint, ExecutionRecord, ExecutionStatus, OperationStatus, OperationType
from .base import (
    Fence,
    FinishExecution,
    LeaseLost,
    Mutation,
    NewExecution,
    PutOperation,
    SuspendExecution,
    WorkerInfo,
)
from .schema import SCHEMA_VERSION, migrate

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_LOCK_RETRIES = 8
_TERMINAL = tuple(s.value for s in ExecutionStatus if s.is_terminal)

_EXEC_COLUMNS = (
    "execution_id, name, function, status, input, result, error, parent_id, "
    "created_at, ended_at, wake_at, timeout_at, owner, epoch"
)
_OP_COLUMNS = (
    "execution_id, op_id, parent_id, type, name, status, attempt, result, error, "
    "started_at, ended_at, wake_at"
)
_PUT_OP = f"INSERT OR REPLACE INTO operations ({_OP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
# A wake-up recorded while the execution ran (a callback resolved) survives suspension.
_SUSPEND = (
    "UPDATE executions SET status = 'SUSPENDED', owner = NULL, "
    "wake_at = CASE WHEN wake_at IS NOT NULL AND (?1 IS NULL OR wake_at < ?1) "
    "THEN wake_at ELSE ?1 END WHERE execution_id = ?2"
)
_FINISH = (
    "UPDATE executions SET status = ?, result = ?, error = ?, ended_at = ?, "
    "owner = NULL, wake_at = NULL WHERE execution_id = ?"
)


def _execution(row: Sequence[Any]) -> ExecutionRecord:
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
    )


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    return Checkpoint(
        execution_id=row[0],
        op_id=row[1],
        parent_id=row[2],
        type=OperationType(row[3]),
        name=row[4],
        status=OperationStatus(row[5]),
        attempt=row[6],
        result=row[7],
        error=row[8],
        started_at=row[9],
        ended_at=row[10],
        wake_at=row[11],
    )


def _op_row(cp: Checkpoint) -> tuple[Any, ...]:
    return (
        cp.execution_id,
        cp.op_id,
        cp.parent_id,
        cp.type.value,
        cp.name,
        cp.status.value,
        cp.attempt,
        cp.result,
        cp.error,
        cp.started_at,
        cp.ended_at,
        cp.wake_at,
    )


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any] = field(repr=False)


def _apply_batch(conn: sqlite3.Connection, jobs: list[_Job]) -> list[tuple[bool, Any]]:
    """Run jobs in one transaction on the database thread; each job's outcome kept apart."""
    for attempt in range(_LOCK_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == _LOCK_RETRIES - 1:
                raise StoreError(
                    "the database stayed locked by another process; gave up after "
                    f"{_LOCK_RETRIES} tries"
                ) from exc
            time.sleep(min(0.05 * 2**attempt, 1.0))
    outcomes: list[tuple[bool, Any]] = []
    single = len(jobs) == 1
    try:
        for job in jobs:
            if single:
                try:
                    outcomes.append((True, job.fn(conn)))
                except Exception as exc:  # the job's own failure, handed to its caller
                    outcomes.append((False, exc))
                continue
            conn.execute("SAVEPOINT job")
            try:
                outcomes.append((True, job.fn(conn)))
                conn.execute("RELEASE job")
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc))
        if single and not outcomes[0][0]:
            conn.execute("ROLLBACK")
        else:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _check_fence(conn: sqlite3.Connection, fence: Fence) -> None:
    row = conn.execute(
        "SELECT epoch, status FROM executions WHERE execution_id = ?", (fence.execution_id,)
    ).fetchone()
    if row is None or row[0] != fence.epoch or row[1] in _TERMINAL:
        raise LeaseLost(fence.execution_id)


def _apply_mutations(
    conn: sqlite3.Connection, fence: Fence, mutations: Sequence[Mutation]
) -> None:
    _check_fence(conn, fence)
    for m in mutations:
        if isinstance(m, PutOperation):
            conn.execute(_PUT_OP, _op_row(m.checkpoint))
        elif isinstance(m, FinishExecution):
            conn.execute(
                _FINISH, (m.status.value, m.result, m.error, m.ended_at, fence.execution_id)
            )
        elif isinstance(m, SuspendExecution):
            conn.execute(_SUSPEND, (m.wake_at, fence.execution_id))
        else:  # pragma: no cover - the Mutation union is closed
            raise TypeError(f"unknown mutation {m!r}")


class SqliteStore:
    """The `Store` on one SQLite file (or ":memory:")."""

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", busy_timeout: float = 5.0
    ) -> None:
        sync = synchronous.upper()
        if sync not in _SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNC_MODES)}, not {synchronous!r}")
        self.path = os.fspath(path)
        self.memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        self._sync = sync
        self._busy_ms = int(busy_timeout * 1000)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        if not self.memory:
            _create_private_file(self.path)
        try:
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer._execute(self._setup, self._writer._conn, True)
            if self.memory:
                self._reader = self._writer
            else:
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader._execute(self._setup, self._reader._conn, False)
        except sqlite3.DatabaseError as exc:
            await self._close_connections()
            raise StoreError(
                f"{self.path} cannot be opened as a durable_engine database: {exc} "
                "(the file is corrupt or is not an SQLite database)"
            ) from exc
        except BaseException:
            await self._close_connections()
            raise
        self._writer_task = asyncio.create_task(self._write_loop(), name="durable-writer")

    def _setup(self, conn: sqlite3.Connection, write: bool) -> None:
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        if not self.memory:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        if write:
            found = migrate(conn)
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {found}, written by a newer version of "
                    f"durable_engine (this one reads up to {SCHEMA_VERSION}); upgrade to open it"
                )
        else:
            conn.execute("PRAGMA query_only = 1")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
            self._writer_task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._reader = self._writer = None

    # -- the writer --------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._writer is not None
        writer = self._writer
        queue = self._queue
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            jobs = [first]
            while not queue.empty():
                job = queue.get_nowait()
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
            try:
                outcomes = await writer._execute(_apply_batch, writer._conn, jobs)
            except Exception as exc:
                error = exc if isinstance(exc, StoreError) else StoreError(f"write failed: {exc}")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            for job, (ok, value) in zip(jobs, outcomes, strict=True):
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(_store_error(value))
        # Refuse whatever arrives after close.
        while not queue.empty():
            job = queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(StoreError("the store is closed"))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer_task is None or self._writer_task.done():
            raise StoreError("the store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, future))
        return await future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._reader
        if reader is None:
            raise StoreError("the store is not open")
        try:
            return await reader._execute(fn, reader._conn)
        except sqlite3.Error as exc:
            raise _store_error(exc) from exc

    # -- executions --------------------------------------------------------

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        def job(conn: sqlite3.Connection) -> tuple[ExecutionRecord, bool]:
            if new.name is not None:
                row = conn.execute(
                    f"SELECT {_EXEC_COLUMNS} FROM executions WHERE name = ?", (new.name,)
                ).fetchone()
                if row is not None:
                    return _execution(row), False
            owned = new.owner is not None
            conn.execute(
                "INSERT INTO executions (execution_id, name, function, status, input, parent_id,"
                " created_at, wake_at, timeout_at, owner, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    new.execution_id,
                    new.name,
                    new.function,
                    ExecutionStatus.RUNNING.value,
                    new.input,
                    new.parent_id,
                    new.created_at,
                    None if owned else new.created_at,
                    new.timeout_at,
                    new.owner,
                    1 if owned else 0,
                ),
            )
            row = conn.execute(
                f"SELECT {_EXEC_COLUMNS} FROM executions WHERE execution_id = ?",
                (new.execution_id,),
            ).fetchone()
            return _execution(row), True

        return await self._write(job)

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        def read(conn: sqlite3.Connection) -> ExecutionRecord | None:
            row = conn.execute(
                f"SELECT {_EXEC_COLUMNS} FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            return None if row is None else _execution(row)

        return await self._read(read)

    async def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        function: str | None = None,
        parent_id: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        where, args = [], []
        for column, value in (("status", status), ("function", function), ("parent_id", parent_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        sql = f"SELECT {_EXEC_COLUMNS} FROM executions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, execution_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"

        def read(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            return [_execution(r) for r in conn.execute(sql, args).fetchall()]

        return await self._read(read)

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        def read(conn: sqlite3.Connection) -> list[Checkpoint]:
            rows = conn.execute(
                f"SELECT {_OP_COLUMNS} FROM operations WHERE execution_id = ?", (execution_id,)
            ).fetchall()
            return [_checkpoint(r) for r in rows]

        return await self._read(read)

    async def commit(self, fence: Fence, mutations: Sequence[Mutation]) -> None:
        await self._write(lambda conn: _apply_mutations(conn, fence, mutations))

    # -- workers and claims --------------------------------------------------

    async def register_worker(self, worker: WorkerInfo, expires_at: float) -> None:
        await self._write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO workers (worker_id, host, pid, started_at, expires_at)"
                " VALUES (?,?,?,?,?)",
                (worker.worker_id, worker.host, worker.pid, worker.started_at, expires_at),
            )
        )

    async def renew_worker(self, worker_id: str, expires_at: float) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE workers SET expires_at = ? WHERE worker_id = ?", (expires_at, worker_id)
            )
            return cur.rowcount == 1

        return await self._write(job)

    async def remove_worker(self, worker_id: str, release_wake_at: float) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE executions SET status = 'SUSPENDED', owner = NULL, "
                "wake_at = MIN(COALESCE(wake_at, ?1), ?1) WHERE owner = ?2",
                (release_wake_at, worker_id),
            )
            conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

        await self._write(job)

    async def reap_workers(self, worker_ids: Sequence[str]) -> None:
        ids = list(worker_ids)

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM workers WHERE worker_id = ?", [(w,) for w in ids])

        await self._write(job)

    async def list_workers(self) -> list[tuple[WorkerInfo, float]]:
        def read(conn: sqlite3.Connection) -> list[tuple[WorkerInfo, float]]:
            rows = conn.execute(
                "SELECT worker_id, host, pid, started_at, expires_at FROM workers"
            ).fetchall()
            return [
                (WorkerInfo(worker_id=r[0], host=r[1], pid=r[2], started_at=r[3]), r[4])
                for r in rows
            ]

        return await self._read(read)

    async def claim(
        self, worker_id: str, functions: Sequence[str], now: float, limit: int, *, lease_now: float
    ) -> list[ExecutionRecord]:
        names = json.dumps(list(functions))

        def job(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            conn.execute("DELETE FROM workers WHERE expires_at <= ?", (lease_now,))
            rows = conn.execute(
                f"""
                UPDATE executions SET owner = ?1, epoch = epoch + 1, status = 'RUNNING',
                    wake_at = NULL
                WHERE execution_id IN (
                    SELECT execution_id FROM executions
                    WHERE owner IS NULL AND wake_at <= ?2
                      AND function IN (SELECT value FROM json_each(?3))
                    UNION
                    SELECT execution_id FROM executions
                    WHERE owner IS NOT NULL AND owner != ?1
                      AND status IN ('RUNNING', 'SUSPENDED')
                      AND function IN (SELECT value FROM json_each(?3))
                      AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = owner)
                    LIMIT ?4)
                RETURNING {_EXEC_COLUMNS}
                """,
                (worker_id, now, names, limit),
            ).fetchall()
            return [_execution(r) for r in rows]

        return await self._write(job)

    async def next_wake_at(self, functions: Sequence[str]) -> float | None:
        names = json.dumps(list(functions))

        def read(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(wake_at) FROM executions WHERE owner IS NULL AND wake_at IS NOT NULL"
                " AND function IN (SELECT value FROM json_each(?))",
                (names,),
            ).fetchone()
            return None if row is None else row[0]

        return await self._read(read)

    async def data_version(self) -> int:
        # Read on the writer's connection: its data_version moves only for commits made
        # by other connections, i.e. other processes, never for this store's own writes.
        writer = self._writer
        if writer is None:
            raise StoreError("the store is not open")
        try:
            return await writer._execute(
                lambda: int(writer._conn.execute("PRAGMA data_version").fetchone()[0])
            )
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc


def _store_error(exc: BaseException) -> BaseException:
    """Database errors become StoreError; the engine's own signals pass through."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"database error: {exc}")
    return exc


def _create_private_file(path: str) -> None:
    """Create the database file readable by its owner only (0600), if it does not exist."""
    if path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
