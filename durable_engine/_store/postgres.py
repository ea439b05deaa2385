"""The PostgreSQL store: one writer connection doing group commit, a pool for reads.

Every write goes through one list of pending jobs, as in the SQLite store: the writer
task takes whatever has gathered and applies it in one transaction (`pg_batch`), then
resolves each caller's future. Reads go to a pool of connections, so they do not queue
behind commits, and other processes' writers run beside this one: fenced writes lock
their executions' rows, and claims skip locked rows (`FOR UPDATE SKIP LOCKED`).

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
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus
from . import pg_writes
from .base import Fence, Mutation, NewExecution, WorkerInfo
from .pg_batch import CommitUncertain, Job, Outcome, apply_batch, is_disconnect, store_error
from .pg_clock import checkpoint_out, mutation_in, new_in, record_out
from .pg_rows import EXEC_COLUMNS, OP_COLUMNS, PgCreate, execution_from_row, row_to_checkpoint
from .pg_schema import migrate, quote_ident

if TYPE_CHECKING:
    import asyncpg

    from .pg_rows import Conn

__all__ = ["DEFAULT_SCHEMA", "PostgresStore", "parse_url"]

T = TypeVar("T")

DEFAULT_SCHEMA = "durable"
"""The PostgreSQL schema the tables go in when the URL names none."""

_INSTALL_HINT = 'the PostgreSQL store needs asyncpg: pip install "durable-engine[postgres]"'
_RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0)
"""Waits between attempts when the server is unreachable: about 30 s in all."""


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise StoreError(_INSTALL_HINT) from None
    return asyncpg


def parse_url(url: str) -> tuple[str, str]:
    """`(dsn, schema)` of a `postgresql://` URL: its `?schema=` taken out (default
    `durable`), the rest passed to the driver as it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL (postgresql://...): {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not schema:
        raise ValueError(f"?schema= names no schema in {url!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"], safe="/:")
    return urlunsplit(parts._replace(query=rest)), schema


def _shown(dsn: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


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
        self.shown = _shown(dsn)
        """The URL without its password, for messages."""
        self.pool_size = pool_size
        self._timeout = connect_timeout
        self._writer: asyncpg.Connection[Any] | None = None
        self._pool: asyncpg.Pool[Any] | None = None
        self._pending: list[Job] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self._own_commits = 0
        self._fixed_offset = clock_offset
        self.clock_offset = clock_offset or 0.0
        """Seconds to add to this host's wall clock to read the server's (see the module):
        measured as the store opens, unless given as `clock_offset`."""

    # -- lifecycle ---------------------------------------------------------

    async def connect(self) -> asyncpg.Connection[Any]:
        """A new connection to the database, its search_path on the store's schema, apart
        from the store's own (for tools: copying, migrating). StoreError if unreachable."""
        driver = _asyncpg()
        try:
            conn: asyncpg.Connection[Any] = await driver.connect(
                self.dsn, timeout=self._timeout, **self._settings()
            )
        except (OSError, driver.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.shown}: {exc}") from exc
        return conn

    def _settings(self) -> dict[str, Any]:
        return {
            "server_settings": {
                "search_path": quote_ident(self.schema),
                "application_name": "durable_engine",
            }
        }

    async def open(self) -> None:
        self._closing = False
        driver = _asyncpg()
        self._writer = await self.connect()
        try:
            await migrate(self._writer, self.schema)
            if self._fixed_offset is None:
                self.clock_offset = await _measure_offset(self._writer)
            self._pool = await driver.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self._timeout,
                **self._settings(),
            )
        except BaseException as exc:
            await self._close_connections()
            if isinstance(exc, driver.PostgresError | OSError):
                raise StoreError(f"PostgreSQL at {self.shown}: {exc}") from exc
            raise
        self._own_commits = 0
        self._writer_task = asyncio.create_task(self._write_loop(), name="durable-writer")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._closing = True
            self._wake_writer()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
            self._writer_task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        writer, self._writer = self._writer, None
        pool, self._pool = self._pool, None
        if writer is not None:
            try:
                await writer.close(timeout=5)
            except Exception:
                writer.terminate()
        if pool is not None:
            try:
                await pool.close()
            except Exception:
                pool.terminate()

    # -- the writer --------------------------------------------------------

    def _queue(self, job: Job) -> None:
        if self._writer_task is None or self._closing:
            raise StoreError("the store is not open")
        self._pending.append(job)
        if self._wakeup is not None:
            self._wake_writer()

    def _wake_writer(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _write_loop(self) -> None:
        try:
            await self._write_jobs()
        finally:
            self._closing = True
            jobs, self._pending = self._pending, []
            for future, _, _, _ in jobs:
                if not future.done():
                    future.set_exception(StoreError("the store closed before this write"))

    async def _write_jobs(self) -> None:
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
                outcomes, wrote = await self._apply(jobs)
            except Exception as exc:
                error = store_error(exc)
                if not isinstance(error, StoreError):
                    error = StoreError(f"write failed: {exc}")
                for future, _, _, _ in jobs:
                    if not future.done():
                        future.set_exception(error)
                continue
            if wrote:
                # After the commit and before anyone hears of it: whoever sees the counter
                # move can read what moved it.
                with contextlib.suppress(Exception):
                    await (await self._usable_writer()).fetchval("SELECT nextval('commits')")
                    self._own_commits += 1
            for future, ok, value in outcomes:
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(store_error(value))
            for job in jobs:
                future = job[0]
                if not future.done():
                    future.set_result(None)

    async def _apply(self, jobs: list[Job]) -> tuple[list[Outcome], bool]:
        """Apply `jobs` in one transaction. A connection lost before the commit (a server
        restarting, a network cut) is opened again and the batch applied anew; one lost
        during the commit is opened again and the server asked whether it committed."""
        for delay in (*_RECONNECT_DELAYS, None):
            writer = await self._usable_writer()
            try:
                return await apply_batch(writer, jobs)
            except CommitUncertain as exc:
                self._drop_writer()
                if exc.xid is None or delay is None:
                    raise
                if await self._committed(exc.xid):
                    return exc.outcomes, exc.wrote
            except Exception as exc:
                self._drop_writer()  # whatever state it was left in, start afresh
                if not is_disconnect(exc) or delay is None:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _committed(self, xid: int) -> bool:
        """Whether the transaction `xid` committed (asked once the server answers)."""
        for delay in (*_RECONNECT_DELAYS, None):
            try:
                status = await (await self._usable_writer()).fetchval("SELECT txid_status($1)", xid)
                return bool(status == "committed")
            except Exception as exc:
                self._drop_writer()
                if not is_disconnect(exc) or delay is None:
                    raise store_error(exc) from exc
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.terminate()

    async def _usable_writer(self) -> asyncpg.Connection[Any]:
        """The writer's connection, opened again (with backoff) if it was lost."""
        writer = self._writer
        if writer is not None and not writer.is_closed():
            return writer
        for delay in (*_RECONNECT_DELAYS, None):
            try:
                self._writer = await self.connect()
                return self._writer
            except StoreError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue `fn` to run in the writer's next transaction; the future is its value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue((future, fn, None, None))
        return future

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """`fn` run on a pooled connection, its errors the store's."""
        pool = self._pool
        if pool is None or self._writer_task is None:
            raise StoreError("the store is not open")
        for delay in (*_RECONNECT_DELAYS, None):
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
    ) -> list[ExecutionRecord]:
        where: list[str] = []
        args: list[Any] = []
        filters = {"status": status, "function": function, "parent_id": parent_id, "name": name}
        for column, value in filters.items():
            if value is not None:
                args.append(str(value))
                where.append(f"{column} = ${len(args)}")
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

        async def read(conn: Conn) -> list[ExecutionRecord]:
            return [
                self._record(execution_from_row(tuple(r))) for r in await conn.fetch(sql, *args)
            ]

        return await self._read(read)

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        async def read(conn: Conn) -> list[Checkpoint]:
            rows = await conn.fetch(
                f"SELECT {OP_COLUMNS} FROM operations WHERE execution_id = $1", execution_id
            )
            return [self._checkpoint(row_to_checkpoint(tuple(r))) for r in rows]

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
                expires_at + self.clock_offset,
            )

        await self._write(job)

    async def renew_worker(self, worker_id: str, expires_at: float) -> bool:
        async def job(conn: Conn) -> bool:
            status = await conn.execute(
                "UPDATE workers SET expires_at = $1 WHERE worker_id = $2",
                expires_at + self.clock_offset,
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

        await self._write(job)

    async def reap_workers(self, worker_ids: Sequence[str]) -> None:
        ids = list(worker_ids)

        async def job(conn: Conn) -> None:
            await conn.execute("DELETE FROM workers WHERE worker_id = ANY($1::text[])", ids)

        await self._write(job)

    async def list_workers(self) -> list[tuple[WorkerInfo, float]]:
        offset = self.clock_offset

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
        self, worker_id: str, functions: Sequence[str], now: float, limit: int, *, lease_now: float
    ) -> list[ExecutionRecord]:
        names = list(functions)
        off = self.clock_offset
        records = await self._write(
            lambda conn: pg_writes.claim(conn, worker_id, names, now + off, limit, lease_now + off)
        )
        return [record_out(r, off) for r in records] if off else records

    async def next_wake_at(self, functions: Sequence[str]) -> float | None:
        names = list(functions)

        async def read(conn: Conn) -> float | None:
            value = await conn.fetchval(
                "SELECT MIN(wake_at) FROM executions WHERE owner IS NULL"
                " AND wake_at IS NOT NULL AND function = ANY($1::text[])",
                names,
            )
            return None if value is None else float(value) - self.clock_offset

        return await self._read(read)

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        now += self.clock_offset
        return await self._write(lambda conn: pg_writes.stop(conn, execution_id, now, error))

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        now += self.clock_offset
        await self._write(lambda conn: pg_writes.time_out(conn, fence, now, error))

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

        return await self._read(read) - self._own_commits


async def _measure_offset(conn: Conn) -> float:
    """Seconds from this host's wall clock to the server's, in eighths of a second (sums
    of those with instants are exact), from the quickest of three round trips."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        before = time.time()
        server = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
        after = time.time()
        sample = (after - before, server - (before + after) / 2)
        if best is None or sample[0] < best[0]:
            best = sample
    assert best is not None
    return round(best[1] * 8) / 8 + 0.0  # + 0.0: -0.0 becomes 0.0
