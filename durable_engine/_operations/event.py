"""Waiting for an event sent to the execution by name (`engine.send_event`).

The operation that receives an event records it (its payload as the result, its
sequence number as `ref`), so a replay returns the same payload and the next wait
for that name receives the next event.
"""

from __future__ import annotations

from typing import Any

from .._errors import ErrorInfo, EventTimeoutError
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = ["wait_for_event"]


async def wait_for_event(
    run: ExecutionRun, op_id: str, parent_id: str | None, name: str, seconds: float | None
) -> Any:
    fresh: Checkpoint | None = None
    match run.resolve(op_id, OperationType.EVENT, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return _outcome(run, cp)
        case Resume(cp):
            fresh = cp
        case Execute():
            pass
    # Watch before looking, so an event that lands in between still wakes us.
    run.waits.watch_external(op_id)
    try:
        if fresh is None:
            now = run.now()
            fresh = await run.receive_event(
                run.put(
                    op_id,
                    parent_id,
                    OperationType.EVENT,
                    name,
                    OperationStatus.STARTED,
                    started_at=now,
                    wake_at=None if seconds is None else now + seconds,
                )
            )
        else:
            fresh = await _refresh(run, fresh)
        while fresh.status == OperationStatus.STARTED:
            await run.block(op_id, fresh.wake_at)
            fresh = await _refresh(run, fresh)
    finally:
        run.waits.unwatch_external(op_id)
    return _outcome(run, fresh)


async def _refresh(run: ExecutionRun, cp: Checkpoint) -> Checkpoint:
    """The wait as stored now, timed out if its deadline passed with no event."""
    if cp.wake_at is not None and run.now() >= cp.wake_at:
        info = ErrorInfo(
            kind="EventTimeoutError",
            error_type="EventTimeoutError",
            message=_timed_out(cp),
        )
        return await run.time_out_event(cp, run.values.encode_error(info))
    fresh = await run.reload(cp.op_id)
    assert fresh is not None
    return fresh


def _timed_out(cp: Checkpoint) -> str:
    return f"no event {cp.name!r} came before the wait's timeout"


def _outcome(run: ExecutionRun, cp: Checkpoint) -> Any:
    if cp.status == OperationStatus.TIMED_OUT:
        raise EventTimeoutError(_timed_out(cp))
    return run.values.answer(cp, None)
