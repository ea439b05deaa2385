"""The SQLite store: WAL, one writer task doing group commit, fenced writes.

Every write goes through one list of pending jobs. The writer task takes whatever has gathered,
applies it in one `BEGIN IMMEDIATE` transaction on the database thread, commits,
then resolves each caller's future: a thousand executions share one commit, and a
batch costs one thread round trip whatever its size. A small batch of commits and
creations, when the database thread has nothing else to do, is applied on the event
loop's own thread instead (`_INLINE_MOST`): the round trip would cost more than the
transaction. It does not wait there for another process's lock (`busy_timeout` 0):
finding the file locked, it hands the batch to the database thread, which waits. Nor
does it copy the `-wal` file back into the database there (`wal_autocheckpoint` 0):
every `_INLINE_RUN`-th batch goes to the database thread, whose commit does that.

Two connections, each with a thread of its own (`ThreadedConnection`): the writer's,
and a read-only one for reads, so reads do not queue behind commits. An in-memory
database has one connection for both. A store opened `read_only` has only the reader,
on a connection that cannot write the file (`mode=ro`): it never migrates the schema
nor checkpoints the `-wal` file, and every write raises StoreError.

Before either connection is made, the file is checked as `check_on_open` says
(`integrity.preflight`): a damaged file is refused with DatabaseCorrupt, unwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._errors import StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus
from . import backup as backups
from . import callbacks, crashpoints, endings, events, integrity, purging, runs, schedules
from .base import (
    Attempt,
    Change,
    Fence,
    Mutation,
    NewExecution,
    ScheduleRecord,
    WorkerGone,
    WorkerInfo,
)
from .connection import ThreadedConnection, in_own_thread
from .executions import EXEC_COLUMNS, CreateExecution, execution_from_row, listing_query
from .files import create_private_file, is_transient, open_hint, store_error, use_wal
from .group_commit import (
    OP_COLUMNS,
    Job,
    Outcome,
    apply_batch,
    register_adapters,
    row_to_checkpoint,
)
from .histories import Histories, group_rows
from .queued import fail_later_writes
from .schema import SCHEMA_VERSION, migrate, not_ours_error, read_version

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_INLINE_MOST = 8
"""The most writes a batch may carry to be applied on the event loop's thread. Larger
batches go to the database thread, where SQLite runs without holding up the loop."""
_INLINE_SYNC = ("OFF", "NORMAL")
"""Modes whose commits do not wait for the disk (in WAL), so may run on the loop."""
_INLINE_RUN = 200
"""Batches applied on the loop in a row, at most, before one goes to the database
thread: that commit checkpoints the `-wal` file once it has grown past SQLite's
threshold (1000 pages), so the file stays bounded and the loop never waits for disks."""
_AUTOCHECKPOINT = 1000
"""SQLite's default `wal_autocheckpoint`, in pages: what the database thread uses."""

_IDS_A_QUERY = 200
"""Executions whose histories one statement reads (each bound as a parameter)."""
_HISTORIES = f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id IN"

_logger = logging.getLogger("durable_engine.store")

_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 2.0
"""Seconds the writer waits before trying a batch again after a transient failure:
doubling from the first to the most."""


class SqliteStore:
    """The `Store` on one SQLite file (or ":memory:")."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
        check_on_open: str = "quick",
        read_only: bool = False,
    ) -> None:
        sync = synchronous.upper()
        if sync not in _SYNC_MODES:
            raise ValueError(
                f"synchronous must be one of {', '.join(_SYNC_MODES)}, not {synchronous!r}"
            )
        if not isinstance(busy_timeout, int | float) or not 0 <= busy_timeout <= 3600:
            raise ValueError(
                f"busy_timeout must be a number of seconds from 0 to 3600, not {busy_timeout!r}"
            )
        self.path = os.fspath(path)
        self.memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        self._sync = sync
        self.check_on_open = integrity.check_level(check_on_open)
        """How the file is checked as it is opened, before anything is written: "quick"
        (`PRAGMA quick_check`), "full" (`PRAGMA integrity_check`) or "none"."""
        self.read_only = read_only
        """Open the file without the power to write it (see the module's docstring)."""
        self._checked = False
        self.busy_timeout = float(busy_timeout)
        """Seconds a write waits for another process's write lock before it counts as
        failed (SQLite's busy handler)."""
        self._busy_ms = int(busy_timeout * 1000)
        self._inline = sync in _INLINE_SYNC
        # The writer's connection waits for locks and checkpoints (the database thread's
        # settings), or neither (the loop's); and how many batches ran on the loop since
        # the database thread last had one.
        self._waits = True
        self._inline_run = 0
        self._failure: tuple[StoreError, float] | None = None
        self._give_up: asyncio.Event | None = None
        self._writer: ThreadedConnection | None = None
        self._reader: ThreadedConnection | None = None
        self._pending: list[Job] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self._observe: Callable[[float, int], None] | None = None
        self._histories = Histories(self._read_histories)

    # -- outside an opened store -------------------------------------------

    @staticmethod
    def inspect(path: str | os.PathLike[str], *, full: bool = False) -> integrity.DatabaseReport:
        """A read-only look at the database file `path` (what `db check` prints): its
        integrity (`quick_check`, or `integrity_check` if `full`), schema version, journal
        mode and executions per status. Writes nothing, even to a damaged file or one of
        another application or version. Raises StoreError if the file is missing or is not
        an SQLite database."""
        return integrity.inspect_database(path, full=full)

    @staticmethod
    def preflight(
        path: str | os.PathLike[str], check: str = "quick"
    ) -> integrity.DatabaseReport | None:
        """Refuse, before anything is written, a database file that must not be opened:
        DatabaseCorrupt for a damaged file (`check`: "quick" runs `PRAGMA quick_check`,
        "full" `PRAGMA integrity_check`, "none" neither), StoreError for a file that is
        not a durable_engine database or has a newer schema, and for a path that is a
        directory or whose folder does not exist. None if the file does not exist yet
        (opening will create it) or `check` is "none"."""
        return integrity.preflight(path, check)

    @staticmethod
    def vacuum(path: str | os.PathLike[str], check: str = "quick") -> purging.VacuumReport:
        """Hand the free pages of the database file `path` back to the file system
        (what `db vacuum` does): `PRAGMA incremental_vacuum` for a file made with
        incremental auto_vacuum, else a full `VACUUM`, which makes it incremental. Raises
        StoreError for a missing file or one that must not be opened (`preflight`)."""
        integrity.preflight(path, check)
        return purging.vacuum(os.fspath(path))

    @staticmethod
    def backup(
        path: str | os.PathLike[str], target: str | os.PathLike[str], *, overwrite: bool = False
    ) -> backups.BackupReport:
        """Copy the database file `path` into the new file `target` with SQLite's online
        backup (what `db backup` does): a consistent snapshot, taken while workers write,
        checked with `PRAGMA quick_check` and renamed into place. Raises StoreError if
        `target` exists (unless `overwrite`) or the copy cannot be written."""
        return backups.backup(path, target, overwrite=overwrite)

    def check(self) -> integrity.DatabaseReport | None:
        """Check the file now as opening would (`check_on_open`), writing nothing; the
        next `open` does not check it again. Raises what `preflight` raises."""
        report = integrity.preflight(self.path, self.check_on_open) if not self.memory else None
        self._checked = True
        return report

    @staticmethod
    def set_persistence_hook(
        hook: crashpoints.PersistenceHook | None,
    ) -> crashpoints.PersistenceHook | None:
        """For tests: call `hook("before commit")` and `hook("after commit")` around each
        transaction of the writer, on the database thread, in every store of the process
        (None: no hook, the default). Returns the hook it replaces. Crash tests end the
        process from it at a chosen point. While a hook is installed, no batch is
        applied on the event loop's thread, so a hook that waits holds up only the
        database thread, as a slow disk would."""
        return crashpoints.install(hook)

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        self._closing = False  # a store may be opened again after it was closed
        register_adapters()
        checked, self._checked = self._checked, False
        if not checked and not self.memory:
            # In a thread: a check reads the whole file, and the loop serves others meanwhile.
            await in_own_thread(integrity.preflight, self.path, self.check_on_open)
        if self.read_only:
            await self._open_read_only()
            return
        if not self.memory:
            create_private_file(self.path)
        try:
            self._writer = await ThreadedConnection.open(self.path)
            self._waits, self._inline_run = True, 0
            await self._writer.run(self._setup, True)
            if self.memory:
                self._reader = self._writer
            else:
                self._reader = await ThreadedConnection.open(self.path)
                await self._reader.run(self._setup, False)
        except sqlite3.DatabaseError as exc:
            await self._close_connections()
            if is_transient(exc):  # locked, full, I/O error: say which, not "corrupt"
                error = store_error(self.path, exc)
                raise type(error)(f"{self.path} cannot be opened: {error}") from exc
            hint = open_hint(exc)
            raise StoreError(
                f"{self.path} cannot be opened as a durable_engine database: {exc} ({hint})"
            ) from exc
        except BaseException:
            await self._close_connections()
            raise
        self._failure = None
        self._give_up = asyncio.Event()
        self._writer_task = asyncio.create_task(self._write_loop(), name="durable-writer")

    async def _open_read_only(self) -> None:
        if self.memory:
            raise StoreError("an in-memory database cannot be opened read-only")
        try:
            self._reader = await ThreadedConnection.open(self.path, integrity.connect_read_only)
            await self._reader.run(self._setup_read_only)
        except sqlite3.DatabaseError as exc:
            await self._close_connections()
            error = integrity.unusable(self.path, exc)
            raise error from exc
        except BaseException:
            await self._close_connections()
            raise
        self._failure = None

    def _setup_read_only(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        found, reason = read_version(conn)
        if reason is not None:
            raise not_ours_error(self.path, reason)
        if found == 0:
            raise StoreError(
                f"{self.path} holds no durable_engine data yet: `start` or a worker makes "
                "a database of it"
            )
        if found != SCHEMA_VERSION:
            newer = found > SCHEMA_VERSION
            raise StoreError(
                f"{self.path} has schema version {found}, and this version of "
                f"durable_engine reads {SCHEMA_VERSION}: "
                + (
                    "upgrade to read it"
                    if newer
                    else "bring it up to date first (`durable-engine db migrate`, or start "
                    "a worker), as reading it here writes nothing"
                )
            )
        conn.execute("PRAGMA query_only = 1")

    def _setup(self, conn: sqlite3.Connection, write: bool) -> None:
        # Functions and virtual tables named in the schema (a planted trigger, view or
        # default) are not run: nothing in a file we did not make runs as our code.
        conn.execute("PRAGMA trusted_schema = OFF")
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
            if write and found == 0:
                # A new file: space freed by a purge can then be handed back to the
                # file system a page at a time (`db vacuum`). SQLite takes this only
                # before the first table, and before the switch to WAL writes the header.
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            use_wal(conn)
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        if write:
            migrate(conn)
        else:
            conn.execute("PRAGMA query_only = 1")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._closing = True
            if self._give_up is not None:
                self._give_up.set()  # a batch waiting to be tried again is failed
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
        if self.read_only and self._reader is not None:
            raise StoreError(f"{self.path} was opened read-only: nothing can be written to it here")
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

    def observe_commits(self, observer: Callable[[float, int], None] | None) -> None:
        """Call `observer(seconds, writes)` after each transaction the writer commits
        (its time from hand-over to the database thread until committed, and how many
        queued writes it carried); None stops it."""
        self._observe = observer

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
        retained: list[Job] = []  # the jobs of a batch that failed transiently
        waiting_since: dict[int, float] = {}  # id(future) of a retained call: since when
        failures = 0
        while True:
            if not self._pending and not retained:
                if self._closing:
                    break
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            jobs, self._pending = retained + self._pending, []
            taken_at = loop.time()
            observe = self._observe
            began = time.perf_counter() if observe is not None else 0.0
            try:
                if (
                    self._inline
                    and self._inline_run < _INLINE_RUN
                    and crashpoints.hook is None
                    and not retained
                    and _small(jobs)
                    and writer.idle
                ):
                    here = self._apply_here(writer, jobs)
                    outcomes = await writer.run(self._apply_waiting, jobs) if here is None else here
                else:
                    outcomes = await writer.run(self._apply_waiting, jobs)
            except Exception as exc:
                error = self._error(exc)
                if not isinstance(error, StoreError):
                    error = StoreError(f"write failed: {exc}")
                if is_transient(exc) and not self._closing:
                    self._failing(error)
                    retained = self._keep(jobs, error, waiting_since, taken_at, loop.time())
                    await self._pause(min(_BACKOFF_FIRST * 2**failures, _BACKOFF_MAX))
                    failures += 1
                    continue
                retained, failures = [], 0
                waiting_since.clear()
                for future, _, _, _ in jobs:
                    if not future.done():
                        future.set_exception(error)
                self._pending = fail_later_writes(self._pending, jobs, error)
                continue
            retained, failures = [], 0
            waiting_since.clear()
            self._recovered()
            if observe is not None:
                observe(time.perf_counter() - began, len(jobs))
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

    def _apply_here(self, writer: ThreadedConnection, jobs: list[Job]) -> list[Outcome] | None:
        """Apply `jobs` on this thread if the write lock is free at once; None if it was
        not (or on any transient failure): the database thread applies them, as usual."""
        try:
            return writer.here(self._apply_now, jobs)
        except Exception as exc:
            if not is_transient(exc):
                raise
        return None

    def _apply_now(self, conn: sqlite3.Connection, jobs: list[Job]) -> list[Outcome]:
        """`apply_batch` on the loop's thread: neither waiting for a lock nor checkpointing."""
        if self._waits:
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._waits = False
        self._inline_run += 1
        return apply_batch(conn, jobs)

    def _apply_waiting(self, conn: sqlite3.Connection, jobs: list[Job]) -> list[Outcome]:
        """`apply_batch` on the database thread, as long as a lock takes, checkpointing."""
        if not self._waits:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT}")
            self._waits = True
        self._inline_run = 0
        return apply_batch(conn, jobs)

    def _keep(
        self,
        jobs: list[Job],
        error: StoreError,
        waiting_since: dict[int, float],
        taken_at: float,
        now: float,
    ) -> list[Job]:
        """The jobs of a batch that failed transiently that are tried again: every commit
        (an execution's checkpoint waits for the store, however long it takes), and each
        call from outside (`start`, a claim, a heartbeat) until it has waited the busy
        timeout, when it fails with `error`. A call no one awaits any more is dropped."""
        kept: list[Job] = []
        for job in jobs:
            future, fn = job[0], job[1]
            if fn is None:
                kept.append(job)
                continue
            if future.done():
                continue
            since = waiting_since.setdefault(id(future), taken_at)
            if now - since >= self.busy_timeout:
                del waiting_since[id(future)]
                future.set_exception(error)
            else:
                kept.append(job)
        return kept

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` before trying a failed batch again, or until the store closes."""
        assert self._give_up is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._give_up.wait()

    def _failing(self, error: StoreError) -> None:
        """Writes failed with `error`: remember it and since when, and say so once per
        kind of error."""
        previous = self._failure
        since = time.time() if previous is None else previous[1]
        self._failure = (error, since)
        if previous is None or type(previous[0]) is not type(error):
            _logger.warning(
                "database writes are failing (%s): %s; they are tried again until they "
                "succeed, and no execution fails for it",
                type(error).__name__,
                error,
            )

    def _recovered(self) -> None:
        if self._failure is not None:
            error, since = self._failure
            self._failure = None
            _logger.warning(
                "database writes succeed again, after failing for %.1f s (%s)",
                max(time.time() - since, 0.0),
                type(error).__name__,
            )

    def write_failure(self) -> tuple[StoreError, float] | None:
        """The error the store's writes are failing with now, and since when (a Unix
        timestamp of the first failure in a row); None while writes succeed."""
        return self._failure

    def _error(self, exc: BaseException) -> BaseException:
        return store_error(self.path, exc)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn` to run in the writer's next transaction; the future is its value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue((future, fn, None, None))
        return future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._on(self._reader, fn)

    async def _on(
        self, conn: ThreadedConnection | None, fn: Callable[[sqlite3.Connection], T]
    ) -> T:
        """`fn` run on `conn`'s thread now (not in a write batch), its errors the store's."""
        if conn is None:
            raise StoreError("the store is not open")
        try:
            return await conn.run(fn)
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
        newest_first: bool = False,
        version: int | None = None,
        unfinished: bool = False,
    ) -> list[ExecutionRecord]:
        sql, args = listing_query(
            lambda n: "?",
            status=status,
            function=function,
            parent_id=parent_id,
            name=name,
            limit=limit,
            newest_first=newest_first,
            version=version,
            unfinished=unfinished,
        )

        def read(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            return [execution_from_row(r) for r in conn.execute(sql, args).fetchall()]

        return await self._read(read)

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        return await self._histories.load(execution_id)

    async def _read_histories(self, execution_ids: list[str]) -> dict[str, list[Checkpoint]]:
        def read(conn: sqlite3.Connection) -> dict[str, list[Checkpoint]]:
            rows: list[Any] = []
            for at in range(0, len(execution_ids), _IDS_A_QUERY):
                ids = execution_ids[at : at + _IDS_A_QUERY]
                sql = f"{_HISTORIES} ({', '.join('?' * len(ids))})"
                rows += conn.execute(sql, ids).fetchall()
            return group_rows(execution_ids, [row_to_checkpoint(r) for r in rows])

        return await self._read(read)

    async def load_attempts(self, execution_id: str) -> list[Attempt]:
        def read(conn: sqlite3.Connection) -> list[Attempt]:
            rows = conn.execute(
                "SELECT op_id, attempt, started_at, ended_at, error FROM attempts"
                " WHERE execution_id = ? ORDER BY op_id, attempt",
                (execution_id,),
            ).fetchall()
            return [Attempt(*row) for row in rows]

        return await self._read(read)

    async def set_trace_context(self, execution_id: str, trace_context: str) -> str | None:
        def job(conn: sqlite3.Connection) -> str | None:
            conn.execute(
                "UPDATE executions SET trace_context = ? WHERE execution_id = ?"
                " AND trace_context IS NULL",
                (trace_context, execution_id),
            )
            row = conn.execute(
                "SELECT trace_context FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._write(job)

    async def count_waiting(self, now: float) -> tuple[int, int]:
        def read(conn: sqlite3.Connection) -> tuple[int, int]:
            due, suspended = conn.execute(
                "SELECT COUNT(*) FILTER (WHERE owner IS NULL AND wake_at <= ?),"
                " COUNT(*) FILTER (WHERE status = 'SUSPENDED') FROM executions",
                (now,),
            ).fetchone()
            return int(due), int(suspended)

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
        self,
        worker_id: str,
        functions: Sequence[str],
        now: float,
        limit: int,
        *,
        lease_now: float,
        stale: Mapping[str, float] | None = None,
        expires_at: float | None = None,
    ) -> list[ExecutionRecord]:
        names = json.dumps(list(functions))
        seen = None if stale is None else json.dumps(list(stale.items()))

        def job(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            # Other workers whose lease ran out. Not this one's own row: a worker whose
            # writes stalled past its lease keeps its runs unless another took them over.
            if seen is None:
                conn.execute(
                    "DELETE FROM workers WHERE expires_at <= ? AND worker_id != ?",
                    (lease_now, worker_id),
                )
            else:
                if expires_at is None:
                    mine = conn.execute("SELECT 1 FROM workers WHERE worker_id = ?", (worker_id,))
                    held = mine.fetchone() is not None
                else:  # a heartbeat with the claim
                    held = (
                        conn.execute(
                            "UPDATE workers SET expires_at = ? WHERE worker_id = ?",
                            (expires_at, worker_id),
                        ).rowcount
                        == 1
                    )
                if not held:
                    raise WorkerGone(f"worker {worker_id!r} has no row: it must rejoin")
                # Only those this claimer saw keep one heartbeat for a full lease.
                conn.execute(
                    "DELETE FROM workers WHERE expires_at <= ? AND worker_id != ?"
                    " AND EXISTS (SELECT 1 FROM json_each(?) s WHERE"
                    " s.value ->> 0 = workers.worker_id AND s.value ->> 1 = workers.expires_at)",
                    (lease_now, worker_id, seen),
                )
            # Pick first, then update: the previous owner tells a takeover from a claim.
            picked = conn.execute(
                """
                SELECT execution_id, owner FROM executions
                WHERE owner IS NULL AND wake_at <= :now
                  AND function || '@' || version IN (SELECT value FROM json_each(:functions))
                UNION
                SELECT execution_id, owner FROM executions
                WHERE owner IS NOT NULL AND owner != :worker_id
                  AND status IN ('RUNNING', 'SUSPENDED')
                  AND function || '@' || version IN (SELECT value FROM json_each(:functions))
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
                    wake_at = NULL, error = NULL
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
                " AND function || '@' || version IN (SELECT value FROM json_each(?))",
                (names,),
            ).fetchone()
            return None if row is None else row[0]

        return await self._read(read)

    async def retry_blocked(self, functions: Sequence[str], now: float) -> int:
        names = json.dumps(list(functions))
        return await self._write(lambda conn: endings.retry_blocked(conn, names, now))

    async def resume_execution(self, execution_id: str, now: float) -> ExecutionStatus:
        return await self._write(lambda conn: endings.resume(conn, execution_id, now))

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        """Stop an unfinished execution for good; returns its status if it had already ended."""
        return await self._write(lambda conn: endings.stop(conn, execution_id, now, error))

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        """End the execution as TIMED_OUT if `fence` still holds it, else raise LeaseLost."""
        await self._write(lambda conn: endings.time_out(conn, fence, now, error))

    async def continue_as_new(
        self, fence: Fence, input: bytes | None, now: float, *, keep_history: bool
    ) -> ExecutionRecord:
        return await self._write(
            lambda conn: runs.continue_as_new(conn, fence, input, now, keep_history)
        )

    async def load_kept_operations(self, execution_id: str, run_number: int) -> list[Checkpoint]:
        return await self._read(lambda conn: runs.kept_operations(conn, execution_id, run_number))

    async def kept_runs(self, execution_id: str) -> list[int]:
        return await self._read(lambda conn: runs.kept_runs(conn, execution_id))

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

    async def send_event(
        self, execution_id: str, name: str, payload: bytes | None, now: float
    ) -> str | None:
        return await self._write(lambda conn: events.send(conn, execution_id, name, payload, now))

    async def receive_event(self, fence: Fence, operation: Checkpoint, now: float) -> Checkpoint:
        return await self._write(lambda conn: events.receive(conn, fence, operation, now))

    async def time_out_event(
        self, fence: Fence, op_id: str, now: float, error: bytes
    ) -> Checkpoint | None:
        return await self._write(lambda conn: events.time_out(conn, fence, op_id, now, error))

    # -- schedules ------------------------------------------------------------

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        return await self._write(lambda conn: schedules.put(conn, schedule))

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        return await self._read(lambda conn: schedules.get(conn, name))

    async def list_schedules(self) -> list[ScheduleRecord]:
        return await self._read(schedules.listed)

    async def set_schedule_paused(
        self, name: str, paused: bool, next_fire_at: float | None
    ) -> ScheduleRecord:
        return await self._write(
            lambda conn: schedules.set_paused(conn, name, paused, next_fire_at)
        )

    async def delete_schedule(self, name: str) -> None:
        await self._write(lambda conn: schedules.delete(conn, name))

    async def due_schedules(
        self, functions: Sequence[str], now: float | None
    ) -> list[ScheduleRecord]:
        return await self._read(lambda conn: schedules.due(conn, functions, now))

    async def fire_schedule(
        self,
        name: str,
        expected: float,
        next_fire_at: float,
        executions: Sequence[NewExecution],
        now: float,
    ) -> list[tuple[ExecutionRecord, bool]] | None:
        return await self._write(
            lambda conn: schedules.fire(conn, name, expected, next_fire_at, executions, now)
        )

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None:
        def read(conn: sqlite3.Connection) -> Checkpoint | None:
            row = conn.execute(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ? AND op_id = ?",
                (execution_id, op_id),
            ).fetchone()
            return None if row is None else row_to_checkpoint(row)

        return await self._read(read)

    async def find_purgeable(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        wanted = None if statuses is None else [str(s) for s in statuses]
        return await self._read(
            lambda conn: purging.find(conn, ended_before, wanted, function, limit)
        )

    async def purge_executions(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int,
    ) -> list[str]:
        wanted = None if statuses is None else [str(s) for s in statuses]
        return await self._write(
            lambda conn: purging.purge(conn, ended_before, wanted, function, limit)
        )

    def listen(self, on_change: Callable[[Change], None]) -> bool:
        # SQLite has no notifications; `data_version` is nearly free to poll.
        return False

    async def data_version(self) -> int:
        # Read on the writer's connection: its data_version moves only for commits made
        # by other connections, i.e. other processes, never for this store's own writes.
        return await self._on(self._writer or self._reader, _data_version)


def _small(jobs: list[Job]) -> bool:
    """Few enough writes, each a commit or a creation, to apply on the loop's thread."""
    return len(jobs) <= _INLINE_MOST and all(
        job[1] is None or type(job[1]) is CreateExecution for job in jobs
    )


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])
