"""Driving one run: the workflow from the top until it ends, suspends or times out.

An execution's total timeout is stored on the execution, so it holds across
suspensions and crashes: a suspended execution is due at its deadline at the
latest (the store clamps its wake-up), and a run claimed after the deadline ends at
once without running any code. A live run gets a timer on the engine's clock that
cancels it and then commits TIMED_OUT under the run's lease; if the run ended first,
or lost its lease, that commit is refused and nothing changes.
"""

from __future__ import annotations

import asyncio
import enum
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ._context import DurableContext
from ._errors import (
    ErrorInfo,
    NonDeterministicError,
    PayloadTooLarge,
    SerDesError,
    Unreadable,
    error_info,
)
from ._inputs import parse_input
from ._models import ExecutionStatus, timestamp_to_datetime
from ._operations.continue_as_new import ContinueAsNew
from ._run import ExecutionRun, Suspend, cancelling
from ._store import BlockExecution, FinishExecution, LeaseLost, SuspendExecution

__all__ = ["RunOutcome", "Workflow", "drive", "drive_until_deadline"]

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]


class RunOutcome(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SUSPENDED = "SUSPENDED"
    TIMED_OUT = "TIMED_OUT"
    BLOCKED = "BLOCKED"
    """The code diverged from the history: the execution is held for a new deploy."""
    DROPPED = "DROPPED"
    """The lease was lost: another worker or a stop took the execution over."""
    CONTINUED = "CONTINUED"
    """It continued as new: `run.continued` is the execution, to run its next run."""


async def drive(run: ExecutionRun, fn: Workflow, hold: bool = True) -> RunOutcome:
    """Run `fn` on the execution's input against its journal until it ends or suspends.

    With `hold`, an execution whose code diverged from its history is BLOCKED rather
    than FAILED."""
    ctx = DurableContext(run)
    run.main_task = asyncio.current_task()
    try:
        try:
            given = run.values.stored_value(run.record.input, None, None)
            value = await fn(ctx, parse_input(fn, given, run.record.function))
        except Suspend:
            await run.settle()
            await run.checkpoint(SuspendExecution(run.waits.wake_at))
            return RunOutcome.SUSPENDED
        except ContinueAsNew as signal:
            return await _continue(run, signal, hold)
        except Unreadable as unreadable:
            return await _hand_back(run, unreadable)
        except (Exception, CancelledError) as exc:
            if cancelling(exc):
                raise
            # No check for operations left unasked: an error replayed at once may end
            # the code before a task of its own gets to its next operation.
            if hold and run.fatal is not None:
                return await _hold(run, run.fatal)
            return await _finish_failed(run, run.fatal or exc)
        fatal = run.fatal or run.unasked()
        if fatal is not None:
            return await (_hold(run, fatal) if hold else _finish_failed(run, fatal))
        try:
            data = run.values.encode(value, None, None, "the execution's result")
        except (PayloadTooLarge, SerDesError) as exc:
            return await _finish_failed(run, exc)
        await _finish(run, ExecutionStatus.SUCCEEDED, data, None)
        return RunOutcome.SUCCEEDED
    except LeaseLost:
        return RunOutcome.DROPPED
    finally:
        run.close()


async def _continue(run: ExecutionRun, signal: ContinueAsNew, hold: bool) -> RunOutcome:
    """Switch to the next run, unless the code diverged from the history on the way."""
    fatal = run.fatal or run.unasked()
    if fatal is not None:
        return await (_hold(run, fatal) if hold else _finish_failed(run, fatal))
    run.continued = await run.continue_as_new(signal.data, signal.keep_history)
    return RunOutcome.CONTINUED


UNREADABLE_RETRY = 60.0
"""Seconds before an execution handed back for a value its worker could not read is
due again: any worker may claim it then (this one too, once its app can read it)."""


async def _hand_back(run: ExecutionRun, unreadable: Unreadable) -> RunOutcome:
    """Leave the execution, due again later, to a worker whose app can read the value:
    failing it would end it for good, and keeping it would hold it where it cannot run."""
    retry_at = run.now() + UNREADABLE_RETRY
    run.logger.error(
        "execution %s cannot run here: %s; handed back, due again in %d s, for a worker "
        "that can read it",
        run.execution_id,
        unreadable,
        UNREADABLE_RETRY,
    )
    run.waits.wake_at = retry_at
    await run.checkpoint(SuspendExecution(retry_at))
    return RunOutcome.SUSPENDED


async def _hold(run: ExecutionRun, divergence: NonDeterministicError) -> RunOutcome:
    """Hold the execution for a deploy whose code replays its history: failing it would
    end it for good over a change that a fixed deploy undoes."""
    run.logger.error(
        "execution %s is BLOCKED: %s. Nothing runs until a deploy replays it cleanly: "
        "it is tried again when an engine or worker starts, and by `durable-engine "
        "resume %s`",
        run.execution_id,
        divergence,
        run.execution_id,
    )
    await run.settle()  # every deferred commit lands before the execution is held
    await run.checkpoint(BlockExecution(run.values.encode_error(error_info(divergence))))
    return RunOutcome.BLOCKED


async def _finish_failed(run: ExecutionRun, exc: BaseException) -> RunOutcome:
    if isinstance(exc, NonDeterministicError):
        run.logger.error("%s", exc)
    await _finish(run, ExecutionStatus.FAILED, None, run.values.encode_error(error_info(exc)))
    return RunOutcome.FAILED


async def _finish(
    run: ExecutionRun, status: ExecutionStatus, result: bytes | None, error: bytes | None
) -> None:
    await run.settle()  # every deferred commit lands before the ending
    ending = FinishExecution(
        status=status,
        result=result,
        error=error,
        ended_at=run.now(),
        open_ops=run.journal.unfinished(),
    )
    await run.checkpoint(ending)
    run.finished = ending


def drive_until_deadline(
    run: ExecutionRun, fn: Workflow, time_out: TimeOut, hold: bool = True
) -> Awaitable[RunOutcome]:
    """`drive` the run, unless or until its execution's timeout passes, when `time_out`
    commits the ending. (With no timeout this is `drive` itself, with no coroutine
    around it.)"""
    timeout_at = run.record.timeout_at
    if timeout_at is None:
        return drive(run, fn, hold)
    return _drive_with_deadline(run, fn, timeout_at, time_out, hold)


TimeOut = Callable[[ExecutionRun, bytes], Awaitable[None]]
"""Ends the run's execution as TIMED_OUT with this error, or raises LeaseLost."""


async def _drive_with_deadline(
    run: ExecutionRun, fn: Workflow, timeout_at: float, time_out: TimeOut, hold: bool
) -> RunOutcome:
    if run.now() >= timeout_at:
        return await _time_out(run, timeout_at, time_out)
    # The deadline is on the engine's clock (virtual in tests), so a timer cancels the
    # scope rather than a deadline of the scope's own.
    with anyio.CancelScope() as deadline:
        timer = run.clock.call_at(timeout_at, deadline.cancel)
        try:
            return await drive(run, fn, hold)
        finally:
            timer.cancel()
    return await _time_out(run, timeout_at, time_out)


async def _time_out(run: ExecutionRun, timeout_at: float, time_out: TimeOut) -> RunOutcome:
    at = timestamp_to_datetime(timeout_at).isoformat(timespec="milliseconds")
    info = ErrorInfo(
        kind="ExecutionTimedOut",
        error_type="ExecutionTimedOut",
        message=f"execution {run.execution_id} passed its timeout ({at})",
    )
    try:
        await time_out(run, run.values.encode_error(info))
    except LeaseLost:
        return RunOutcome.DROPPED
    return RunOutcome.TIMED_OUT
