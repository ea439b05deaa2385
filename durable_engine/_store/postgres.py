"""The PostgreSQL store: one writer connection doing group commit, a pool for reads.

Every write goes to the writer (`pg_writer`), which applies what has gathered in one
transaction (`pg_batch`), as the SQLite store's writer does. Reads go to a pool of
connections, so they do not queue behind commits, and other processes' writers run
beside this one: fenced writes lock their executions' rows, and claims skip locked
rows (`FOR UPDATE SKIP LOCKED`).

**Clocks.** Leases and timers are judged by the database server's clock. When the store
opens it measures how far the server's clock is ahead of this host's wall clock
(`clock_timestamp()`, in eighths of a second) and stores every instant on the server's
clock (see `pg_clock`): hosts whose clocks disagree by seconds neither steal live
leases nor fire each other's timers early. Hosts within 62 ms of the server, and so
every test on one machine, get an offset of 0: instants go in and out unchanged,
whichever `Clock` (a virtual one, in tests) the engine runs on.

asyncpg is imported when a store opens, so the package imports without it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus
from . import pg_events, pg_purging, pg_runs, pg_schedules, pg_writes
from .base import Attempt, Change, Fence, Mutation, NewExecution, ScheduleRecord, WorkerInfo
from .executions import listing_query
from .histories import Histories, group_rows
from .pg_batch import Job, is_disconnect, store_error
from .pg_clock import (
    attempt_out,
    checkpoint_in,
    checkpoint_out,
    mutation_in,
    new_in,
    record_out,
    schedule_in,
)
from .pg_connect import DEFAULT_SCHEMA, asyncpg_module, measure_offset, parse_url, shown_url
from .pg_notify import Listener, channel_for, note
from .pg_rows import EXEC_COLUMNS, OP_COLUMNS, PgCreate, execution_from_row, row_to_checkpoint
from .pg_schema import migrate, quote_ident
from .pg_writer import RECONNECT_DELAYS, Writer

if TYPE_CHECKING:
    import asyncpg

    from .pg_rows import Conn

__all__ = ["DEFAULT_SCHEMA", "PostgresStore", "parse_url"]

T = TypeVar("T")


class PostgresStore:
    """The `Store` on a PostgreSQL database: `PostgresStore("postgresql://user@host/db")`.

    `pool_size` connections at most serve reads; one more is the writer's. `?schema=NAME`
    in the URL (or `schema=`) puts the tables in that PostgreSQL schema (default
    `durable`), created on first use."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        clock_offset: float | None = None,
    ) -> None:
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise ValueError(f"pool_size must be an int of at least 1, not {pool_size!r}")
        self.dsn, url_schema = parse_url(dsn)
        self.schema = schema or url_schema
        self.path = dsn
        """The URL as given."""
        self.shown = shown_url(dsn)
        """The URL without its password, for messages."""
        self.pool_size = pool_size
        self._timeout = connect_timeout
        self._writer: Writer | None = None
        self._histories = Histories(self._read_histories)
        self._listener: Listener | None = None
        self.channel = channel_for(self.schema)
        """Where this store's writes are announced (NOTIFY) and other stores' heard."""
        self._token = os.urandom(4).hex()
        """Signs this store's notifications, so that it does not hear its own."""
        self._pool: asyncpg.Pool[Any] | None = None
        self._fixed_offset = clock_offset
        self.clock_offset = clock_offset or 0.0
        """Seconds to add to the engine's clock (`use_clock`; this host's wall clock by
        default) to read the server's (see the module): measured as the store opens,
        unless given as `clock_offset`."""
        self.lease_offset = self.clock_offset
        """The same for this host's wall clock, which leases are kept on: it differs from
        `clock_offset` only for an engine whose clock is not the wall clock."""
        self._now: Callable[[], float] = time.time

    def use_clock(self, now: Callable[[], float]) -> None:
        """Read instants of timers and deadlines on `now` (the engine's clock) before
        the store opens; leases stay on this host's wall clock."""
        self._now = now

    # -- lifecycle ---------------------------------------------------------

    async def connect(self, purpose: str = "") -> asyncpg.Connection[Any]:
        """A new connection to the database, its search_path on the store's schema, apart
        from the store's own (for tools: copying, migrating), its application_name
        `durable_engine` and `purpose`. StoreError if unreachable."""
        driver = asyncpg_module()
        try:
            conn: asyncpg.Connection[Any] = await driver.connect(
                self.dsn, timeout=self._timeout, **self._settings(purpose)
            )
        except Exception as exc:
            if isinstance(exc, driver.PostgresError) or is_disconnect(exc):
                raise StoreError(f"cannot connect to PostgreSQL at {self.shown}: {exc}") from exc
            raise
        return conn

    def _settings(self, purpose: str = "") -> dict[str, Any]:
        return {
            "server_settings": {
                "search_path": quote_ident(self.schema),
                "application_name": f"durable_engine {purpose}".strip(),
                # A process stopped inside a transaction (SIGSTOP, a VM paused) would
                # hold its row locks, a worker row among them, until it ran again, and
                # the workers taking over from it would wait on them: the server ends
                # such a session instead, and the store reconnects when it runs again.
                "idle_in_transaction_session_timeout": "5000",
            }
        }

    async def open(self) -> None:
        driver = asyncpg_module()
        conn = await self.connect()
        try:
            await migrate(conn, self.schema)
            if self._fixed_offset is None:
                self.lease_offset = await measure_offset(conn)
                self.clock_offset = (
                    self.lease_offset
                    if self._now is time.time
                    else await measure_offset(conn, self._now)
                )
            self._pool = await driver.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self._timeout,
                **self._settings(),
            )
        except BaseException as exc:
            conn.terminate()
            # A server restarting meanwhile is a StoreError too, not asyncpg's own.
            if isinstance(exc, driver.PostgresError) or is_disconnect(exc):
                raise StoreError(f"PostgreSQL at {self.shown}: {exc}") from exc
            raise
        self._writer = Writer(self.connect, conn, self.channel, self._token)

    def listen(self, on_change: Callable[[Change], None]) -> bool:
        """LISTEN on a connection of its own (application_name `durable_engine listen`),
        opened again with backoff when lost; see `Store.listen`."""
        if self._writer is None:
            raise StoreError("the store is not open")
        if self._listener is None:
            self._listener = Listener(
                lambda: self.connect("listen"),
                self.channel,
                self._token,
                lambda: self.clock_offset,
                on_change,
            )
        return True

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        if writer is not None:
            await writer.close()
        if pool is not None:
            try:
                await pool.close()
            except Exception:
                pool.terminate()

    # -- the writer and the readers ------------------------------------------

    def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue `fn` to run in the writer's next transaction; the future is its value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue((future, fn, None, None))
        return future

    def _queue(self, job: Job) -> None:
        if self._writer is None:
            raise StoreError("the store is not open")
        self._writer.queue(job)

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """`fn` run on a pooled connection, its errors the store's."""
        pool = self._pool
        if pool is None or self._writer is None:
            raise StoreError("the store is not open")
        for delay in (*RECONNECT_DELAYS, None):
            try:
                async with pool.acquire() as conn:
                    try:
                        return await fn(conn)
                    except Exception as exc:
                        if is_disconnect(exc):  # the pool replaces it
                            conn.terminate()
                        raise
            except Exception as exc:
                if delay is None or not is_disconnect(exc):
                    raise store_error(exc) from exc
            await asyncio.sleep(delay)  # a read is safe to make again
        raise AssertionError("unreachable")  # pragma: no cover

    # -- executions --------------------------------------------------------

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        off = self.clock_offset
        if not off:
            return await self._write(PgCreate(new))
        record, created = await self._write(PgCreate(new_in(new, off)))
        return record_out(record, off), created

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        async def read(conn: Conn) -> ExecutionRecord | None:
            row = await conn.fetchrow(
                f"SELECT {EXEC_COLUMNS} FROM executions WHERE execution_id = $1", execution_id
            )
            return None if row is None else self._record(execution_from_row(tuple(row)))

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
            lambda n: f"${n}",
            status=status,
            function=function,
            parent_id=parent_id,
            name=name,
            limit=limit,
            newest_first=newest_first,
            version=version,
            unfinished=unfinished,
        )

        async def read(conn: Conn) -> list[ExecutionRecord]:
            return [
                self._record(execution_from_row(tuple(r))) for r in await conn.fetch(sql, *args)
            ]

        return await self._read(read)

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        return await self._histories.load(execution_id)

    async def _read_histories(self, execution_ids: list[str]) -> dict[str, list[Checkpoint]]:
        async def read(conn: Conn) -> dict[str, list[Checkpoint]]:
            rows = await conn.fetch(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = ANY($1::text[])",
                execution_ids,
            )
            found = [self._checkpoint(row_to_checkpoint(tuple(r))) for r in rows]
            return group_rows(execution_ids, found)

        return await self._read(read)

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None:
        async def read(conn: Conn) -> Checkpoint | None:
            row = await conn.fetchrow(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = $1 AND op_id = $2",
                execution_id,
                op_id,
            )
            return None if row is None else self._checkpoint(row_to_checkpoint(tuple(row)))

        return await self._read(read)

    async def load_attempts(self, execution_id: str) -> list[Attempt]:
        offset = self.clock_offset

        async def read(conn: Conn) -> list[Attempt]:
            rows = await conn.fetch(
                "SELECT op_id, attempt, started_at, ended_at, error FROM attempts"
                " WHERE execution_id = $1 ORDER BY op_id, attempt",
                execution_id,
            )
            attempts = [Attempt(*r) for r in rows]
            return [attempt_out(a, offset) for a in attempts] if offset else attempts

        return await self._read(read)

    async def set_trace_context(self, execution_id: str, trace_context: str) -> str | None:
        async def job(conn: Conn) -> str | None:
            value = await conn.fetchval(
                "UPDATE executions SET trace_context = COALESCE(trace_context, $1)"
                " WHERE execution_id = $2 RETURNING trace_context",
                trace_context,
                execution_id,
            )
            return None if value is None else str(value)

        return await self._write(job)

    async def count_waiting(self, now: float) -> tuple[int, int]:
        now += self.clock_offset

        async def read(conn: Conn) -> tuple[int, int]:
            row = await conn.fetchrow(
                "SELECT COUNT(*) FILTER (WHERE owner IS NULL AND wake_at <= $1),"
                " COUNT(*) FILTER (WHERE status = 'SUSPENDED') FROM executions",
                now,
            )
            assert row is not None  # an aggregate has one row
            return int(row[0]), int(row[1])

        return await self._read(read)

    def commit(self, fence: Fence, mutation: Mutation) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.clock_offset:
            mutation = mutation_in(mutation, self.clock_offset)
        self._queue((future, None, fence, mutation))
        return future

    # -- workers and claims --------------------------------------------------

    async def register_worker(self, worker: WorkerInfo, expires_at: float) -> None:
        async def job(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO workers (worker_id, host, pid, started_at, expires_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (worker_id) DO UPDATE SET"
                " host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = EXCLUDED.started_at,"
                " expires_at = EXCLUDED.expires_at",
                worker.worker_id,
                worker.host,
                worker.pid,
                worker.started_at,
                expires_at + self.lease_offset,
            )

        await self._write(job)

    async def renew_worker(self, worker_id: str, expires_at: float) -> bool:
        async def job(conn: Conn) -> bool:
            status = await conn.execute(
                "UPDATE workers SET expires_at = $1 WHERE worker_id = $2",
                expires_at + self.lease_offset,
                worker_id,
            )
            return status == "UPDATE 1"

        return await self._write(job)

    async def remove_worker(self, worker_id: str, release_wake_at: float) -> None:
        async def job(conn: Conn) -> None:
            await conn.execute(
                "UPDATE executions SET status = 'SUSPENDED', owner = NULL,"
                " wake_at = LEAST(wake_at, $1::float8) WHERE owner = $2",
                release_wake_at + self.clock_offset,
                worker_id,
            )
            await conn.execute("DELETE FROM workers WHERE worker_id = $1", worker_id)
            note("due", repr(release_wake_at + self.clock_offset))  # its work is free

        await self._write(job)

    async def reap_workers(self, worker_ids: Sequence[str]) -> None:
        ids = list(worker_ids)

        async def job(conn: Conn) -> None:
            await conn.execute("DELETE FROM workers WHERE worker_id = ANY($1::text[])", ids)

        await self._write(job)

    async def list_workers(self) -> list[tuple[WorkerInfo, float]]:
        offset = self.lease_offset

        async def read(conn: Conn) -> list[tuple[WorkerInfo, float]]:
            rows = await conn.fetch(
                "SELECT worker_id, host, pid, started_at, expires_at FROM workers"
            )
            return [
                (WorkerInfo(worker_id=r[0], host=r[1], pid=r[2], started_at=r[3]), r[4] - offset)
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
        names = list(functions)
        off, lease_off = self.clock_offset, self.lease_offset
        seen = None if stale is None else {w: t + lease_off for w, t in stale.items()}
        expiry = None if expires_at is None else expires_at + lease_off
        records = await self._write(
            lambda conn: pg_writes.claim(
                conn, worker_id, names, now + off, limit, lease_now + lease_off, seen, expiry
            )
        )
        return [record_out(r, off) for r in records] if off else records

    async def next_wake_at(self, functions: Sequence[str]) -> float | None:
        names = list(functions)

        async def read(conn: Conn) -> float | None:
            value = await conn.fetchval(
                "SELECT MIN(wake_at) FROM executions WHERE owner IS NULL"
                " AND wake_at IS NOT NULL AND function || '@' || version = ANY($1::text[])",
                names,
            )
            return None if value is None else float(value) - self.clock_offset

        return await self._read(read)

    def write_failure(self) -> tuple[StoreError, float] | None:
        """While writes fail on a lost connection and are tried again: the latest error
        and since when; None while writes succeed."""
        return None if self._writer is None else self._writer.failure

    async def retry_blocked(self, functions: Sequence[str], now: float) -> int:
        names, now = list(functions), now + self.clock_offset
        return await self._write(lambda conn: pg_writes.retry_blocked(conn, names, now))

    async def resume_execution(self, execution_id: str, now: float) -> ExecutionStatus:
        now += self.clock_offset
        return await self._write(lambda conn: pg_writes.resume(conn, execution_id, now))

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        now += self.clock_offset
        return await self._write(lambda conn: pg_writes.stop(conn, execution_id, now, error))

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        now += self.clock_offset
        await self._write(lambda conn: pg_writes.time_out(conn, fence, now, error))

    async def continue_as_new(
        self, fence: Fence, input: bytes | None, now: float, *, keep_history: bool
    ) -> ExecutionRecord:
        now += self.clock_offset
        record = await self._write(
            lambda conn: pg_runs.continue_as_new(conn, fence, input, now, keep_history)
        )
        return self._record(record)

    async def load_kept_operations(self, execution_id: str, run_number: int) -> list[Checkpoint]:
        async def read(conn: Conn) -> list[Checkpoint]:
            kept = await pg_runs.kept_operations(conn, execution_id, run_number)
            return [self._checkpoint(cp) for cp in kept]

        return await self._read(read)

    async def kept_runs(self, execution_id: str) -> list[int]:
        return await self._read(lambda conn: pg_runs.kept_runs(conn, execution_id))

    async def resolve_callback(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None, now: float
    ) -> tuple[str, str]:
        now += self.clock_offset
        return await self._write(
            lambda conn: pg_writes.resolve_callback(conn, callback_id, status, result, error, now)
        )

    async def heartbeat_callback(self, callback_id: str, now: float) -> tuple[str, str]:
        now += self.clock_offset
        return await self._write(lambda conn: pg_writes.heartbeat_callback(conn, callback_id, now))

    async def callback_function(self, callback_id: str) -> str | None:
        return await self._read(lambda conn: pg_writes.function_of(conn, callback_id))

    async def time_out_callback(
        self, fence: Fence, callback_id: str, op_id: str, now: float, error: bytes
    ) -> Checkpoint:
        now += self.clock_offset
        stored = await self._write(
            lambda conn: pg_writes.time_out_callback(conn, fence, callback_id, op_id, now, error)
        )
        return self._checkpoint(stored)

    # -- events ---------------------------------------------------------------

    async def send_event(
        self, execution_id: str, name: str, payload: bytes | None, now: float
    ) -> str | None:
        now += self.clock_offset
        return await self._write(
            lambda conn: pg_events.send(conn, execution_id, name, payload, now)
        )

    async def receive_event(self, fence: Fence, operation: Checkpoint, now: float) -> Checkpoint:
        off = self.clock_offset
        operation, now = checkpoint_in(operation, off) if off else operation, now + off
        stored = await self._write(lambda conn: pg_events.receive(conn, fence, operation, now))
        return self._checkpoint(stored)

    async def time_out_event(
        self, fence: Fence, op_id: str, now: float, error: bytes
    ) -> Checkpoint | None:
        now += self.clock_offset
        stored = await self._write(lambda conn: pg_events.time_out(conn, fence, op_id, now, error))
        return None if stored is None else self._checkpoint(stored)

    # -- schedules ------------------------------------------------------------

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        schedule = self._schedule_in(schedule)
        stored = await self._write(lambda conn: pg_schedules.put(conn, schedule))
        return self._schedule(stored)

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        stored = await self._read(lambda conn: pg_schedules.get(conn, name))
        return None if stored is None else self._schedule(stored)

    async def list_schedules(self) -> list[ScheduleRecord]:
        return [self._schedule(s) for s in await self._read(pg_schedules.listed)]

    async def set_schedule_paused(
        self, name: str, paused: bool, next_fire_at: float | None
    ) -> ScheduleRecord:
        at = None if next_fire_at is None else next_fire_at + self.clock_offset
        stored = await self._write(lambda conn: pg_schedules.set_paused(conn, name, paused, at))
        return self._schedule(stored)

    async def delete_schedule(self, name: str) -> None:
        await self._write(lambda conn: pg_schedules.delete(conn, name))

    async def due_schedules(
        self, functions: Sequence[str], now: float | None
    ) -> list[ScheduleRecord]:
        names = list(functions)
        at = None if now is None else now + self.clock_offset
        return [
            self._schedule(s)
            for s in await self._read(lambda conn: pg_schedules.due(conn, names, at))
        ]

    async def fire_schedule(
        self,
        name: str,
        expected: float,
        next_fire_at: float,
        executions: Sequence[NewExecution],
        now: float,
    ) -> list[tuple[ExecutionRecord, bool]] | None:
        off = self.clock_offset
        creates = [PgCreate(new_in(new, off) if off else new) for new in executions]
        made = await self._write(
            lambda conn: pg_schedules.fire(
                conn, name, expected, next_fire_at + off, creates, now + off, off
            )
        )
        if made is None or not off:
            return made
        return [(record_out(record, off), created) for record, created in made]

    def _schedule_in(self, schedule: ScheduleRecord) -> ScheduleRecord:
        return schedule_in(schedule, self.clock_offset) if self.clock_offset else schedule

    def _schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        """A schedule read from the database, its instants on this host's clock."""
        return schedule_in(schedule, -self.clock_offset) if self.clock_offset else schedule

    # -- purges ---------------------------------------------------------------

    async def find_purgeable(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        wanted = None if statuses is None else [str(s) for s in statuses]
        before = ended_before + self.clock_offset
        return await self._read(lambda conn: pg_purging.find(conn, before, wanted, function, limit))

    async def purge_executions(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int,
    ) -> list[str]:
        wanted = None if statuses is None else [str(s) for s in statuses]
        before = ended_before + self.clock_offset
        return await self._write(
            lambda conn: pg_purging.purge(conn, before, wanted, function, limit)
        )

    def _record(self, record: ExecutionRecord) -> ExecutionRecord:
        """A record read from the database, its instants on this host's clock."""
        return record_out(record, self.clock_offset) if self.clock_offset else record

    def _checkpoint(self, cp: Checkpoint) -> Checkpoint:
        return checkpoint_out(cp, self.clock_offset) if self.clock_offset else cp

    async def data_version(self) -> int:
        # `commits` is a sequence every writer advances once after each transaction that
        # wrote: less this store's own advances, it moves only for other connections.
        async def read(conn: Conn) -> int:
            value = await conn.fetchval(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM commits"
            )
            return int(value)

        own = 0 if self._writer is None else self._writer.own_commits
        return await self._read(read) - own
