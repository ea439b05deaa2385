"""The `Engine`: the public face of durable execution on one database.

It keeps the registry of durable functions and the engine's lifecycle (`async with
engine:` opens the store, starts the scheduler and the executor), and answers the
public calls: start, run, get, list, stop, send a callback's answer, each handed to
the part that owns it. Running executions is the executor's; finding due work is
the scheduler's; starting and stopping them the starter's; reading them the
reader's; callback answers from outside are `_answers`'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

import serdes as _serdes
from serdes import SerDes

from ._answers import Answers
from ._clock import Clock, SystemClock
from ._config import check_instance, check_int, check_name, check_serdes, to_seconds
from ._converter import ValueConverter
from ._errors import StoreError
from ._executor import Executor
from ._fs_check import check_database_file
from ._health import Health, store_health
from ._inputs import parse_input
from ._models import ExecutionInfo, ExecutionStatus
from ._reading import ExecutionReader
from ._registry import DurableFunction, Registry
from ._retention import Purger, cutoff, ended_statuses
from ._scheduler import Scheduler, new_worker_id
from ._schedules import ScheduleInfo, Schedules
from ._starting import Starter
from ._store import SqliteStore, Store, check_level, location, store_for
from ._telemetry import Telemetry, telemetry_from
from ._views import OperationInfo

__all__ = ["DurableFunction", "Engine", "ExecutionHandle"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
In = TypeVar("In")
Out = TypeVar("Out")

logger = logging.getLogger("durable_engine")


class ExecutionHandle(Generic[Out]):
    """A started execution: its id, its status, and its result (of type Out) once it ends."""

    __slots__ = ("_engine", "execution_id")

    def __init__(self, engine: Engine, execution_id: str) -> None:
        self._engine = engine
        self.execution_id = execution_id

    def __repr__(self) -> str:
        return f"ExecutionHandle({self.execution_id!r})"

    async def status(self) -> ExecutionStatus:
        """The execution's status now, as stored."""
        return (await self._engine.get_execution(self.execution_id)).status

    async def result(self) -> Out:
        """Wait for the execution to end; return its result or raise its error."""
        reader = self._engine._reader
        record, ending = await reader.ended(self.execution_id)
        result: Out = reader.outcome(record, ending)
        return result


class Engine:
    """A durable execution engine on one database: an SQLite file, or a PostgreSQL
    database named by a `postgresql://` URL (or given as `store=`).

    `async with engine:` opens the store and runs the scheduler in this process;
    leaving stops it cleanly and leaves every unfinished execution resumable.
    `telemetry=True` sends OpenTelemetry traces and metrics to the global providers
    (`telemetry=Telemetry(...)`: to providers of its own); off by default.

    Opening an SQLite file checks it first, writing nothing: `check_on_open="quick"`
    (the default) runs `PRAGMA quick_check`, "full" `PRAGMA integrity_check` (which
    also finds an index that disagrees with its table), "none" skips it. A damaged
    file raises DatabaseCorrupt and is left as it was. On PostgreSQL the server keeps
    its own pages sound: only the schema version is checked. `read_only=True` opens
    the file without the power to write it: the engine runs nothing and writes
    nothing (its `-wal` file is never checkpointed), and calls that write raise
    StoreError. On PostgreSQL, read-only keeps the engine from writing (no worker row,
    no schedules, nothing runs); its store opens as usual.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        serdes: SerDes | None = None,
        synchronous: str = "NORMAL",
        payload_limit: int = 256 * 1024,
        lease: timedelta | float = 15.0,
        in_memory_wait: timedelta | float = 1.0,
        max_concurrent_executions: int = 10_000,
        max_step_threads: int = 40,
        clock: Clock | None = None,
        store: Store | None = None,
        worker_id: str | None = None,
        on_divergence: str = "block",
        retention: timedelta | float | None = None,
        telemetry: bool | Telemetry = False,
        busy_timeout: timedelta | float = 5.0,
        allow_network_fs: bool = False,
        allow_shared_file: bool = False,
        check_on_open: str = "quick",
        read_only: bool = False,
        poll_interval: timedelta | float | None = None,
    ) -> None:
        check_serdes(serdes)
        check_int(payload_limit, "payload_limit", 1)
        check_int(max_concurrent_executions, "max_concurrent_executions", 1)
        check_int(max_step_threads, "max_step_threads", 1)
        if on_divergence not in ("block", "fail"):
            raise ValueError(f'on_divergence must be "block" or "fail", not {on_divergence!r}')
        lease_seconds = to_seconds(lease, what="lease")
        if lease_seconds == 0:
            raise ValueError(f"lease must be longer than 0 seconds, not {lease!r}")
        if path is None:
            if store is None:
                raise TypeError("Engine needs a database: a file path, a URL, or store=")
            path = str(getattr(store, "path", ""))
        self.path = location(os.fspath(path))
        """The SQLite file, or the PostgreSQL URL (`postgresql://...`)."""
        self._synchronous = synchronous
        self._busy_timeout = to_seconds(busy_timeout, what="busy_timeout")
        self.serdes: SerDes = serdes or _serdes.MsgpackSerDes()
        self.clock: Clock = clock or SystemClock()
        self.store: Store = store or store_for(
            self.path, synchronous=synchronous, busy_timeout=self._busy_timeout
        )
        self.lease = lease_seconds
        self.poll_interval = (
            None if poll_interval is None else to_seconds(poll_interval, what="poll_interval")
        )
        """Seconds between looks for changes other processes made, where they are not
        announced (None: 50 ms; on PostgreSQL, whose changes are announced with NOTIFY,
        1 s, and 50 ms while the listening connection is lost)."""
        if self.poll_interval == 0:
            raise ValueError(f"poll_interval must be longer than 0 seconds, not {poll_interval!r}")
        self.retention = None if retention is None else to_seconds(retention, what="retention")
        """Seconds an ended execution is kept before a background purge deletes it
        (None: kept until purged by hand). Purged only while the engine serves."""
        self.allow_network_fs = allow_network_fs
        """Open a database file on a network filesystem anyway (unsafe with several hosts)."""
        self.allow_shared_file = allow_shared_file
        """Open a database file owned by another user, or writable by group or others."""
        self.check_on_open = check_on_open
        check_instance(read_only, bool, "read_only")
        self.read_only = read_only
        """Open the database only to read it: nothing runs, nothing is written."""
        self.max_concurrent_executions = max_concurrent_executions
        self.worker_id = worker_id or new_worker_id()
        self.serve = True
        """Whether this engine claims and runs executions; a command-line tool sets False."""
        self.logger = logger
        self.registry = Registry(self.serdes)
        """The durable functions this engine runs."""
        self.values = ValueConverter(self.serdes, payload_limit=payload_limit)
        """The engine's value path: every value it stores passes through it."""
        self.executor = Executor(
            store=self.store,
            registry=self.registry,
            values=self.values,
            clock=self.clock,
            in_memory_wait=to_seconds(in_memory_wait, what="in_memory_wait"),
            max_running=max_concurrent_executions,
            max_step_threads=max_step_threads,
            logger=self.logger,
            function_keys=self.function_keys,
        )
        """Runs the executions this engine holds."""
        self.executor.hold_divergent = on_divergence == "block"
        self.executor.telemetry = telemetry_from(telemetry)
        self._answers = Answers(self.executor)
        self._reader = ExecutionReader(self.executor, self._require_open)
        self._starter = Starter(self.executor, self.worker_id, self.poke)
        self._purger = Purger(lambda: self.executor.store, self.clock, self.logger)
        self._scheduler: Scheduler | None = None
        self._schedules = Schedules(self.executor, self._schedules_changed)
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the engine was opened on: the only one it may be called from."""

    # -- registry ------------------------------------------------------------------

    @overload
    def durable_function(self, fn: F, /) -> F: ...

    @overload
    def durable_function(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        serdes: SerDes | None = None,
        version: int = 1,
    ) -> Callable[[F], F]: ...

    def durable_function(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        serdes: SerDes | None = None,
        version: int = 1,
    ) -> F | Callable[[F], F]:
        """Register `async def f(ctx, input)` under `name` (default: its `__qualname__`)
        as version `version`: several versions of one name may be registered at once;
        `start` uses the newest, and an execution only ever runs on the version it
        started on."""
        check_name(name)
        check_serdes(serdes)
        check_int(version, "version", 1)

        def register(f: F) -> F:
            registered = self.registry.register(f, name, serdes, version)
            if self.is_open:  # its due executions need not wait for the next sweep
                self.poke()
            return registered

        return register(fn) if fn is not None else register

    def function(self, name: str, version: int | None = None) -> DurableFunction[Any, Any]:
        """Version `version` (None: the newest) of the function registered as `name`;
        FunctionNotRegistered if there is none."""
        return self.registry.get(name, version)

    def function_names(self) -> list[str]:
        """The functions this engine runs: none when it only reads and writes (`serve=False`)."""
        return self.registry.names() if self.serve else []

    def function_keys(self) -> list[str]:
        """`name@version` of each function version this engine runs (none with
        `serve=False`): an execution is claimed only by an engine with its version."""
        return self.registry.keys() if self.serve else []

    # -- lifecycle -----------------------------------------------------------------

    @property
    def check_on_open(self) -> str:
        """How an SQLite file is checked as the engine opens it: "quick", "full" or "none"."""
        return self._check_on_open

    @check_on_open.setter
    def check_on_open(self, value: str) -> None:
        self._check_on_open = check_level(value)

    def _sqlite_store(self) -> SqliteStore | None:
        """The SQLite store, given this engine's check and mode; None on PostgreSQL."""
        if not isinstance(self.store, SqliteStore):
            return None
        self.store.check_on_open = self._check_on_open
        self.store.read_only = self.read_only
        return self.store

    def check_database(self) -> None:
        """Check the database now as opening it would (`check_on_open`), writing
        nothing: DatabaseCorrupt for a damaged SQLite file, StoreError for one that is
        not a durable_engine database or has a newer schema. The next `open` does not
        check it again. Nothing to do once the engine is open, nor on PostgreSQL (its
        schema is checked as it opens)."""
        store = self._sqlite_store()
        if store is not None and not self.is_open:
            store.check()

    @property
    def is_open(self) -> bool:
        """Whether the engine is open (inside `async with engine:`)."""
        return self.executor.open

    async def __aenter__(self) -> Engine:
        if self.is_open:  # leaving the inner block would close the engine under the outer
            raise RuntimeError("the engine is already open: enter `async with engine:` once")
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store and start the scheduler in this process."""
        if self.is_open:
            return
        sqlite = self._sqlite_store()
        if sqlite is not None:
            check_database_file(
                sqlite.path,
                allow_network_fs=self.allow_network_fs,
                allow_shared_file=self.allow_shared_file,
            )
        use_clock = getattr(self.store, "use_clock", None)
        if use_clock is not None:  # a store keeping instants on its server's clock
            use_clock(self.clock.now)
        await self.store.open()
        if self.read_only:
            await self._open_to_read()
            return
        try:
            await self._schedules.write_declared()
        except BaseException:
            await self.store.close()
            raise
        scheduler = Scheduler(
            self.store,
            self.executor,
            self.clock,
            worker_id=self.worker_id,
            lease=self.lease,
            logger=self.logger,
            poll_interval=self.poll_interval,
            listen=self.serve,
        )
        try:
            await self.executor.start()
            await scheduler.start(self.executor.tasks)
        except BaseException:
            await self.executor.close()
            await self.store.close()
            raise
        self._scheduler = scheduler
        if self.serve and self.retention is not None:
            self.executor.tasks.spawn(self._purger.keep, self.retention, name="durable-retention")
        telemetry = self.executor.telemetry
        if telemetry is not None:
            observe = getattr(self.store, "observe_commits", None)
            if observe is not None:  # a store that times its commits
                observe(telemetry.commit_observed)
            self.executor.tasks.spawn(
                telemetry.sample, self.store.count_waiting, self.clock.now, name="telemetry"
            )
        self.executor.poke = scheduler.poke
        self.executor.wake_at = scheduler.wake_at
        self.executor.capacity_freed = scheduler.capacity_freed
        self._loop = asyncio.get_running_loop()
        self.executor.open = True

    async def _open_to_read(self) -> None:
        """The rest of `open` for a read-only engine: no scheduler, no worker row, no
        schedules written, no purges."""
        try:
            await self.executor.start()
        except BaseException:
            await self.store.close()
            raise
        self._scheduler = None
        self._loop = asyncio.get_running_loop()
        self.executor.open = True

    async def close(self) -> None:
        """Stop claiming, unwind running executions, release their leases."""
        if not self.is_open:
            return
        self.executor.open = False
        if self._scheduler is not None:
            await self._scheduler.stop()
        await self.executor.close()
        if self._scheduler is not None:
            with contextlib.suppress(StoreError):
                await self.store.remove_worker(self.worker_id, self.clock.now())
        await self.store.close()
        self.executor.wake_everyone()

    def retarget(self, path: str | os.PathLike[str]) -> None:
        """Use another database (before opening), e.g. from a worker's --db."""
        if self.is_open:
            raise RuntimeError("cannot change the database of an open engine")
        self.path = location(os.fspath(path))
        self.store = store_for(
            self.path, synchronous=self._synchronous, busy_timeout=self._busy_timeout
        )
        self.executor.store = self.store

    async def backup(self, target: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Copy the SQLite database into the new file `target` with SQLite's online
        backup: a consistent snapshot of every transaction committed before it began,
        taken while workers go on writing, checked (`PRAGMA quick_check`) before it is
        renamed into place. The engine need not be open. Raises StoreError if `target`
        exists (unless `overwrite`), and on PostgreSQL (back that up with `pg_dump`)."""
        if not isinstance(self.store, SqliteStore):
            raise StoreError(
                "backup copies an SQLite file; back a PostgreSQL database up with its own "
                "tools (pg_dump, or a base backup with WAL archiving)"
            )
        if self.store.memory:
            raise StoreError("an in-memory database has no file to back up")
        await asyncio.to_thread(SqliteStore.backup, self.path, target, overwrite=overwrite)

    def health(self) -> Health:
        """Whether the database takes writes now; if not, the error writes fail with and
        since when. Writes that fail for a reason that may pass (locked, full, I/O
        error) are tried again meanwhile, and no execution fails for it."""
        return store_health(self.store)

    async def drain(self, grace: float) -> None:
        """Stop claiming work, and give running executions `grace` seconds to finish or suspend."""
        if self._scheduler is not None:
            self._scheduler.stop_claiming()  # the heartbeat goes on: the leases stay ours
        await self.executor.drain(grace)

    def poke(self) -> None:
        """Look for due work now, rather than at the next wake-up."""
        self.executor.poke()

    def _schedules_changed(self) -> None:
        if self._scheduler is not None:
            self._scheduler.schedules_changed()

    def wants_to_look(self) -> bool:
        """Whether the scheduler was asked to look for due work and has not yet looked."""
        return self._scheduler is not None and self._scheduler.poked()

    def _require_open(self) -> None:
        if not self.executor.open:
            raise RuntimeError("the engine is not open: use `async with engine:` first")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "the engine was opened on another event loop, and is called only from that "
                "loop: from another thread, use asyncio.run_coroutine_threadsafe(coro, loop)"
            )

    # -- starting and stopping executions ----------------------------------------------

    @overload
    async def start(
        self,
        fn_or_name: Callable[[Any, In], Awaitable[Out]] | DurableFunction[In, Out],
        input: In | Mapping[str, Any] = ...,
        *,
        execution_name: str | None = ...,
        timeout: timedelta | float | None = ...,  # noqa: ASYNC109 - the execution's timeout
        run_here: bool = ...,
        version: int | None = ...,
    ) -> ExecutionHandle[Out]: ...

    @overload
    async def start(
        self,
        fn_or_name: str,
        input: Any = ...,
        *,
        execution_name: str | None = ...,
        timeout: timedelta | float | None = ...,  # noqa: ASYNC109 - the execution's timeout
        run_here: bool = ...,
        version: int | None = ...,
    ) -> ExecutionHandle[Any]: ...

    async def start(
        self,
        fn_or_name: Callable[..., Any] | DurableFunction[Any, Any] | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
        run_here: bool = True,
        version: int | None = None,
    ) -> ExecutionHandle[Any]:
        """Start an execution (or return the one already started under `execution_name`).

        A function whose input is annotated as a dataclass or a pydantic model is given
        that type; a dict (the JSON of the command line) is checked against it here, and
        InvalidInput raised before anything is stored. With `run_here=False` the
        execution is only stored, for any worker on the file to claim. It runs on the
        function's newest registered version, or on `version`."""
        check_name(execution_name, "execution_name")
        if execution_name == "":
            raise ValueError("execution_name must not be empty: give a name, or None for none")
        self._require_open()
        function = self.registry.resolve(fn_or_name)
        if version is not None:
            check_int(version, "version", 1)
            function = self.registry.get(function.name, version)
        parse_input(function.fn, input, function.name)  # refused here, before it is stored
        seconds = None if timeout is None else to_seconds(timeout, what="timeout")
        codec = self.registry.codec(function)
        started = await self._starter.start(
            function, codec, input, execution_name, seconds, run_here
        )
        return ExecutionHandle(self, started)

    @overload
    async def run(
        self,
        fn_or_name: Callable[[Any, In], Awaitable[Out]] | DurableFunction[In, Out],
        input: In | Mapping[str, Any] = ...,
        *,
        execution_name: str | None = ...,
        timeout: timedelta | float | None = ...,  # noqa: ASYNC109 - the execution's timeout
        version: int | None = ...,
    ) -> Out: ...

    @overload
    async def run(
        self,
        fn_or_name: str,
        input: Any = ...,
        *,
        execution_name: str | None = ...,
        timeout: timedelta | float | None = ...,  # noqa: ASYNC109 - the execution's timeout
        version: int | None = ...,
    ) -> Any: ...

    async def run(
        self,
        fn_or_name: Callable[..., Any] | DurableFunction[Any, Any] | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
        version: int | None = None,
    ) -> Any:
        """Start an execution and return its result (raise its error)."""
        handle = await self.start(
            fn_or_name, input, execution_name=execution_name, timeout=timeout, version=version
        )
        return await handle.result()

    async def stop(self, execution_id: str) -> None:
        """End an execution as STOPPED: its timers and callbacks are cancelled, it never resumes."""
        self._require_open()
        check_name(execution_id, "execution_id")
        await self._starter.stop(execution_id)

    async def resume(self, execution_id: str) -> None:
        """Run a BLOCKED execution again, on this deploy's code: it goes on if the code
        now replays its history, and is BLOCKED again if not. An execution that is not
        BLOCKED is left as it is; ExecutionAlreadyEnded for one that ended."""
        self._require_open()
        check_name(execution_id, "execution_id")
        await self._starter.resume(execution_id)

    async def rerun(self, execution_id: str) -> ExecutionHandle[Any]:
        """Start a new execution of the same function, version and input as
        `execution_id`, which ended FAILED, TIMED_OUT or STOPPED (else
        ExecutionNotRerunnable); its `rerun_of` names the first. It has no name, and the
        first one's timeout length, if it had one. It runs here if this engine serves
        that function version, else on any worker that does."""
        check_instance(execution_id, str, "execution_id")
        self._require_open()
        first = await self._reader.record(execution_id)
        runs_here = f"{first.function}@{first.version}" in self.function_keys()
        return ExecutionHandle(self, await self._starter.rerun(execution_id, runs_here))

    async def purge(
        self,
        ended_before: datetime | timedelta,
        *,
        statuses: Iterable[ExecutionStatus | str] | None = None,
        function: str | None = None,
        limit: int | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete, for good, executions that ended before `ended_before` (an aware
        datetime, or a timedelta: that long ago); returns how many.

        `statuses` keeps to those ended with one of them (ended statuses only),
        `function` to one function, `limit` to the oldest `limit`. Each goes whole (its
        operations and callbacks with it), 100 to a transaction, so workers on the file
        are held up only briefly. Executions it invoked lose their `parent_id`; one
        invoked by an execution that has not ended is kept. A purged execution's name
        may be used again. With `dry_run`, nothing is deleted: returns how many would be."""
        self._require_open()
        before = cutoff(ended_before, self.clock.now())
        wanted = ended_statuses(statuses)
        check_instance(dry_run, bool, "dry_run")
        return await self._purger.purge(before, wanted, function, limit, dry_run=dry_run)

    # -- reading executions ----------------------------------------------------------

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        """The execution as it is now; ExecutionNotFound if there is none."""
        check_name(execution_id, "execution_id")
        return self._reader.info(await self._reader.record(execution_id))

    async def list_executions(
        self,
        status: ExecutionStatus | str | None = None,
        function: str | None = None,
        *,
        name: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        version: int | None = None,
        unfinished: bool = False,
    ) -> list[ExecutionInfo]:
        """Executions, oldest first (newest first if `newest_first`; with `limit`, then,
        the newest); `name` finds the one started with that `execution_name`; `version`
        those started on that version of their function; `unfinished` those not ended
        (what still runs on a version to retire)."""
        check_name(function, "function")
        check_name(name, "name")
        if limit is not None:
            check_int(limit, "limit", 1)
        if version is not None:
            check_int(version, "version", 1)
        check_instance(newest_first, bool, "newest_first")
        check_instance(unfinished, bool, "unfinished")
        wanted = None if status is None else ExecutionStatus(status)
        return await self._reader.find(
            wanted,
            function,
            name,
            limit,
            newest_first=newest_first,
            version=version,
            unfinished=unfinished,
        )

    async def export_history(self, execution_id: str) -> dict[str, Any]:
        """The execution's history as a stable JSON document (what `durable-engine
        export` prints): `DurableTestRunner.replay_history` replays it."""
        return await self._reader.history_file(execution_id)

    async def get_operations(
        self, execution_id: str, *, run_number: int | None = None
    ) -> list[OperationInfo]:
        """The execution's operations as a tree (top-level operations, each with children):
        of its current run, or of earlier run `run_number` if it continued as new with
        `keep_history=True` (RunNotKept if that run's operations are not stored)."""
        if run_number is not None:
            check_instance(run_number, int, "run_number")
        return await self._reader.operations(execution_id, run_number)

    async def wait_for(self, execution_id: str) -> ExecutionInfo:
        """Wait until the execution ends; return its info."""
        return self._reader.info(*await self._reader.ended(execution_id))

    # -- callbacks ---------------------------------------------------------------------

    async def send_callback_success(self, callback_id: str, result: Any = None) -> None:
        """Resolve a callback with `result`; works from any process open on the same file."""
        check_instance(callback_id, str, "callback_id")
        self._require_open()
        await self._answers.succeed(callback_id, result)

    async def send_callback_failure(
        self, callback_id: str, error_type: str = "", message: str = "", data: Any = None
    ) -> None:
        """Resolve a callback as failed: the workflow's `cb.result()` raises CallbackFailedError."""
        check_instance(callback_id, str, "callback_id")
        check_instance(error_type, str, "error_type")
        check_instance(message, str, "message")
        self._require_open()
        await self._answers.fail(callback_id, error_type, message, data)

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell a callback with a heartbeat_timeout that its sender is still at work."""
        check_instance(callback_id, str, "callback_id")
        self._require_open()
        await self._answers.heartbeat(callback_id)

    # -- schedules -----------------------------------------------------------------------

    def schedule(
        self,
        function: Callable[..., Any] | DurableFunction[Any, Any] | str,
        cron: str = "*/5 * * * *",
        *,
        name: str,
        input: Any = None,
        timezone: str = "UTC",
        catchup: str = "latest",
    ) -> None:
        """Declare a schedule: `function` starts with `input` at each time of `cron`, read
        in `timezone`, as an execution named `"<name>@<ISO time>"` (so each firing
        happens once across workers and restarts). Firings missed while nothing ran
        follow `catchup`: "latest" (start the latest one), "all", or "none". Declared
        before the engine opens; written to the database as it opens."""
        if self.is_open:
            raise RuntimeError("declare schedules before the engine opens")
        self._schedules.declare(
            self.registry.resolve(function), cron, name, input, timezone, catchup
        )

    async def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule in the database, by name."""
        self._require_open()
        return await self._schedules.list()

    async def pause_schedule(self, name: str) -> ScheduleInfo:
        """Stop a schedule firing until it is resumed (ScheduleNotFound if there is none)."""
        self._require_open()
        return await self._schedules.pause(name)

    async def resume_schedule(self, name: str) -> ScheduleInfo:
        """Let a paused schedule fire again, from its next time on."""
        self._require_open()
        return await self._schedules.resume(name)

    async def delete_schedule(self, name: str) -> None:
        """Delete a schedule; the executions it started stay."""
        self._require_open()
        await self._schedules.delete(name)

    async def trigger_schedule(self, name: str) -> ExecutionHandle[Any]:
        """Start the schedule's function now, as a firing at this instant would."""
        self._require_open()
        return ExecutionHandle(self, await self._schedules.trigger(name))

    async def send_event(self, execution_id_or_name: str, name: str, payload: Any = None) -> None:
        """Send event `name` to an execution (by id, else by name): its next
        `ctx.wait_for_event(name)` returns `payload`, events of one name in the order
        sent, each once. Raises ExecutionAlreadyEnded if it has ended."""
        check_instance(execution_id_or_name, str, "execution_id_or_name")
        check_instance(name, str, "name")
        if not name:
            raise ValueError("the event name must not be empty")
        self._require_open()
        await self._answers.send_event(execution_id_or_name, name, payload)
