"""Runs one execution: drive its coroutine from the top, then finish or suspend it."""

from __future__ import annotations

import enum
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from ._context import DurableContext
from ._errors import NonDeterministicError, PayloadTooLarge, SerDesError, error_info
from ._models import ExecutionStatus
from ._run import ExecutionRun, Suspend, cancelling
from ._store import FinishExecution, LeaseLost, SuspendExecution

__all__ = ["RunOutcome", "drive"]

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]


class RunOutcome(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SUSPENDED = "SUSPENDED"
    TIMED_OUT = "TIMED_OUT"
    DROPPED = "DROPPED"
    """The lease was lost: another worker or a stop took the execution over."""


async def drive(run: ExecutionRun, fn: Workflow, input_value: Any) -> RunOutcome:
    """Run `fn` against the execution's journal until it ends or suspends."""
    ctx = DurableContext(run)
    try:
        try:
            value = await fn(ctx, input_value)
        except Suspend:
            await run.checkpoint(SuspendExecution(run.suspend_wake_at))
            return RunOutcome.SUSPENDED
        except (Exception, CancelledError) as exc:
            if cancelling(exc):
                raise
            # No check for operations left unasked: an error replayed at once may end
            # the code before a task of its own gets to its next operation.
            return await _finish_failed(run, run.fatal or exc)
        fatal = run.fatal or run.unasked()
        if fatal is not None:
            return await _finish_failed(run, fatal)
        try:
            data = run.serialize(value, None, None, "the execution's result")
        except (PayloadTooLarge, SerDesError) as exc:
            return await _finish_failed(run, exc)
        await _finish(run, ExecutionStatus.SUCCEEDED, data, None)
        return RunOutcome.SUCCEEDED
    except LeaseLost:
        return RunOutcome.DROPPED
    finally:
        run.close()


async def _finish_failed(run: ExecutionRun, exc: BaseException) -> RunOutcome:
    if isinstance(exc, NonDeterministicError):
        run.logger.error("%s", exc)
    await _finish(run, ExecutionStatus.FAILED, None, run.encode_error(error_info(exc)))
    return RunOutcome.FAILED


async def _finish(
    run: ExecutionRun, status: ExecutionStatus, result: bytes | None, error: bytes | None
) -> None:
    ending = FinishExecution(
        status=status,
        result=result,
        error=error,
        ended_at=run.now(),
        open_ops=run.journal.unfinished(),
    )
    await run.checkpoint(ending)
    run.finished = ending
