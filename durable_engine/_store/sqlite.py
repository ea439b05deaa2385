"""The SQLite store: WAL, one writer task doing group commit, fenced writes.

Every write goes through one list of pending jobs. The writer task takes whatever has gathered,
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
from typing import Any, TypeVar

import aiosqlite

from .._errors import DatabaseCorrupt, StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus
from . import callbacks, endings
from .base import (
    Fence,
    Mutation,
    NewExecution,
    WorkerInfo,
)
from .executions import EXEC_COLUMNS, CreateExecution, execution_from_row
from .group_commit import OP_COLUMNS, Job, apply_batch, row_to_checkpoint
from .integrity import check_path
from .schema import SCHEMA_VERSION, migrate, not_ours_error, read_version

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class SqliteStore:
    """The `Store` on one SQLite file (or ":memory:")."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
    ) -> None:
        sync = synchronous.upper()
        if sync not in _SYNC_MODES:
            raise ValueError(
                f"synchronous must be one of {', '.join(_SYNC_MODES)}, not {synchronous!r}"
            )
        self.path = os.fspath(path)
        self.memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        self._sync = sync
        self._busy_ms = int(busy_timeout * 1000)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._pending: list[Job] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        self._closing = False  # a store may be opened again after it was closed
        if not self.memory:
            _create_private_file(self.path)
        try:
            self._writer = await _connect(self.path)
            await _on_thread(self._writer, self._setup, True)
            if self.memory:
                self._reader = self._writer
            else:
                self._reader = await _connect(self.path)
                await _on_thread(self._reader, self._setup, False)
        except sqlite3.DatabaseError as exc:
            await self._close_connections()
            hint = _open_hint(exc)
            raise StoreError(
                f"{self.path} cannot be opened as a durable_engine database: {exc} ({hint})"
            ) from exc
        except BaseException:
            await self._close_connections()
            raise
        self._writer_task = asyncio.create_task(self._write_loop(), name="durable-writer")

    def _setup(self, conn: sqlite3.Connection, write: bool) -> None:
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        # Read the version before changing anything, so a newer file is left untouched.
        found, reason = read_version(conn)
        if reason is not None:
            raise not_ours_error(self.path, reason)
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {found}, written by a newer version of "
                f"durable_engine (this one reads up to {SCHEMA_VERSION}); upgrade to open it"
            )
        if not self.memory:
            _use_wal(conn)
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        if write:
            migrate(conn)
        else:
            conn.execute("PRAGMA query_only = 1")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._closing = True
            self._wake_writer()
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

    def _queue(self, job: Job) -> None:
        if self._writer_task is None or self._closing:
            raise StoreError("the store is not open")
        self._pending.append(job)
        if self._wakeup is not None:
            self._wake_writer()

    def _wake_writer(self) -> None:
        """Wake the writer task if it sleeps. The future is dropped as it is set, so
        later writes in the same loop turn see no sleeper and pass by."""
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _write_loop(self) -> None:
        try:
            await self._write_jobs()
        finally:
            # Cancelled (the loop shutting down around the store), or closed: a write
            # still queued, or queued from now on, would wait for ever.
            self._closing = True
            jobs, self._pending = self._pending, []
            for future, _, _, _ in jobs:
                if not future.done():
                    future.set_exception(StoreError("the store closed before this write"))

    async def _write_jobs(self) -> None:
        assert self._writer is not None
        writer = self._writer
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    break
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            jobs, self._pending = self._pending, []
            try:
                outcomes = await _on_thread(writer, apply_batch, jobs)
            except Exception as exc:
                error = self._error(exc)
                if not isinstance(error, StoreError):
                    error = StoreError(f"write failed: {exc}")
                for future, _, _, _ in jobs:
                    if not future.done():
                        future.set_exception(error)
                continue
            for future, ok, value in outcomes:  # the jobs that failed or returned a value
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(self._error(value))
            for job in jobs:  # the rest succeeded with None
                future = job[0]
                if not future.done():
                    future.set_result(None)

    def _error(self, exc: BaseException) -> BaseException:
        """Database errors become StoreError, DatabaseCorrupt for a damaged file; the
        engine's own signals (and StoreErrors) pass through."""
        if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
            return exc
        if exc.sqlite_errorcode & 0xFF in _DAMAGED:
            return DatabaseCorrupt(
                f"{self.path} is damaged: {exc} (restore it from a backup, or run "
                "`sqlite3 .recover`)"
            )
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            return StoreError(f"{self.path} cannot be written: {exc} ({_READ_ONLY})")
        return StoreError(f"database error: {exc}")

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn` to run in the writer's next transaction; the future is its value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue((future, fn, None, None))
        return future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._reader
        if reader is None:
            raise StoreError("the store is not open")
        try:
            return await _on_thread(reader, fn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    # -- executions --------------------------------------------------------

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        return await self._write(CreateExecution(new))

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        def read(conn: sqlite3.Connection) -> ExecutionRecord | None:
            row = conn.execute(
                f"SELECT {EXEC_COLUMNS} FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            return None if row is None else execution_from_row(row)

        return await self._read(read)

    async def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        function: str | None = None,
        parent_id: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        where, args = [], []
        filters = {"status": status, "function": function, "parent_id": parent_id, "name": name}
        for column, value in filters.items():
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        sql = f"SELECT {EXEC_COLUMNS} FROM executions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, execution_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"

        def read(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            return [execution_from_row(r) for r in conn.execute(sql, args).fetchall()]

        return await self._read(read)

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        def read(conn: sqlite3.Connection) -> list[Checkpoint]:
            rows = conn.execute(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ?", (execution_id,)
            ).fetchall()
            return [row_to_checkpoint(r) for r in rows]

        return await self._read(read)

    def commit(self, fence: Fence, mutation: Mutation) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue((future, None, fence, mutation))
        return future

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
                "wake_at = MIN(COALESCE(wake_at, :wake_at), :wake_at) WHERE owner = :worker_id",
                {"wake_at": release_wake_at, "worker_id": worker_id},
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
            # Pick first, then update: the previous owner tells a takeover from a claim.
            picked = conn.execute(
                """
                SELECT execution_id, owner FROM executions
                WHERE owner IS NULL AND wake_at <= :now
                  AND function IN (SELECT value FROM json_each(:functions))
                UNION
                SELECT execution_id, owner FROM executions
                WHERE owner IS NOT NULL AND owner != :worker_id
                  AND status IN ('RUNNING', 'SUSPENDED')
                  AND function IN (SELECT value FROM json_each(:functions))
                  AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = owner)
                LIMIT :limit
                """,
                {"worker_id": worker_id, "now": now, "functions": names, "limit": limit},
            ).fetchall()
            if not picked:
                return []
            previous: dict[str, str | None] = {r[0]: r[1] for r in picked}
            rows = conn.execute(
                f"""
                UPDATE executions SET owner = ?, epoch = epoch + 1, status = 'RUNNING',
                    wake_at = NULL
                WHERE execution_id IN (SELECT value FROM json_each(?))
                RETURNING {EXEC_COLUMNS}
                """,
                (worker_id, json.dumps(list(previous))),
            ).fetchall()
            return [execution_from_row(r, taken_from=previous.get(r[0])) for r in rows]

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

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        """Stop an unfinished execution for good; returns its status if it had already ended."""
        return await self._write(lambda conn: endings.stop(conn, execution_id, now, error))

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        """End the execution as TIMED_OUT if `fence` still holds it, else raise LeaseLost."""
        await self._write(lambda conn: endings.time_out(conn, fence, now, error))

    async def check(self) -> dict[str, object]:
        """Integrity (PRAGMA quick_check) and schema version."""

        def read(conn: sqlite3.Connection) -> dict[str, object]:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            return {
                "path": self.path,
                "integrity": "ok" if rows == ["ok"] else "; ".join(map(str, rows)),
                "schema_version": version,
                "supported_schema_version": SCHEMA_VERSION,
            }

        return await self._read(read)

    async def resolve_callback(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None, now: float
    ) -> tuple[str, str]:
        return await self._write(
            lambda conn: callbacks.resolve(conn, callback_id, status, result, error, now)
        )

    async def heartbeat_callback(self, callback_id: str, now: float) -> tuple[str, str]:
        return await self._write(lambda conn: callbacks.heartbeat(conn, callback_id, now))

    async def callback_function(self, callback_id: str) -> str | None:
        return await self._read(lambda conn: callbacks.function_of(conn, callback_id))

    async def time_out_callback(
        self, fence: Fence, callback_id: str, op_id: str, now: float, error: bytes
    ) -> Checkpoint:
        return await self._write(
            lambda conn: callbacks.time_out(conn, fence, callback_id, op_id, now, error)
        )

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None:
        def read(conn: sqlite3.Connection) -> Checkpoint | None:
            row = conn.execute(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ? AND op_id = ?",
                (execution_id, op_id),
            ).fetchone()
            return None if row is None else row_to_checkpoint(row)

        return await self._read(read)

    async def data_version(self) -> int:
        # Read on the writer's connection: its data_version moves only for commits made
        # by other connections, i.e. other processes, never for this store's own writes.
        writer = self._writer
        if writer is None:
            raise StoreError("the store is not open")
        try:
            return await _on_thread(
                writer, lambda conn: int(conn.execute("PRAGMA data_version").fetchone()[0])
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc


async def _connect(path: str) -> aiosqlite.Connection:
    """An aiosqlite connection to `path`. If it cannot be opened, its thread has ended
    before the error is raised: left running, it could outlive the event loop and print
    a traceback as the program exits."""
    conn = aiosqlite.connect(path, isolation_level=None)
    try:
        return await conn
    except BaseException:
        thread = getattr(conn, "_thread", None)  # aiosqlite stops it, without waiting
        for _ in range(1000):
            if thread is None or not thread.is_alive():
                break
            await asyncio.sleep(0.001)
        raise


async def _on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(sqlite3_connection, *args)` on the connection's own thread: one round trip,
    however many statements `fn` runs. (aiosqlite has no public call for this.)"""
    result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
    return result


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (once, when it is new). The switch needs the file to
    itself, and SQLite does not wait for that: while another process opens the same
    new file, it is tried again, for about as long as the busy timeout."""
    for attempt in range(_LOCK_TRIES):
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _LOCK_TRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


_LOCK_TRIES = 30
_READ_ONLY = "the file or its folder cannot be written by this user"
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _open_hint(exc: sqlite3.DatabaseError) -> str:
    """What to look at when SQLite refused to open the file with `exc`."""
    if isinstance(exc, sqlite3.OperationalError):
        if "readonly" in str(exc):
            return _READ_ONLY
        if "unable to open" in str(exc):
            return "check the path, and that its folder exists and can be written"
        if "locked" in str(exc):
            return "another process kept it locked; try again"
    return "the file is corrupt or is not an SQLite database"


def _create_private_file(path: str) -> None:
    """Create the database file readable by its owner only (0600), if it does not exist;
    StoreError if it cannot be, if `path` is a directory, or if the file cannot be written."""
    if path.startswith("file:"):
        return
    check_path(path)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        _check_writable(path)
        return
    except OSError as exc:  # no permission, a read-only filesystem
        raise StoreError(f"cannot create the database file {path}: {exc.strerror}") from exc
    os.close(fd)


def _check_writable(path: str) -> None:
    """StoreError if this user cannot write the existing file: an engine writes to it."""
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be written by this user ({exc.strerror}): an engine writes to "
            "its database, so every command but `db check` needs write access"
        ) from exc
