"""`DurableTestRunner`: a real engine on a private database, on virtual time.

Every execution runs on a real `Engine` (the same scheduler, store, suspension and
replay as in production) whose clock is a `VirtualClock`, on a private SQLite
database (in memory by default). Blocked executions leave memory at once
(`in_memory_wait=0`), so each wake-up is a replay of the stored history.

Time rule: only `run()`, `result()`, `wait_for_callback()` and `advance()` move
virtual time. Whenever the engine is idle (no execution can move on without time
passing), `run` and `result` jump the clock to the earliest armed timer (a wait, a
retry delay, a poll interval, a callback's timeout or heartbeat timeout, an
execution timeout). `wait_for_callback` jumps only until the callback exists, never
while it is pending, so a test always gets to answer a callback before its timeout
passes. With `skip_time=False` the clock moves only through `advance()`.
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, cast

import anyio

from .._context import DurableContext
from .._engine import Engine, ExecutionHandle
from .._errors import DurableError, ExecutionNotFound
from .._history_file import HistoryFileError, history_from_json
from .._models import (
    ExecutionRecord,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    op_position,
    timestamp_to_datetime,
)
from .._store import SqliteStore, Store
from ._clock import VirtualClock
from ._idle import IdleProbe, TrackedStore
from ._replay import replay_execution, replay_record
from ._results import PendingCallback, TestResult

__all__ = ["DurableRunnerFactory", "DurableTestRunner", "ExecutionStuck"]

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]
Functions = Engine | Workflow | Iterable[Workflow] | Mapping[str, Workflow]
Execution = ExecutionHandle[Any] | str

_MAX_OVERDUE_POKES = 50


class DurableRunnerFactory(Protocol):
    """The `durable_runner` fixture: makes a `DurableTestRunner` to use with `async with`."""

    def __call__(self, *functions: Functions, **options: Any) -> DurableTestRunner: ...


class ExecutionStuck(DurableError):
    """The execution cannot end: nothing is running and no timer may be skipped to."""


class DurableTestRunner:
    """Runs durable functions on a private database and a virtual clock.

    `functions` is an `Engine` (its registered functions, codec and payload limit
    are used; its database is not touched), one `async def` durable function, an
    iterable of them (registered under their `__qualname__`), or a mapping from
    name to function. Use it as `async with DurableTestRunner(...) as runner:`.
    """

    def __init__(
        self,
        functions: Functions,
        *,
        skip_time: bool = True,
        start: datetime | float | None = None,
        database: str | os.PathLike[str] | None = None,
        temp_file: bool = False,
    ) -> None:
        """`start`: the virtual clock's first instant (default: now). `database`: a
        file to keep the database in; `temp_file=True` uses a fresh temporary file;
        by default it lives in memory."""
        self.skip_time = skip_time
        self.clock = VirtualClock(start)
        self._temp_dir: str | None = None  # made on entering, removed on leaving
        if temp_file and database is None:
            name = f"durable-test-{secrets.token_hex(8)}"
            self._temp_dir = os.path.join(tempfile.gettempdir(), name)
            database = os.path.join(self._temp_dir, "test.db")
        path = ":memory:" if database is None else os.fspath(database)
        self._store = TrackedStore(SqliteStore(path))
        source = functions if isinstance(functions, Engine) else None
        self.engine = Engine(
            path,
            serdes=None if source is None else source.serdes,
            payload_limit=256 * 1024 if source is None else source.values.payload_limit,
            in_memory_wait=0,
            clock=self.clock,
            store=cast(Store, self._store),
        )
        if source is not None:
            for registered in source.registry.functions():
                self.engine.durable_function(name=registered.name, serdes=registered.serdes)(
                    registered.fn
                )
        else:
            self.register(cast("Workflow | Iterable[Workflow] | Mapping[str, Workflow]", functions))
        self._probe = IdleProbe(self.engine, self._store)
        self._children = 0
        self._overdue_pokes = 0

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> DurableTestRunner:
        if self._temp_dir is not None:
            os.mkdir(self._temp_dir, 0o700)
        try:
            await self.engine.open()
        except BaseException:
            self._remove_temp_dir()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the engine and drop the private database."""
        try:
            await self.engine.close()
        finally:
            self._remove_temp_dir()

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def register(self, functions: Workflow | Iterable[Workflow] | Mapping[str, Workflow]) -> None:
        """Register more durable functions (e.g. ones a workflow invokes)."""
        if isinstance(functions, Mapping):
            for name, fn in functions.items():
                self.engine.durable_function(name=name)(fn)
        elif callable(functions):
            self.engine.durable_function(functions)
        else:
            for fn in functions:
                self.engine.durable_function(fn)

    # -- time --------------------------------------------------------------------

    def now(self) -> datetime:
        """The virtual time, as an aware UTC datetime."""
        return self.clock.now_datetime()

    async def advance(self, delta: timedelta | float) -> None:
        """Move virtual time forward by `delta`, letting every timer due on the way fire
        at its own instant, and return once the engine is idle again."""
        self._require_open()
        target = self.clock.now() + (
            delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        )
        if target < self.clock.now():
            raise ValueError("advance() takes a non-negative length of time")
        while True:
            await self._probe.settle()
            due = self.clock.next_timer()
            if due is None or due > target:
                break
            self.clock.advance_to(due)
        self.clock.advance_to(target)
        await self._probe.settle()

    async def settle(self) -> None:
        """Let the engine do everything it can without time passing."""
        self._require_open()
        await self._probe.settle()

    # -- running -----------------------------------------------------------------

    async def start(
        self,
        fn_or_name: Workflow | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
    ) -> ExecutionHandle[Any]:
        """Start an execution and return its handle at once (time does not move)."""
        self._require_open()
        target = self._function(fn_or_name)
        return await self.engine.start(
            target, input, execution_name=execution_name, timeout=timeout
        )

    async def run(
        self,
        fn_or_name: Workflow | str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109 - the execution's timeout
    ) -> TestResult:
        """Start an execution and drive it to its end, skipping the time it waits."""
        handle = await self.start(fn_or_name, input, execution_name=execution_name, timeout=timeout)
        return await self.result(handle)

    async def run_child(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> TestResult:
        """Run `fn(child_ctx, *args)` as a child context of a throwaway durable function,
        to test a block of operations on its own."""
        self._children += 1
        label = getattr(fn, "__name__", "child")
        key = f"run_child:{getattr(fn, '__qualname__', label)}#{self._children}"

        async def child_workflow(ctx: DurableContext, _: Any) -> Any:
            return await ctx.run_in_child_context(lambda child: fn(child, *args), name=label)

        self.engine.durable_function(name=key)(child_workflow)
        return await self.run(key)

    async def result(self, execution: Execution) -> TestResult:
        """Drive the execution to its end (skipping waits unless `skip_time=False`), or
        until it is BLOCKED: its code diverged from its history (the result's `error`
        says where)."""
        self._require_open()
        execution_id = _id_of(execution)
        while True:
            await self._probe.settle()
            record = await self._record(execution_id)
            if record.status.is_terminal or record.status is ExecutionStatus.BLOCKED:
                return await self.snapshot(execution_id)
            if not await self._step_time(may_skip=self.skip_time):
                raise await self._stuck(record, "end")

    async def snapshot(self, execution: Execution) -> TestResult:
        """The execution as it stands now, once the engine is idle (time does not move)."""
        self._require_open()
        execution_id = _id_of(execution)
        await self._probe.settle()
        info = await self.engine.get_execution(execution_id)
        tree = await self.engine.get_operations(execution_id)
        return TestResult.build(info, tree)

    async def replay(self, execution: Execution, *, fn: Workflow | None = None) -> Any:
        """Re-run the execution's function (or `fn`) against its stored history, running
        no operation; NonDeterministicError if the code diverges. Returns the function's
        result, or None if the history ends before the function does."""
        self._require_open()
        await self._probe.settle()
        return await replay_execution(self.engine, _id_of(execution), fn)

    async def replay_history(self, path: str | os.PathLike[str], fn: Workflow | None = None) -> Any:
        """Replay a history file written by `durable-engine export` against `fn`
        (default: the function registered here under the history's function name),
        running nothing: a golden history kept beside the tests. Returns and raises as
        `replay` does (NonDeterministicError if the code diverges); HistoryFileError
        for a file that is not such a history."""
        self._require_open()
        text = await anyio.Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HistoryFileError(f"{os.fspath(path)} is not JSON: {exc}") from None
        record, checkpoints = history_from_json(data)
        return await replay_record(self.engine, record, fn, checkpoints)

    # -- callbacks ---------------------------------------------------------------

    async def wait_for_callback(
        self, execution: Execution, name: str | None = None
    ) -> PendingCallback:
        """The first pending callback (named `name`, if given) of the execution or of the
        executions it invoked, once the execution is blocked on it. Virtual time moves
        only while no such callback exists yet."""
        self._require_open()
        execution_id = _id_of(execution)
        while True:
            await self._probe.settle()
            pending = await self.pending_callbacks(execution_id)
            for callback in pending:
                if name is None or callback.name == name:
                    return callback
            record = await self._record(execution_id)
            wanted = "a callback" if name is None else f"a callback named {name!r}"
            if record.status.is_terminal:
                result = await self.snapshot(execution_id)
                callbacks = result.find_operations(type=OperationType.CALLBACK)
                listed = ", ".join(f"{op.name!r} {op.status}" for op in callbacks) or "none"
                raise ExecutionStuck(
                    f"execution {execution_id} ended {record.status.value} without waiting "
                    f"for {wanted} (its callbacks, answered or not: {listed}; "
                    f"result {result.result!r}, error {result.error!r})"
                )
            if not await self._step_time(may_skip=self.skip_time):
                raise await self._stuck(record, f"create {wanted}")

    async def pending_callbacks(self, execution: Execution) -> list[PendingCallback]:
        """Callbacks not yet answered of the execution and the executions it invoked."""
        self._require_open()
        out: list[PendingCallback] = []
        queue = [_id_of(execution)]
        while queue:
            execution_id = queue.pop(0)
            for cp in sorted(
                await self.engine.store.load_operations(execution_id),
                key=lambda c: op_position(c.op_id),
            ):
                if cp.type == OperationType.CALLBACK and cp.status == OperationStatus.STARTED:
                    out.append(
                        PendingCallback(
                            callback_id=cp.ref or "",
                            name=cp.name,
                            operation_id=cp.op_id,
                            execution_id=execution_id,
                            created_at=_dt(cp.started_at),
                            deadline=_dt(cp.wake_at),
                        )
                    )
            children = await self.engine.store.list_executions(parent_id=execution_id)
            queue.extend(child.execution_id for child in children)
        return out

    async def send_callback_success(self, callback_id: str, result: Any = None) -> None:
        """Answer a callback; the execution moves on as far as it can without time passing."""
        self._require_open()
        await self.engine.send_callback_success(callback_id, result)
        await self._probe.settle()

    async def send_callback_failure(
        self, callback_id: str, error_type: str = "", message: str = "", data: Any = None
    ) -> None:
        """Fail a callback: the workflow's wait raises CallbackFailedError."""
        self._require_open()
        await self.engine.send_callback_failure(callback_id, error_type, message, data)
        await self._probe.settle()

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Push back a callback's heartbeat timeout, from the current virtual time."""
        self._require_open()
        await self.engine.send_callback_heartbeat(callback_id)
        await self._probe.settle()

    # -- internals ---------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.engine.is_open:
            raise RuntimeError(
                "the runner is not open: use it inside `async with DurableTestRunner(...) as r:`"
            )

    def _function(self, fn_or_name: Workflow | str) -> Workflow | str:
        """A function not registered yet is registered under its `__qualname__`."""
        if isinstance(fn_or_name, str):
            return fn_or_name
        if not any(r.fn is fn_or_name for r in self.engine.registry.functions()):
            if not inspect.iscoroutinefunction(fn_or_name):
                raise TypeError(f"a durable function must be `async def`, not {fn_or_name!r}")
            self.engine.durable_function(fn_or_name)
        return fn_or_name

    async def _record(self, execution_id: str) -> ExecutionRecord:
        record = await self.engine.store.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFound(f"no execution with id {execution_id!r}")
        return record

    async def _step_time(self, *, may_skip: bool) -> bool:
        """The engine is idle and the execution has not got where it should: make it
        due if it is overdue, or move the clock to the next timer. False if neither."""
        due = await self.engine.store.next_wake_at(self.engine.function_keys())
        if due is not None and due <= self.clock.now():
            # Claimable now, yet nothing claimed it: poke the scheduler, a few times at most.
            self._overdue_pokes += 1
            if self._overdue_pokes <= _MAX_OVERDUE_POKES:
                self.engine.poke()
                return True
            return False
        self._overdue_pokes = 0
        nxt = self.clock.next_timer()
        if not may_skip or nxt is None:
            return False
        self.clock.advance_to(nxt)
        return True

    async def _stuck(self, record: ExecutionRecord, goal: str) -> ExecutionStuck:
        pending = await self.pending_callbacks(record.execution_id)
        waits = ", ".join(f"{c.name or c.operation_id!r}" for c in pending) or "none"
        nxt = self.clock.next_timer()
        if nxt is not None and not self.skip_time:
            hint = (
                f"the next timer is due at {_dt(nxt)} and skip_time is off: "
                "move the clock with `await runner.advance(...)`"
            )
        elif pending:
            hint = (
                "answer its callback first: `cb = await runner.wait_for_callback(handle)`, "
                "then `await runner.send_callback_success(cb.callback_id, value)`"
            )
        else:
            hint = "nothing is scheduled that could wake it"
        return ExecutionStuck(
            f"execution {record.execution_id} ({record.function}) cannot {goal}: it is "
            f"{record.status.value}, waiting for callbacks: {waits}; {hint}"
        )


def _id_of(execution: Execution) -> str:
    return execution if isinstance(execution, str) else execution.execution_id


def _dt(ts: float | None) -> datetime | None:
    return timestamp_to_datetime(ts)
