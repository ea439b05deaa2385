"""The `Engine`: registry of durable functions, start/run/get/list, and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar, cast, overload

import serdes as _serdes
from serdes import SerDes

from ._clock import Clock, SystemClock
from ._config import check_instance, check_int, check_name, check_serdes, to_seconds
from ._context import DurableContext
from ._deadline import drive_until_deadline
from ._errors import (
    DatabaseCorrupt,
    ErrorInfo,
    ExecutionAlreadyEnded,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    FunctionNotRegistered,
    PayloadTooLarge,
    SerDesError,
    StoreError,
)
from ._events import run_ended
from ._executor import RunOutcome
from ._journal import Journal
from ._models import ExecutionInfo, ExecutionRecord, ExecutionStatus, timestamp_to_datetime
from ._run import ExecutionRun, Limits
from ._scheduler import Scheduler, new_worker_id
from ._store import (
    Fence,
    FinishExecution,
    LeaseLost,
    NewExecution,
    SqliteStore,
    Store,
    SuspendExecution,
)
from ._views import OperationInfo, build_operation_tree, decode_error, load_value

__all__ = ["DurableFunction", "Engine", "ExecutionHandle"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Workflow = Callable[[DurableContext, Any], Awaitable[Any]]

logger = logging.getLogger("durable_engine")


_ids = random.Random(secrets.randbits(128))
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=lambda: _ids.seed(secrets.randbits(128)))


def new_execution_id() -> str:
    """A unique id that sorts by creation time, so concurrent executions' rows sit together.

    The random half comes from a generator seeded from the OS once per process (and
    again in a forked child): an id is not a secret, and a system call per id is slow."""
    return f"{time.time_ns():016x}{_ids.getrandbits(64):016x}"


def _same_input(a: Any, b: Any, encode: Callable[[Any], bytes]) -> bool:
    """Of the same types all the way down, with containers alike in their contents
    (in any order for dicts and sets) and other values stored alike by `encode`: `1`,
    `1.0` and `True`, or `0.0` and `-0.0`, are equal in Python but different inputs;
    two NaNs are the same input."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_input(v, b[k], encode) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(
            _same_input(x, y, encode) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, set | frozenset):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    return a is b or encode(a) == encode(b)


@dataclass(frozen=True, slots=True)
class DurableFunction:
    """A registered durable function."""

    name: str
    fn: Workflow
    serdes: SerDes | None


class ExecutionHandle:
    """A started execution: its id, its status, and its result once it ends."""

    def __init__(self, engine: Engine, execution_id: str) -> None:
        self._engine = engine
        self.execution_id = execution_id

    def __repr__(self) -> str:
        return f"ExecutionHandle({self.execution_id!r})"

    async def status(self) -> ExecutionStatus:
        return (await self._engine.get_execution(self.execution_id)).status

    async def result(self) -> Any:
        """Wait for the execution to end; return its result or raise its error."""
        engine = self._engine
        return engine._outcome(*await engine._wait_ended(self.execution_id))


class Engine:
    """A durable execution engine on one SQLite file.

    `async with engine:` opens the store and runs the scheduler in this process;
    leaving stops it cleanly and leaves every unfinished execution resumable.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        serdes: SerDes | None = None,
        synchronous: str = "NORMAL",
        payload_limit: int = 256 * 1024,
        lease: timedelta | float = 15.0,
        in_memory_wait: timedelta | float = 1.0,
        max_concurrent_executions: int = 10_000,
        clock: Clock | None = None,
        store: Store | None = None,
        worker_id: str | None = None,
    ) -> None:
        check_serdes(serdes)
        check_int(payload_limit, "payload_limit", 1)
        check_int(max_concurrent_executions, "max_concurrent_executions", 1)
        lease_seconds = to_seconds(lease, what="lease")
        if lease_seconds == 0:
            raise ValueError(f"lease must be longer than 0 seconds, not {lease!r}")
        self.path = os.fspath(path)
        self._synchronous = synchronous
        self.serdes: SerDes = serdes or _serdes.MsgpackSerDes()
        self.clock: Clock = clock or SystemClock()
        self.store: Store = store or SqliteStore(self.path, synchronous=synchronous)
        self.limits = Limits(
            payload_limit=payload_limit,
            in_memory_wait=to_seconds(in_memory_wait, what="in_memory_wait"),
        )
        self.lease = lease_seconds
        self.max_concurrent_executions = max_concurrent_executions
        self.worker_id = worker_id or new_worker_id()
        self.serve = True
        """Whether this engine claims and runs executions; a command-line tool sets False."""
        self.logger = logger
        self._error_serdes = _serdes.MsgpackSerDes()
        self._functions: dict[str, DurableFunction] = {}
        self._runs: dict[str, tuple[ExecutionRun | None, asyncio.Task[None]]] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        """What waiters for an execution await: resolved when they should look again."""
        self._ended: dict[str, tuple[ExecutionRecord, FinishExecution]] = {}
        """How executions ended here, kept for their waiters until they look."""
        self._broken: dict[str, DatabaseCorrupt] = {}
        """Executions whose last run here stopped on a damaged database: what waiters get."""
        self._adopting: set[asyncio.Task[None]] = set()
        """Creations whose start was cancelled, being looked after (see `_adopt`)."""
        self._scheduler: Scheduler | None = None
        self._open = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the engine was opened on: the only one it may be called from."""

    # -- registry ------------------------------------------------------------------

    @overload
    def durable_function(self, fn: F, /) -> F: ...

    @overload
    def durable_function(
        self, fn: None = None, /, *, name: str | None = None, serdes: SerDes | None = None
    ) -> Callable[[F], F]: ...

    def durable_function(
        self, fn: F | None = None, /, *, name: str | None = None, serdes: SerDes | None = None
    ) -> F | Callable[[F], F]:
        """Register `async def f(ctx, input)` under `name` (default: its `__qualname__`)."""
        check_name(name)
        check_serdes(serdes)

        def register(f: F) -> F:
            if not inspect.iscoroutinefunction(cast(Any, f)):
                raise TypeError(f"a durable function must be `async def`, not {f!r}")
            _check_signature(f)
            key = name or f.__qualname__
            existing = self._functions.get(key)
            if existing is not None and existing.fn is not f:
                raise ValueError(f"a different durable function is already registered as {key!r}")
            self._functions[key] = DurableFunction(key, f, serdes)
            return f

        return register(fn) if fn is not None else register

    def function(self, name: str) -> DurableFunction:
        try:
            return self._functions[name]
        except KeyError:
            known = ", ".join(sorted(self._functions)) or "none"
            raise FunctionNotRegistered(
                f"no durable function named {name!r} is registered on this engine (known: {known})"
            ) from None

    def function_names(self) -> list[str]:
        """The functions this engine runs: none when it only reads and writes (`serve=False`)."""
        return list(self._functions) if self.serve else []

    def _resolve_function(self, fn_or_name: Callable[..., Any] | str) -> DurableFunction:
        if isinstance(fn_or_name, str):
            return self.function(fn_or_name)
        for registered in self._functions.values():
            if registered.fn is fn_or_name:
                return registered
        raise FunctionNotRegistered(
            f"{getattr(fn_or_name, '__qualname__', fn_or_name)!r} is not registered on this "
            "engine; decorate it with @engine.durable_function"
        )

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        if self._open:  # leaving the inner block would close the engine under the outer
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
        if self._open:
            return
        await self.store.open()
        self._scheduler = Scheduler(
            self.store,
            self,
            self.clock,
            worker_id=self.worker_id,
            lease=self.lease,
            logger=self.logger,
        )
        try:
            await self._scheduler.start()
        except BaseException:
            await self.store.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._open = True

    async def close(self) -> None:
        """Stop claiming, unwind running executions, release their leases."""
        if not self._open:
            return
        self._open = False
        assert self._scheduler is not None
        await self._scheduler.stop()
        tasks = [task for _, task in self._runs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(StoreError):
            await self.store.remove_worker(self.worker_id, self.clock.now())
        await self.store.close()
        for execution_id in list(self._waiters):
            self._wake_waiters(execution_id)

    def retarget(self, path: str | os.PathLike[str]) -> None:
        """Use another database file (before opening), e.g. from a worker's --db."""
        if self._open:
            raise RuntimeError("cannot change the database of an open engine")
        self.path = os.fspath(path)
        self.store = SqliteStore(self.path, synchronous=self._synchronous)

    async def drain(self, grace: float) -> None:
        """Stop claiming work, and give running executions `grace` seconds to finish or suspend."""
        if self._scheduler is not None:
            self._scheduler.stop_claiming()  # the heartbeat goes on: the leases stay ours
        tasks = [task for _, task in self._runs.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    async def stop(self, execution_id: str) -> None:
        """End an execution as STOPPED: its timers and callbacks are cancelled, it never resumes."""
        self._require_open()
        info = ErrorInfo(
            kind="ExecutionStopped", error_type="ExecutionStopped", message="stopped from outside"
        )
        ended = await self.store.stop_execution(
            execution_id, self.clock.now(), self._error_serdes.serialize(info.to_dict())
        )
        if ended is not None:
            raise ExecutionAlreadyEnded(f"execution {execution_id} already ended ({ended})")
        entry = self._runs.get(execution_id)
        if entry is not None:
            entry[1].cancel()
        self._wake_waiters(execution_id)

    async def check_database(self) -> dict[str, object]:
        """Integrity and schema version of the database file."""
        self._require_open()
        return await self.store.check()

    def _require_open(self) -> None:
        if not self._open:
            raise RuntimeError("the engine is not open: use `async with engine:` first")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "the engine was opened on another event loop, and is called only from that "
                "loop: from another thread, use asyncio.run_coroutine_threadsafe(coro, loop)"
            )

    # -- starting executions -------------------------------------------------------

    async def start(
        self,
        fn_or_name: Callable[..., Any] | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
        run_here: bool = True,
    ) -> ExecutionHandle:
        """Start an execution (or return the one already started under `execution_name`).

        With `run_here=False` it is only stored, for any worker on the file to claim."""
        check_name(execution_name, "execution_name")
        if execution_name == "":
            raise ValueError("execution_name must not be empty: give a name, or None for none")
        self._require_open()
        function = self._resolve_function(fn_or_name)
        codec = function.serdes or self.serdes
        data = self._encode(input, f"the input of {function.name!r}", codec)
        now = self.clock.now()
        timeout_at = None if timeout is None else now + to_seconds(timeout, what="timeout")
        new = NewExecution(
            execution_id=new_execution_id(),
            name=execution_name,
            function=function.name,
            input=data,
            created_at=now,
            owner=self.worker_id if run_here else None,
            timeout_at=timeout_at,
        )
        try:
            record, created = await self.store.create_execution(new)
        except asyncio.CancelledError:
            if run_here:  # the creation is queued and may commit: then it must run
                adopt = asyncio.create_task(self._adopt(new), name=f"adopt-{new.execution_id}")
                self._adopting.add(adopt)
                adopt.add_done_callback(self._adopting.discard)
            raise
        if not created:
            self._check_duplicate(record, function, input, codec)
            return ExecutionHandle(self, record.execution_id)
        if run_here:
            self.launch(record, fresh=True)
        else:
            self.poke()
        return ExecutionHandle(self, record.execution_id)

    async def _adopt(self, new: NewExecution) -> None:
        """Run an execution whose start was cancelled while it was being created, if the
        creation committed: it is this worker's, and no other worker would take it."""
        with contextlib.suppress(StoreError, RuntimeError):
            # The same creation again finds the row the first one made, if it made one.
            record, _ = await self.store.create_execution(new)
            if (
                self._open
                and record.execution_id == new.execution_id
                and record.owner == self.worker_id
                and not record.status.is_terminal
                and record.execution_id not in self._runs
            ):
                self.launch(record, fresh=True)

    def _check_duplicate(
        self, record: ExecutionRecord, function: DurableFunction, input: Any, codec: SerDes
    ) -> None:
        if record.function != function.name:
            raise ExecutionAlreadyExists(
                f"execution {record.name!r} already exists for function {record.function!r}, "
                f"not {function.name!r}"
            )
        try:
            stored = codec.deserialize(record.input) if record.input is not None else None
            same = _same_input(stored, codec.deserialize(codec.serialize(input)), codec.serialize)
        except _serdes.SerDesError:
            same = False
        if not same:
            raise ExecutionAlreadyExists(
                f"execution {record.name!r} already exists with a different input"
            )

    async def run(
        self,
        fn_or_name: Callable[..., Any] | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
    ) -> Any:
        """Start an execution and return its result (raise its error)."""
        handle = await self.start(fn_or_name, input, execution_name=execution_name, timeout=timeout)
        return await handle.result()

    # -- reading executions ----------------------------------------------------------

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        return self._info(await self._record(execution_id))

    async def _record(self, execution_id: str) -> ExecutionRecord:
        """The execution's stored record; ExecutionNotFound if there is none."""
        self._require_open()
        record = await self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFound(f"no execution with id {execution_id!r}")
        return record

    async def list_executions(
        self,
        status: ExecutionStatus | str | None = None,
        function: str | None = None,
        *,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionInfo]:
        """Executions, oldest first; `name` finds the one started with that
        `execution_name`."""
        check_name(function, "function")
        check_name(name, "name")
        if limit is not None:
            check_int(limit, "limit", 1)
        self._require_open()
        records = await self.store.list_executions(
            status=None if status is None else ExecutionStatus(status),
            function=function,
            name=name,
            limit=limit,
        )
        return [self._info(r) for r in records]

    async def get_operations(self, execution_id: str) -> list[OperationInfo]:
        """The execution's operations as a tree (top-level operations, each with children)."""
        record = await self._record(execution_id)
        codec = self._codec_for(record.function)
        checkpoints = await self.store.load_operations(execution_id)
        return build_operation_tree(checkpoints, codec, self._error_serdes)

    async def wait_for(self, execution_id: str) -> ExecutionInfo:
        """Wait until the execution ends; return its info."""
        return self._info(*await self._wait_ended(execution_id))

    async def _wait_ended(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, FinishExecution | None]:
        """The execution's record once it has ended, with the ending a run here committed
        (then the record is as it was when the run began), or None (then the record was
        read after the end)."""
        self._require_open()
        # Running here: its end wakes the waiters and leaves how it ended, so the first
        # look can wait for that. Any later wake-up (a stop, another process) reads the row.
        look = execution_id not in self._runs
        try:
            while True:
                # An ending is left only for a waiter registered below before the run ended.
                ended = self._ended.pop(execution_id, None)
                if ended is not None:
                    return ended
                broken = self._broken.get(execution_id)
                if broken is not None:  # it cannot go on: waiting would be for ever
                    raise broken
                woken = self._waiters.get(execution_id)
                if woken is None or woken.done():  # waiters share one until it is resolved
                    woken = self._waiters[execution_id] = asyncio.get_running_loop().create_future()
                if not self._open:
                    raise RuntimeError("the engine closed before the execution ended")
                if look:
                    record = await self._record(execution_id)
                    if record.status.is_terminal:
                        return record, None
                look = True
                await woken
        finally:
            self._waiters.pop(execution_id, None)
            self._ended.pop(execution_id, None)

    def _outcome(self, record: ExecutionRecord, ending: FinishExecution | None) -> Any:
        """An ended execution's result, or raise its error (what `_info` would give,
        without reading its input and timestamps)."""
        end = record if ending is None else ending
        if end.status is ExecutionStatus.SUCCEEDED:
            return load_value(self._codec_for(record.function), end.result)
        raise self._info(record, ending).error

    def new_run(
        self,
        record: ExecutionRecord,
        journal: Journal,
        *,
        store: Store | None = None,
        kind: type[ExecutionRun] = ExecutionRun,
    ) -> ExecutionRun:
        """A run of `record` over `journal`, with this engine's codecs, clock and limits."""
        return kind(
            record=record,
            journal=journal,
            store=store or self.store,
            serdes=self._codec_for(record.function),
            error_serdes=self._error_serdes,
            clock=self.clock,
            limits=self.limits,
            logger=self.logger,
            host=self,
        )

    def _codec_for(self, function: str) -> SerDes:
        registered = self._functions.get(function)
        return (registered.serdes if registered else None) or self.serdes

    def _info(
        self, record: ExecutionRecord, ending: FinishExecution | None = None
    ) -> ExecutionInfo:
        """What a user sees of `record`; of how it ended, if `ending` (just committed
        here) says so."""
        codec = self._codec_for(record.function)
        end = record if ending is None else ending
        error = None if end.error is None else decode_error(end.error, self._error_serdes)
        return ExecutionInfo(
            execution_id=record.execution_id,
            name=record.name,
            function=record.function,
            status=end.status,
            input=load_value(codec, record.input),
            result=load_value(codec, end.result),
            error=error,
            created_at=timestamp_to_datetime(record.created_at),
            ended_at=timestamp_to_datetime(end.ended_at),
            parent_id=record.parent_id,
        )

    # -- running executions (called by the scheduler) ----------------------------------

    def codec_for(self, function: str) -> SerDes:
        """The codec values of `function` are stored with (it must be registered here)."""
        return self.function(function).serdes or self.serdes

    def poke(self) -> None:
        if self._scheduler is not None:
            self._scheduler.poke()

    def capacity(self) -> int:
        return self.max_concurrent_executions - len(self._runs)

    def launch(self, record: ExecutionRecord, *, fresh: bool = False) -> None:
        """Run an execution this worker holds the lease of; `fresh` if it was just
        created here, so it has no operations to load.

        A claim always brings a new epoch: a run of the same execution still here lost its
        lease (its writes would be refused), so it is cancelled and the new run replaces it.
        """
        previous = self._runs.get(record.execution_id)
        if previous is not None:
            previous[1].cancel()
        self._broken.pop(record.execution_id, None)
        task = asyncio.create_task(
            self._run(record, fresh), name=f"execution-{record.execution_id}"
        )
        task.add_done_callback(_passed_on)
        self._runs[record.execution_id] = (None, task)

    async def _run(self, record: ExecutionRecord, fresh: bool) -> None:
        execution_id = record.execution_id
        outcome = RunOutcome.DROPPED
        ending: FinishExecution | None = None
        me = asyncio.current_task()
        try:
            function = self._functions[record.function]
            checkpoints = () if fresh else await self.store.load_operations(execution_id)
            run = self.new_run(record, Journal(checkpoints))
            if me is not None and self._runs.get(execution_id, (None, None))[1] is me:
                self._runs[execution_id] = (run, me)
            input_value = run.deserialize(record.input, run.serdes, None)
            outcome = await drive_until_deadline(run, function.fn, input_value)
            ending = run.finished
            # A suspended execution is due at its timeout at the latest (the store clamps).
            wakes = [t for t in (run.suspend_wake_at, record.timeout_at) if t is not None]
            wake_at = min(wakes, default=None)
            run_ended(self.logger, execution_id, outcome, wake_at)
            if outcome is RunOutcome.SUSPENDED and self._scheduler is not None:
                self._scheduler.wake_at(wake_at)
                if run.woken_while_suspending:  # e.g. a callback resolved as it suspended
                    self._scheduler.poke()
        except StoreError as exc:
            self.logger.error("execution %s stopped on a database error: %s", execution_id, exc)
            if isinstance(exc, DatabaseCorrupt):
                self._broken[execution_id] = exc
            # Hand it back, due in a second, rather than hold a lease that nothing here uses.
            with contextlib.suppress(Exception, LeaseLost):
                await self.store.commit(
                    Fence(execution_id, record.epoch), SuspendExecution(self.clock.now() + 1.0)
                )
        except Exception:
            self.logger.exception("execution %s failed inside the engine", execution_id)
        finally:
            if self._runs.get(execution_id, (None, None))[1] is me:
                self._runs.pop(execution_id, None)
            if execution_id in self._waiters:
                if ending is not None:  # what it committed: `wait_for` need not read it back
                    self._ended[execution_id] = (record, ending)
                self._wake_waiters(execution_id)
            if record.parent_id is not None:  # the invoking execution may go on
                parent = self.live_run(record.parent_id)
                if parent is not None:
                    parent.wake_external()
                else:
                    self.poke()
            if outcome is RunOutcome.DROPPED and self._scheduler is not None:
                self._scheduler.poke()

    # -- callbacks ---------------------------------------------------------------------

    async def send_callback_success(self, callback_id: str, result: Any = None) -> None:
        """Resolve a callback with `result`; works from any process open on the same file."""
        check_instance(callback_id, str, "callback_id")
        self._require_open()
        function = await self.store.callback_function(callback_id)
        codec = None if function is None else self._codec_for(function)
        data = self._encode(result, "the callback result", codec)
        await self._resolve(callback_id, "SUCCEEDED", data, None)

    async def send_callback_failure(
        self, callback_id: str, error_type: str = "", message: str = "", data: Any = None
    ) -> None:
        """Resolve a callback as failed: the workflow's `cb.result()` raises CallbackFailedError."""
        check_instance(callback_id, str, "callback_id")
        check_instance(error_type, str, "error_type")
        check_instance(message, str, "message")
        self._require_open()
        info = ErrorInfo(
            kind="CallbackFailedError",
            error_type=error_type or "CallbackFailedError",
            message=message,
            data=data,
        )
        try:
            error = self._error_serdes.serialize(info.to_dict())
        except _serdes.SerDesError as exc:
            raise SerDesError(f"the failure data cannot be serialized: {exc}") from exc
        if len(error) > self.limits.payload_limit:
            raise PayloadTooLarge(len(error), self.limits.payload_limit, "the callback failure")
        await self._resolve(callback_id, "FAILED", None, error)

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell a callback with a heartbeat_timeout that its sender is still at work."""
        check_instance(callback_id, str, "callback_id")
        self._require_open()
        execution_id, op_id = await self.store.heartbeat_callback(callback_id, self.clock.now())
        run = self.live_run(execution_id)
        if run is not None:  # its wait re-reads the deadline the heartbeat pushed
            run.wake(op_id)

    async def _resolve(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None
    ) -> None:
        execution_id, op_id = await self.store.resolve_callback(
            callback_id, status, result, error, self.clock.now()
        )
        run = self.live_run(execution_id)
        if run is None or not run.wake(op_id):
            assert self._scheduler is not None
            self._scheduler.poke()

    def _encode(self, value: Any, what: str, codec: SerDes | None = None) -> bytes:
        """`value` serialized, or SerDesError / PayloadTooLarge before anything is stored."""
        try:
            data = (codec or self.serdes).serialize(value)
        except _serdes.SerDesError as exc:
            raise SerDesError(f"{what} cannot be serialized: {exc}") from exc
        if len(data) > self.limits.payload_limit:
            raise PayloadTooLarge(len(data), self.limits.payload_limit, what)
        return data

    def drop_all(self) -> None:
        """This worker lost its lease: abandon every execution it was running."""
        for _, task in list(self._runs.values()):
            task.cancel()

    def external_change(self) -> None:
        """Another process committed: whoever waits for an execution looks again."""
        for execution_id in list(self._waiters):
            self._wake_waiters(execution_id)
        for run, _ in self._runs.values():
            if run is not None:
                run.wake_external()

    def _wake_waiters(self, execution_id: str) -> None:
        woken = self._waiters.get(execution_id)
        if woken is not None and not woken.done():
            woken.set_result(None)

    def live_run(self, execution_id: str) -> ExecutionRun | None:
        entry = self._runs.get(execution_id)
        return None if entry is None else entry[0]


def _check_signature(fn: Callable[..., Any]) -> None:
    """Refuse at registration a function that cannot be called as `fn(ctx, input)`."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"a durable function is called as f(ctx, input), which "
            f"{getattr(fn, '__qualname__', fn)}{signature} cannot take"
        ) from None


def _passed_on(task: asyncio.Task[None]) -> None:
    """A run ends with an exception only when it is SystemExit or KeyboardInterrupt,
    which the loop passes on to its caller: mark it seen, so it is not reported again
    as never retrieved when the task is collected."""
    if not task.cancelled():
        task.exception()
