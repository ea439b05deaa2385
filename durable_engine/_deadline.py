"""An execution's total timeout: a run is cut off at `timeout_at` and ends TIMED_OUT.

The deadline is stored on the execution, so it holds across suspensions and
crashes: a suspended execution is due at its deadline at the latest (the store
clamps its wake-up), and a run claimed after the deadline ends at once without
running any code. A live run gets a timer on the engine's clock that cancels it and
then commits TIMED_OUT under the run's lease; if the run ended first, or lost its
lease, that commit is refused and nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ._context import DurableContext
from ._errors import ErrorInfo
from ._executor import RunOutcome, drive
from ._models import timestamp_to_datetime
from ._run import ExecutionRun
from ._store import LeaseLost

__all__ = ["drive_until_deadline"]

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]


def drive_until_deadline(
    run: ExecutionRun, fn: Workflow, input_value: Any
) -> Awaitable[RunOutcome]:
    """`drive` the run, unless or until its execution's timeout passes. (With no
    timeout this is `drive` itself, with no coroutine around it.)"""
    timeout_at = run.record.timeout_at
    if timeout_at is None:
        return drive(run, fn, input_value)
    return _drive_with_deadline(run, fn, input_value, timeout_at)


async def _drive_with_deadline(
    run: ExecutionRun, fn: Workflow, input_value: Any, timeout_at: float
) -> RunOutcome:
    if run.now() >= timeout_at:
        return await _time_out(run, timeout_at)
    task = asyncio.create_task(drive(run, fn, input_value), name=f"drive-{run.execution_id}")
    fired = False

    def expire() -> None:
        nonlocal fired
        if not task.done():
            fired = True
            task.cancel()

    timer = run.clock.call_at(timeout_at, expire)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not fired or (current is not None and current.cancelling()):
            raise
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
    return await _time_out(run, timeout_at)


async def _time_out(run: ExecutionRun, timeout_at: float) -> RunOutcome:
    at = timestamp_to_datetime(timeout_at).isoformat(timespec="milliseconds")
    info = ErrorInfo(
        kind="ExecutionTimedOut",
        error_type="ExecutionTimedOut",
        message=f"execution {run.execution_id} passed its timeout ({at})",
    )
    try:
        await run.store.time_out_execution(run.fence, run.now(), run.encode_error(info))
    except LeaseLost:
        return RunOutcome.DROPPED
    return RunOutcome.TIMED_OUT
