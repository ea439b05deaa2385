"""The executor: the executions this worker runs, each one task that it owns.

A claimed execution is launched here: its journal is loaded in one query, a run is
made over it, and `drive_until_deadline` runs the workflow until it ends, suspends
or times out. The executor keeps the running set, hands each ending to whoever
waits for it, and unwinds everything on close. `replay` runs a stored history
against the code with nothing written and nothing run: the test kit and the
`replay` command use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor as ThreadsExecutor
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from serdes import SerDes

from ._clock import Clock
from ._context import DurableContext
from ._converter import ValueConverter
from ._drive import RunOutcome, Workflow, drive_until_deadline
from ._errors import (
    DatabaseCorrupt,
    NonDeterministicError,
    StoreError,
    StoreFailed,
    Unreadable,
)
from ._events import emit, run_ended
from ._inputs import parse_input
from ._journal import Journal
from ._models import Checkpoint, ExecutionRecord, ExecutionStatus
from ._operations.continue_as_new import ContinueAsNew
from ._registry import Registry
from ._replaying import Replay
from ._run import ExecutionRun, Suspend
from ._store import Fence, FinishExecution, LeaseLost, Store, SuspendExecution
from ._tasks import TaskHost
from ._telemetry import RunSpan, Telemetry

__all__ = ["Executor", "Replayed", "RunOutcome"]


DAMAGED_VALUE_RETRY = 60.0
"""Seconds before an execution handed back for a damaged stored value is due again."""


class Executor:
    """Runs the executions this worker holds the lease of."""

    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        values: ValueConverter,
        clock: Clock,
        in_memory_wait: float,
        max_running: int,
        max_step_threads: int,
        logger: logging.Logger,
        function_keys: Callable[[], Sequence[str]],
    ) -> None:
        self.store = store
        self.registry = registry
        self.values = values
        self.clock = clock
        self.in_memory_wait = in_memory_wait
        self.max_running = max_running
        self.max_step_threads = max_step_threads
        self.logger = logger
        self._function_keys = function_keys
        self.poke: Callable[[], None] = _nothing
        """Look for due work now: the scheduler's, once it runs."""
        self.wake_at: Callable[[float | None], None] = _ignore
        """Look for due work at an instant: the scheduler's, once it runs."""
        self.capacity_freed: Callable[[], None] = _nothing
        """A place to run an execution became free: the scheduler's, once it runs."""
        self.telemetry: Telemetry | None = None
        """Traces and metrics, or None when they are off."""
        self.hold_divergent = True
        """Whether an execution whose code diverged is BLOCKED (else FAILED)."""
        self.open = False
        self._reserved = 0
        self.tasks = TaskHost("durable-engine")
        self._start_task: Callable[..., asyncio.Task[None]] = _not_started
        """Owns every task the engine starts: the runs, the scheduler's loops."""
        self.threads: ThreadPoolExecutor | None = None
        """The threads sync step bodies run in, at most `max_step_threads` (made as the
        executor starts, shut down as it closes)."""
        self._runs: dict[str, asyncio.Task[None]] = {}
        """The task of each execution running here."""
        self._live: dict[str, ExecutionRun] = {}
        """The run of each execution running here, once its journal is loaded."""
        self._bodies: dict[str, set[Future[Any]]] = {}
        """The sync bodies of each execution still going in a thread, its runs' or an
        abandoned run's: a new run of it waits for them before it replays."""
        self._waiters: dict[str, asyncio.Future[None]] = {}
        """What waiters for an execution await: resolved when they should look again."""
        self._ended: dict[str, tuple[ExecutionRecord, FinishExecution]] = {}
        """How executions ended here, kept for their waiters until they look."""
        self._broken: dict[str, DatabaseCorrupt] = {}
        """Executions whose last run here stopped on a damaged database: what waiters get."""

    async def start(self) -> None:
        """Open the task group runs are started in."""
        self.threads = ThreadPoolExecutor(self.max_step_threads, thread_name_prefix="durable-step")
        await self.tasks.start()
        self._start_task = self.tasks.starter()

    # -- what the scheduler asks ----------------------------------------------------

    def function_keys(self) -> Sequence[str]:
        """`name@version` of each function version this engine runs."""
        return self._function_keys()

    def capacity(self) -> int:
        """How many more executions may run here (`max_running` less those running and
        those reserved by starts being created)."""
        return self.max_running - len(self._runs) - self._reserved

    def reserve(self) -> bool:
        """Hold a place for an execution being created here, if there is one: the
        creation then `launch`es it with `reserved=True`, or gives it back (`unreserve`)."""
        if self.capacity() <= 0:
            return False
        self._reserved += 1
        return True

    def unreserve(self) -> None:
        self._reserved -= 1
        self.capacity_freed()

    def launch(
        self, record: ExecutionRecord, *, fresh: bool = False, reserved: bool = False
    ) -> None:
        """Run an execution this worker holds the lease of; `fresh` if it was just
        created here, so it has no operations to load; `reserved` if its place was
        reserved for it (`reserve`).

        A claim always brings a new epoch: a run of the same execution still here lost its
        lease (its writes would be refused), so it is cancelled and the new run replaces it.
        """
        if reserved:
            self._reserved -= 1
        execution_id = record.execution_id
        previous = self._runs.get(execution_id)
        if previous is not None:
            previous.cancel()
        self._broken.pop(execution_id, None)
        name = f"execution-{execution_id}"
        run = self._run(record, fresh, previous)
        self._runs[execution_id] = self._start_task(run, name=name)

    async def drop_all(self) -> None:
        """This worker lost its lease: abandon every execution it was running, and
        return once their tasks have ended (a sync body may still be going in its
        thread: a later run of the same execution here waits for it)."""
        tasks = list(self._runs.values())
        for running in tasks:
            running.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def external_change(self) -> None:
        """Another process committed: whoever waits for an execution looks again."""
        self.wake_everyone()
        for run in self._live.values():
            run.waits.wake_external()

    def changed_elsewhere(self, execution_id: str) -> None:
        """Another process answered a callback or sent an event to `execution_id`, or
        an execution it invoked ended: its waiters and its run here look again."""
        self.wake_waiters(execution_id)
        run = self._live.get(execution_id)
        if run is not None:
            run.waits.wake_external()

    # -- the running set ----------------------------------------------------------------

    def is_running(self, execution_id: str) -> bool:
        return execution_id in self._runs

    def live_run(self, execution_id: str) -> ExecutionRun | None:
        return self._live.get(execution_id)

    def busy(self) -> bool:
        """Whether a run here is loading its journal or doing real work (a step body,
        a write): it will reach its next operation without anything from outside."""
        return len(self._live) < len(self._runs) or any(
            run.waits.busy for run in self._live.values()
        )

    def cancel(self, execution_id: str) -> None:
        """Unwind the run of `execution_id` here, if there is one (it was stopped)."""
        running = self._runs.get(execution_id)
        if running is not None:
            running.cancel()

    async def drain(self, grace: float) -> None:
        """Give the runs here now `grace` seconds to finish or suspend."""
        await self._runs_end(grace)

    async def close(self) -> None:
        """Unwind every run (each stays resumable), then every task the engine started."""
        self.open = False
        for running in self._runs.values():
            running.cancel()
        await self._runs_end(math.inf)
        self._start_task = _not_started
        if self.threads is not None:  # a body still running is abandoned, not waited for
            self.threads.shutdown(wait=False, cancel_futures=True)
            self.threads = None
        await self.tasks.aclose()

    async def _runs_end(self, seconds: float) -> None:
        """Wait up to `seconds` for the runs here now to leave the running set."""
        tasks = list(self._runs.values())
        if tasks:
            await asyncio.wait(tasks, timeout=None if math.isinf(seconds) else seconds)

    def wake_everyone(self) -> None:
        """Whoever waits for an execution looks again."""
        for execution_id in list(self._waiters):
            self.wake_waiters(execution_id)

    # -- one run --------------------------------------------------------------------------

    def new_run(
        self,
        record: ExecutionRecord,
        journal: Journal,
        replay: Replay | None = None,
        codec: SerDes | None = None,
    ) -> ExecutionRun:
        """A run of `record` over `journal`, with the function's codec (`codec`, if the
        caller has it already) and this engine's clock and limits (in replay mode with
        `replay`)."""
        if codec is None:
            codec = self.registry.codec_of(record.function, record.version)
        return ExecutionRun(
            record=record,
            journal=journal,
            store=self.store,
            replay=replay,
            values=self.values.bind(record.execution_id, codec),
            clock=self.clock,
            in_memory_wait=self.in_memory_wait,
            logger=self.logger,
            host=self,
            threads=None if self.threads is None else self._threads_for(record.execution_id),
            telemetry=self.telemetry if replay is None else None,
        )

    def _threads_for(self, execution_id: str) -> ThreadsExecutor | None:
        """The step threads as a run of `execution_id` uses them: its bodies are counted."""
        if self.threads is None:
            return None
        return _CountedThreads(self.threads, self._bodies.setdefault(execution_id, set()))

    def newest_version(self, function: str) -> int:
        """The newest registered version of `function`; FunctionNotRegistered if none."""
        return self.registry.get(function).version

    def codec_for(self, function: str) -> SerDes:
        """The codec of a function registered here (what a run's invoke reads with)."""
        return self.registry.codec_for(function)

    async def replay(
        self,
        record: ExecutionRecord,
        fn: Workflow | None = None,
        checkpoints: Sequence[Checkpoint] | None = None,
    ) -> Replayed:
        """Run `fn` (default: the function registered for `record`) over the execution's
        stored history (or `checkpoints`, a history from elsewhere) in replay mode:
        recorded outcomes come back, nothing is written, nothing runs, and the replay
        stops where the history ends."""
        if fn is None:
            fn = self.registry.get(record.function, record.version).fn
        if checkpoints is None:
            checkpoints = await self.store.load_operations(record.execution_id)
        journal = Journal(checkpoints)
        ended = record.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
        replay = Replay(journal, record.execution_id, ended)
        run = self.new_run(record, journal, replay)
        value: Any = None
        error: Exception | None = None
        try:
            given = parse_input(fn, run.values.decode(record.input, what="input"), record.function)
            value = await fn(DurableContext(run), given)
        except Suspend:
            pass
        except ContinueAsNew:
            if ended:  # this run ended by itself: a resume could not continue it
                replay.divergence = replay.divergence or NonDeterministicError(
                    f"execution {record.execution_id}: the code continues as new, but this "
                    f"run of the execution ended {record.status.value}"
                )
        except Unreadable as unreadable:  # this app cannot read what the history holds
            raise unreadable.error from None
        except StoreFailed as failed:  # a value of the history is damaged
            raise failed.error from None
        except Exception as exc:
            error = exc
        unasked = None
        if replay.frontier is None and error is None:
            unasked = journal.unasked()  # the code returned: a resume would end it so, too
        return Replayed(
            value=value,
            error=error,
            frontier=replay.frontier,
            divergence=run.fatal or replay.divergence,
            unasked=unasked,
            values=run.values,
        )

    async def _time_out(self, run: ExecutionRun, error: bytes) -> None:
        await run.send_custom_status()  # the last one set is kept as it ends
        await self.store.time_out_execution(run.fence, run.now(), error)

    async def _run(
        self, record: ExecutionRecord, fresh: bool, previous: asyncio.Task[None] | None = None
    ) -> None:
        execution_id = record.execution_id
        outcome = RunOutcome.DROPPED
        ending: FinishExecution | None = None
        me = asyncio.current_task()
        span: RunSpan | None = None
        try:
            await self._quiet(execution_id, previous)
            if self.telemetry is not None:
                record, span = await self._run_span(record, self.telemetry)
            function = self.registry.get(record.function, record.version)
            codec = self.registry.codec(function)
            checkpoints = () if fresh else await self.store.load_operations(execution_id)
            run = self.new_run(record, Journal(checkpoints), codec=codec)
            while True:
                if self._runs.get(execution_id) is me:  # not replaced by a newer claim
                    self._live[execution_id] = run
                outcome = await drive_until_deadline(
                    run, function.fn, self._time_out, self.hold_divergent
                )
                if outcome is not RunOutcome.CONTINUED or run.continued is None:
                    break
                # The next run starts at once, here, with an empty history.
                record = run.continued
                emit(
                    self.logger,
                    "continue_as_new",
                    execution_id=execution_id,
                    function=record.function,
                    status=record.status.value,
                    run_number=record.run_number,
                )
                run = self.new_run(record, Journal(()), codec=codec)
            ending = run.finished
            if ending is not None:  # a waiter is handed the record with what it committed
                record = record._replace(custom_status=run.custom_status)
            self._after(run, outcome)
        except StoreError as exc:
            await self._hand_back(record, exc)
        except StoreFailed as failed:  # a write of the run failed
            await self._hand_back(record, failed.error)
        except Exception:
            self.logger.exception("execution %s failed inside the engine", execution_id)
        finally:
            if span is not None:
                span.end(outcome.value)
            self._ran(record, me, ending, outcome)

    async def _quiet(self, execution_id: str, previous: asyncio.Task[None] | None) -> None:
        """Wait until nothing of an earlier run of `execution_id` is going here: its
        task (cancelled, unwinding) and the sync bodies it left in threads. So one
        process never runs the same body twice at once, whatever claims it makes."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        bodies = self._bodies.get(execution_id)
        if bodies:
            await asyncio.wait([asyncio.wrap_future(f) for f in list(bodies)])

    async def _run_span(
        self, record: ExecutionRecord, telemetry: Telemetry
    ) -> tuple[ExecutionRecord, RunSpan]:
        """The span of a run of `record`, in the execution's trace (begun now, for an
        execution created without telemetry)."""
        if record.trace_context is None:
            made = telemetry.new_trace(record.execution_id, record.function)
            stored = await self.store.set_trace_context(record.execution_id, made)
            record = record._replace(trace_context=stored or made)
        return record, telemetry.start_run(record)

    def _after(self, run: ExecutionRun, outcome: RunOutcome) -> None:
        """Log how a run ended; a suspended one is due again at its wake-up."""
        function = run.record.function
        if outcome is RunOutcome.BLOCKED:  # held: due at its timeout, if it has one
            run_ended(self.logger, run.execution_id, function, outcome, run.record.timeout_at)
            self.wake_at(run.record.timeout_at)
            return
        if outcome is not RunOutcome.SUSPENDED:
            run_ended(
                self.logger, run.execution_id, function, outcome, None, _error_of(run, outcome)
            )
            return
        # A suspended execution is due at its timeout at the latest (the store clamps).
        wakes = [t for t in (run.waits.wake_at, run.record.timeout_at) if t is not None]
        wake_at = min(wakes, default=None)
        run_ended(self.logger, run.execution_id, function, outcome, wake_at)
        self.wake_at(wake_at)
        if run.waits.woken_while_suspending:  # a callback resolved as it suspended
            self.poke()

    async def _hand_back(self, record: ExecutionRecord, exc: StoreError) -> None:
        """A run stopped on a database error: hand the execution back, due in a second,
        rather than hold a lease that nothing here uses (due in a minute if one of its
        values is damaged: that does not pass by itself, and the log says it each time)."""
        execution_id = record.execution_id
        self.logger.error("execution %s stopped on a database error: %s", execution_id, exc)
        delay = 1.0
        if isinstance(exc, DatabaseCorrupt):
            self._broken[execution_id] = exc
            if exc.execution_id is not None:
                delay = DAMAGED_VALUE_RETRY
        with contextlib.suppress(Exception, LeaseLost):
            await self.store.commit(
                Fence(execution_id, record.epoch), SuspendExecution(self.clock.now() + delay)
            )

    def _ran(
        self,
        record: ExecutionRecord,
        me: asyncio.Task[Any] | None,
        ending: FinishExecution | None,
        outcome: RunOutcome,
    ) -> None:
        """A run is over: it leaves the running set, and whoever waits on it looks."""
        execution_id = record.execution_id
        if not self._bodies.get(execution_id, True):  # no body left in a thread
            del self._bodies[execution_id]
        if self._runs.get(execution_id) is me:  # not replaced by a newer claim
            del self._runs[execution_id]
            self._live.pop(execution_id, None)
            self.capacity_freed()
        if execution_id in self._waiters:
            if ending is not None:  # what it committed: `wait_for` need not read it back
                self._ended[execution_id] = (record, ending)
            self.wake_waiters(execution_id)
        if record.parent_id is not None:  # the invoking execution may go on
            parent = self.live_run(record.parent_id)
            if parent is not None:
                parent.waits.wake_external()
            else:
                self.poke()
        if outcome is RunOutcome.DROPPED:
            self.poke()

    # -- waiting for an end ----------------------------------------------------------------

    async def wait_ended(
        self, execution_id: str, records: RecordReader
    ) -> tuple[ExecutionRecord, FinishExecution | None]:
        """The execution's record once it has ended, with the ending a run here committed
        (then the record is as it was when the run began), or None (then the record was
        read after the end, from `records`)."""
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
                if not self.open:
                    raise RuntimeError("the engine closed before the execution ended")
                if look:
                    record = await records.record(execution_id)
                    if record.status.is_terminal:
                        return record, None
                look = True
                await woken
        finally:
            self._waiters.pop(execution_id, None)
            self._ended.pop(execution_id, None)

    def wake_waiters(self, execution_id: str) -> None:
        woken = self._waiters.get(execution_id)
        if woken is not None and not woken.done():
            woken.set_result(None)


class RecordReader(Protocol):
    """Reads an execution's stored record (ExecutionNotFound if there is none)."""

    async def record(self, execution_id: str) -> ExecutionRecord: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Replayed:
    """What replaying a history found."""

    value: Any
    """What the code returned (None if it raised or the history ended first)."""
    error: Exception | None
    """What the code raised."""
    frontier: str | None
    """The first operation the history has no outcome for, if the replay reached one."""
    divergence: NonDeterministicError | None
    """How the code diverged from the history, if it did."""
    unasked: str | None
    """Recorded operations the code returned without asking for, described."""
    values: ValueConverter
    """The execution's value path, to compare what came back with what was stored."""


def _error_of(run: ExecutionRun, outcome: RunOutcome) -> tuple[str, str] | None:
    """The type and message of the error a run ended its execution with, for its log."""
    if outcome is RunOutcome.TIMED_OUT:  # committed by `_time_out`, not as `run.finished`
        return "ExecutionTimedOut", "the execution passed its timeout"
    ending = run.finished
    if ending is None or ending.error is None:
        return None
    info = run.values.error_info(ending.error)
    return None if info is None else (info.error_type, info.message)


def _nothing() -> None:
    pass


def _not_started(coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    coro.close()  # never to run: closed, so it is not reported as never awaited
    raise RuntimeError("the engine is not open: no execution can be started")


def _ignore(_: float | None) -> None:
    pass


class _CountedThreads(ThreadsExecutor):
    """`pool` as one execution's runs submit to it: each body is in `going` until it
    has ended, whether or not the run that started it is still waiting for it."""

    def __init__(self, pool: ThreadPoolExecutor, going: set[Future[Any]]) -> None:
        self._pool = pool
        self._going = going

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args, **kwargs)
        self._going.add(future)
        future.add_done_callback(self._going.discard)
        return future
