"""One execution in memory while a worker holds its lease: the interface operations use.

An operation asks the run three kinds of thing: what the history says (`journal`),
to record an outcome (`checkpoint`, `write`, and the few writes that carry more than
an operation row: a callback, a child execution, a batch's cancellations), and to
wait (`block`, with `Suspension` deciding when the run leaves memory). Values go
through `values`, the execution's `ValueConverter`. The store behind it is reached
only here: operations never see it nor build its records.

A deferred commit (`defer`, a step with `defer_commit=True`) is queued and not
waited for: the run keeps it, and waits for every one it keeps (`settle`) before
anything the world outside may act on: an at-most-once step, a wait or any other
block, a callback, an invoked execution, a batch's end, a suspension and the
execution's end. The store lands one execution's writes in the order they were
queued, and once one of them fails the run writes nothing more, so no checkpoint
ever lands without the ones before it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol, cast

from serdes import SerDes

from ._clock import Clock
from ._converter import ValueConverter
from ._errors import FunctionNotRegistered, NonDeterministicError, StoreError
from ._events import emit
from ._journal import Journal, Mismatch, Outcome
from ._models import Checkpoint, ExecutionRecord, OperationStatus, OperationType
from ._replaying import NoStore, Replay
from ._store import (
    CancelOperations,
    EndAttempt,
    Fence,
    FinishExecution,
    LeaseLost,
    Mutation,
    NewExecution,
    PutCallback,
    SetCustomStatus,
    Store,
    operation_of,
)
from ._suspension import RunState, Suspend, Suspension

if TYPE_CHECKING:
    from ._telemetry import Telemetry

__all__ = ["DEFER_LIMIT", "ExecutionRun", "RunHost", "Suspend", "cancelling"]

DEFER_LIMIT = 256
"""Every this many deferred commits outstanding, a deferred step gives the loop a turn
(an `async def` body that never awaits would otherwise never let the writer run); at
four times this many it waits for them all."""

_CANCELLED = OperationStatus.CANCELLED


class _Done:
    """An awaitable that is already complete."""

    def __await__(self) -> Any:
        return
        yield


_DONE = _Done()


async def _in_order(first: Awaitable[None], then: Awaitable[None]) -> None:
    """Wait for two queued commits; the second is waited for even if the first fails."""
    try:
        await first
    finally:
        await then


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
        "_deferred",
        "_loop_thread",
        "_status_sent",
        "_store",
        "clock",
        "continued",
        "custom_status",
        "execution_id",
        "fatal",
        "fence",
        "finished",
        "host",
        "in_body",
        "journal",
        "logger",
        "main_task",
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
        threads: Executor | None = None,
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
        self.continued: ExecutionRecord | None = None
        """The execution as stored once this run continued as new: its next run."""
        self.finished: FinishExecution | None = None
        """The ending this run committed, once it has (set by the executor)."""
        self.fatal: NonDeterministicError | None = None
        """Set once replay diverged: the execution fails even if user code caught it."""
        self.main_task: asyncio.Task[Any] | None = None
        """The task the workflow function runs in (set by its driver): the one task
        that may continue the execution as new."""
        self.in_body: set[Awaitable[Any]] = set()
        """The step bodies being awaited: no operation may be called from inside one."""
        self._loop_thread = threading.get_ident()
        self._closed: list[str] = []
        self._deferred: deque[asyncio.Future[None]] | None = None
        """The deferred commits not yet known to have landed, oldest first (made at the
        first one: most runs never defer)."""

        self.custom_status: bytes | None = record.custom_status
        """The custom status the code set last, serialized (`ctx.set_custom_status`)."""
        self._status_sent = self.custom_status
        """The custom status stored or queued: the same object while nothing is new."""
        history: Journal | Replay = journal if replay is None else replay
        # Bound once rather than forwarded: every operation asks it first.
        self.resolve: Callable[[str, OperationType, str | None], Outcome] = history.resolve
        """What to do with operation `op_id` asked for as `type_` named `name`."""

    def block(self, op_id: str, wake_at: float | None, due: float | None = None) -> Awaitable[None]:
        """Wait until `wake_at` or a wake-up; raises Suspend if the run leaves memory.
        `due`: the same moment on the clock's monotonic time, for a wait begun here
        (`Suspension.block`). Every deferred commit lands first."""
        if self.replay is not None:
            return self.replay.block(op_id, wake_at)
        if self._deferred:
            return self._settled_block(op_id, wake_at, due)
        return self.waits.block(op_id, wake_at, due)

    def began(self, seconds: float) -> tuple[float, float]:
        """A wait of `seconds` beginning now: when it ends on the wall clock (what is
        stored) and on the monotonic clock (what a timer in memory measures)."""
        clock = self.clock
        return clock.now() + seconds, clock.monotonic() + seconds

    async def _settled_block(self, op_id: str, wake_at: float | None, due: float | None) -> None:
        await self.settle()
        await self.waits.block(op_id, wake_at, due)

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
        if self._deferred:
            self._check_deferred()
        if type(mutation) is Checkpoint:
            self.journal.record(mutation)
        else:
            self._record_other(mutation)
        if self.custom_status is not self._status_sent:
            return _in_order(self.send_custom_status(), self._store.commit(self.fence, mutation))
        return self._store.commit(self.fence, mutation)

    # -- deferred commits ----------------------------------------------------

    def defer(self, mutation: Mutation) -> Coroutine[Any, Any, None] | None:
        """Queue `mutation` and go on without waiting for its commit; `settle` waits.

        Every `DEFER_LIMIT` deferred commits, returns something for the caller to await:
        a turn of the loop, so that the writer takes what has gathered while the run
        goes on (an `async def` body that never awaits would otherwise never let it);
        or, with four times that many outstanding, `settle`, which bounds what is held."""
        if self.replay is not None:
            self.replay.write(mutation)  # a write the history holds passes; else it ends
            return None
        commit = self.write(mutation)
        if not isinstance(commit, asyncio.Future):
            commit = asyncio.ensure_future(commit)
        deferred = self._deferred
        if deferred is None:
            deferred = self._deferred = deque()
        deferred.append(commit)
        outstanding = len(deferred)
        if outstanding % DEFER_LIMIT:
            return None
        return self.settle() if outstanding >= 4 * DEFER_LIMIT else asyncio.sleep(0)

    async def settle(self) -> None:
        """Wait until every deferred commit of this run has landed (counted as work, so
        the run does not suspend meanwhile); raises as the first that failed did."""
        deferred = self._deferred
        while deferred:
            self._check_deferred()
            if not deferred:
                return
            self.waits.begin_work()
            try:
                # Not `await` on the future: cancelling this task must not cancel the
                # write's future, which others may look at.
                await asyncio.wait((deferred[-1],))
            finally:
                self.waits.end_work()

    def _check_deferred(self) -> None:
        """Forget the deferred commits that landed, oldest first; raise if one failed:
        then this run may write nothing more, or a later checkpoint could land without
        the one that failed."""
        deferred = self._deferred
        assert deferred is not None
        while deferred:
            first = deferred[0]
            if not first.done():
                return
            if not first.cancelled() and (error := first.exception()) is not None:
                if isinstance(error, LeaseLost):
                    raise LeaseLost(self.execution_id)
                raise StoreError(
                    f"execution {self.execution_id}: a deferred commit failed ({error}); "
                    "nothing more is written, the execution resumes from what was committed"
                ) from error
            deferred.popleft()

    def set_custom_status(self, data: bytes) -> None:
        """Keep `data` as the custom status, to be committed with the next write.

        A replay sets again the values it set before: one equal to what is stored is no
        change, and an older one is overwritten before any write goes out, since replay
        runs no further than the history before anything new is written."""
        self.custom_status = self._status_sent if data == self._status_sent else data

    async def continue_as_new(self, data: bytes | None, keep_history: bool) -> ExecutionRecord:
        """Switch the execution to its next run with input `data` (the custom status set
        last is committed first); returns the execution as now stored. Raises LeaseLost
        if this run's lease is gone."""
        await self.settle()
        await self.send_custom_status()
        return await self.waits.during(
            self._store.continue_as_new(self.fence, data, self.now(), keep_history=keep_history)
        )

    def send_custom_status(self) -> Awaitable[None]:
        """Queue the custom status for commit now, if it changed since it was last
        queued; the awaitable is its commit."""
        data = self.custom_status
        if data is self._status_sent or data is None or self.replay is not None:
            return _DONE
        self._status_sent = data
        return self._store.commit(self.fence, SetCustomStatus(data))

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
        """Record `operation` with the pending callback it waits on (its `ref`), together
        (once every deferred commit has landed: its id goes out to the world)."""
        await self.settle()
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

    async def receive_event(self, operation: Checkpoint) -> Checkpoint:
        """Receive the next event kept for `operation`'s name, or begin waiting for one;
        returns the operation as stored now."""
        with self.waits.working():
            fresh = await self._store.receive_event(self.fence, operation, self.now())
        self.journal.record(fresh)
        return fresh

    async def time_out_event(self, operation: Checkpoint, error: bytes) -> Checkpoint:
        """End the wait of `operation` as timed out unless an event came first; returns
        the operation as stored now."""
        with self.waits.working():
            fresh = await self._store.time_out_event(self.fence, operation.op_id, self.now(), error)
        fresh = operation if fresh is None else fresh
        self.journal.record(fresh)
        return fresh

    async def start_child_execution(
        self, execution_id: str, function: str, input: bytes, created_at: float
    ) -> None:
        """Create an execution invoked by this one, for any worker to run (a second call
        with the same id finds the first one's row), once every deferred commit landed."""
        await self.settle()
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
        for commit in self._deferred or ():  # nobody will look: their failures are moot
            commit.add_done_callback(_observe)


def _observe(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
