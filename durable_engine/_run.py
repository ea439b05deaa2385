"""One execution in memory while a worker holds its lease: the interface operations use.

An operation asks the run three kinds of thing: what the history says (`journal`),
to record an outcome (`checkpoint`, `write`, and the few writes that carry more than
an operation row: a callback, a child execution, a batch's cancellations), and to
wait (`block`, with `Suspension` deciding when the run leaves memory). Values go
through `values`, the execution's `ValueConverter`. The store behind it is reached
only here: operations never see it nor build its records.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, cast

from serdes import SerDes

from ._clock import Clock
from ._converter import ValueConverter
from ._errors import FunctionNotRegistered, NonDeterministicError
from ._events import emit
from ._journal import Journal, Mismatch, Outcome
from ._models import Checkpoint, ExecutionRecord, OperationStatus, OperationType
from ._replaying import NoStore, Replay
from ._store import (
    CancelOperations,
    EndAttempt,
    Fence,
    FinishExecution,
    Mutation,
    NewExecution,
    PutCallback,
    Store,
    operation_of,
)
from ._suspension import RunState, Suspend, Suspension

if TYPE_CHECKING:
    from ._telemetry import Telemetry

__all__ = ["ExecutionRun", "RunHost", "Suspend", "cancelling"]

_CANCELLED = OperationStatus.CANCELLED


def cancelling(exc: BaseException) -> bool:
    """Whether `exc` is the cancellation of the task running this code (the engine
    unwinding a run, a timeout around it), which must go on up. A CancelledError that
    user code raised while its own task is not being cancelled (it awaited a task that
    was) is an error like any other: it fails the operation, and a retry may follow."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


class RunHost(Protocol):
    """What a run may ask of the engine that runs it."""

    def codec_for(self, function: str) -> SerDes:
        """The codec of a registered function; FunctionNotRegistered if there is none."""
        ...

    def newest_version(self, function: str) -> int:
        """The newest registered version of `function`: what an invoke starts."""
        ...

    def poke(self) -> None:
        """Look for due work now (an execution was created or woken)."""
        ...


class ExecutionRun:
    """The in-memory state of one execution while a worker holds its lease."""

    __slots__ = (
        "_closed",
        "_loop_thread",
        "_store",
        "clock",
        "execution_id",
        "fatal",
        "fence",
        "finished",
        "host",
        "in_body",
        "journal",
        "logger",
        "now",
        "record",
        "replay",
        "resolve",
        "telemetry",
        "threads",
        "values",
        "waits",
    )

    def __init__(
        self,
        *,
        record: ExecutionRecord,
        journal: Journal,
        store: Store,
        values: ValueConverter,
        clock: Clock,
        in_memory_wait: float,
        logger: logging.Logger,
        host: RunHost | None = None,
        replay: Replay | None = None,
        threads: ThreadPoolExecutor | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.record = record
        self.telemetry = telemetry
        """Traces and metrics of this run, or None when they are off (the usual case)."""
        self.host = host
        self.threads = threads
        """The threads sync step bodies run in (None: the loop's default executor)."""
        self.execution_id = record.execution_id
        self.fence = Fence(record.execution_id, record.epoch)
        self.journal = journal
        self.replay = replay
        """Set in replay mode: nothing is written, nothing runs, the history's end stops it."""
        self._store: Store = store if replay is None else cast(Store, NoStore(replay))
        self.values = values
        """The execution's value path: codec, payload limit, error encoding."""
        self.clock = clock
        self.now: Callable[[], float] = clock.now
        """The clock's time (seconds since the epoch)."""
        self.logger = logger
        self.waits = Suspension(clock, in_memory_wait)
        """Blocked operations and work in flight: when the run leaves memory."""
        self.finished: FinishExecution | None = None
        """The ending this run committed, once it has (set by the executor)."""
        self.fatal: NonDeterministicError | None = None
        """Set once replay diverged: the execution fails even if user code caught it."""
        self.in_body: set[Awaitable[Any]] = set()
        """The step bodies being awaited: no operation may be called from inside one."""
        self._loop_thread = threading.get_ident()
        self._closed: list[str] = []
        history: Journal | Replay = journal if replay is None else replay
        # Bound once rather than forwarded: every operation asks it first.
        self.resolve: Callable[[str, OperationType, str | None], Outcome] = history.resolve
        """What to do with operation `op_id` asked for as `type_` named `name`."""

    def block(self, op_id: str, wake_at: float | None) -> Awaitable[None]:
        """Wait until `wake_at` or a wake-up; raises Suspend if the run leaves memory."""
        if self.replay is not None:
            return self.replay.block(op_id, wake_at)
        return self.waits.block(op_id, wake_at)

    @property
    def suspended(self) -> bool:
        """Whether every branch was blocked and the run is leaving memory."""
        return self.waits.state is RunState.SUSPENDING

    def inside_body(self) -> bool:
        """Whether the caller runs inside a step's body: a body coroutine is running
        (not merely suspended while other code runs), or this is a worker thread, where
        only a sync body runs."""
        if threading.get_ident() != self._loop_thread:
            return True
        return any(getattr(body, "cr_running", False) for body in self.in_body)

    # -- writes --------------------------------------------------------------

    def close_prefix(self, op_id: str) -> None:
        """Refuse every later write of operation `op_id` and of everything under it."""
        self._closed.append(op_id)

    def _is_closed(self, mutation: Mutation) -> bool:
        written = operation_of(mutation)
        if written is None:
            return False
        op = written.op_id
        return any(op == c or op.startswith(c + "/") for c in self._closed)

    def checkpoint(self, mutation: Mutation) -> Coroutine[Any, Any, None]:
        """Commit `mutation` under this run's lease, counted as work until it is done. A
        refused write raises LeaseLost, which ends the run. (The write is queued at the
        call; the one coroutine is the wait for its commit.)"""
        return self.waits.during(self.write(mutation))

    def write(self, mutation: Mutation) -> Awaitable[None]:
        """Queue `mutation` under this run's lease; the awaitable is its commit.

        `checkpoint` without a coroutine around it, for a caller that counts as working
        (`begin_work`) until the write is done, so the run cannot suspend meanwhile: a
        step's body and its outcome are one piece of work."""
        if self.replay is not None:
            return self.replay.write(mutation)
        if self._closed and self._is_closed(mutation):
            raise asyncio.CancelledError("the batch this operation belongs to was decided")
        if type(mutation) is Checkpoint:
            self.journal.record(mutation)
        else:
            self._record_other(mutation)
        return self._store.commit(self.fence, mutation)

    def _record_other(self, mutation: Mutation) -> None:
        written = operation_of(mutation)
        if written is not None:
            self.journal.record(written)
        if isinstance(mutation, CancelOperations):
            for record in mutation.records:
                self.journal.record(record)
            for op_id in mutation.open_ops:
                cp = self.journal.get(op_id)
                if cp is not None:
                    self.journal.record(cp._replace(status=_CANCELLED, ended_at=mutation.ended_at))

    def put(
        self,
        op_id: str,
        parent_id: str | None,
        type_: OperationType,
        name: str | None,
        status: OperationStatus,
        **fields: Any,
    ) -> Checkpoint:
        """The record of operation `op_id` of this execution."""
        return Checkpoint(self.execution_id, op_id, parent_id, type_, name, status, **fields)

    @staticmethod
    def ended_attempt(
        operation: Checkpoint, started_at: float | None, ended_at: float
    ) -> EndAttempt:
        """Write `operation`, a step whose attempt just ended, keeping that attempt (begun
        at `started_at`) in the step's history."""
        return EndAttempt(operation=operation, started_at=started_at, ended_at=ended_at)

    def codec_for(self, function: str) -> SerDes:
        """The codec of a function registered on the engine running this execution;
        FunctionNotRegistered if there is none."""
        if self.host is None:
            raise FunctionNotRegistered(f"no durable function named {function!r} is registered")
        return self.host.codec_for(function)

    # -- writes that carry more than an operation row ---------------------------

    async def start_callback(
        self,
        operation: Checkpoint,
        *,
        created_at: float,
        timeout_at: float | None,
        heartbeat_timeout: float | None,
    ) -> None:
        """Record `operation` with the pending callback it waits on (its `ref`), together."""
        await self.checkpoint(
            PutCallback(
                callback_id=operation.ref or "",
                operation=operation,
                created_at=created_at,
                timeout_at=timeout_at,
                heartbeat_timeout=heartbeat_timeout,
            )
        )

    async def reload(self, op_id: str) -> Checkpoint | None:
        """Operation `op_id` as stored now (a callback answered from outside)."""
        with self.waits.working():
            fresh = await self._store.load_operation(self.execution_id, op_id)
        if fresh is not None:
            self.journal.record(fresh)
        return fresh

    async def time_out_callback(self, operation: Checkpoint, error: bytes) -> Checkpoint:
        """Mark the callback of `operation` timed out if it is still pending and due;
        returns the operation as stored now."""
        with self.waits.working():
            fresh = await self._store.time_out_callback(
                self.fence, operation.ref or "", operation.op_id, self.now(), error
            )
        self.journal.record(fresh)
        return fresh

    async def start_child_execution(
        self, execution_id: str, function: str, input: bytes, created_at: float
    ) -> None:
        """Create an execution invoked by this one, for any worker to run (a second call
        with the same id finds the first one's row)."""
        new = NewExecution(
            execution_id=execution_id,
            name=None,
            function=function,
            version=1 if self.host is None else self.host.newest_version(function),
            input=input,
            created_at=created_at,
            owner=None,
            parent_id=self.execution_id,
            trace_context=(
                None if self.telemetry is None else self.telemetry.new_trace(execution_id, function)
            ),
        )
        with self.waits.working():
            _, created = await self._store.create_execution(new)
        if created:
            emit(
                self.logger,
                "create",
                execution_id=execution_id,
                function=function,
                status="RUNNING",
                parent_id=self.execution_id,
            )
        if self.host is not None:
            self.host.poke()

    async def read_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Another execution's record (an invoked child's)."""
        with self.waits.working():
            return await self._store.get_execution(execution_id)

    async def cancel(
        self,
        operation: Checkpoint,
        records: Sequence[Checkpoint],
        open_ops: Sequence[str],
        ended_at: float,
    ) -> None:
        """Record `operation` and `records`, and end each of `open_ops` still open as
        CANCELLED with its pending callback, in one transaction."""
        await self.checkpoint(
            CancelOperations(
                operation=operation,
                records=tuple(records),
                open_ops=tuple(open_ops),
                ended_at=ended_at,
            )
        )

    # -- divergence ------------------------------------------------------------

    def diverged(self, what: str) -> NonDeterministicError:
        """The error for code that no longer matches the history (`what` says how); the
        first one is kept, so the execution fails even if user code catches it."""
        error = NonDeterministicError(f"execution {self.execution_id}: {what}")
        if self.fatal is None:
            self.fatal = error
        return error

    def nondeterminism(self, mismatch: Mismatch) -> NonDeterministicError:
        return self.diverged(mismatch.describe())

    def unasked(self, context_id: str | None = None) -> NonDeterministicError | None:
        """The error for code that ended context `context_id` (None: the execution)
        without asking for operations recorded in it before, or None."""
        described = self.journal.unasked(context_id)
        return None if described is None else self.diverged(described)

    def close(self) -> None:
        """The run is over: its context takes no more operations, its timers stop."""
        self.waits.end()
