"""The wait operation: a durable timer."""

from __future__ import annotations

from .._journal import Completed, Execute, Mismatch, Resume
from .._models import OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = ["run_wait"]


async def run_wait(
    run: ExecutionRun, op_id: str, parent_id: str | None, seconds: float, name: str | None
) -> None:
    due = None  # on the monotonic clock, for a wait begun in this run
    match run.resolve(op_id, OperationType.WAIT, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed():
            return
        case Resume(cp):
            started_at = cp.started_at or run.now()
            wake_at = cp.wake_at if cp.wake_at is not None else started_at + seconds
        case Execute():
            started_at = run.now()
            due = run.clock.monotonic() + seconds
            wake_at = started_at + seconds
            await run.checkpoint(
                run.put(
                    op_id,
                    parent_id,
                    OperationType.WAIT,
                    name,
                    OperationStatus.STARTED,
                    started_at=started_at,
                    wake_at=wake_at,
                )
            )
    blocked = run.block(op_id, wake_at, due)
    if run.telemetry is not None:
        blocked = run.telemetry.traced(blocked, run.record, op_id, OperationType.WAIT, name)
    await blocked
    await run.checkpoint(
        run.put(
            op_id,
            parent_id,
            OperationType.WAIT,
            name,
            OperationStatus.SUCCEEDED,
            started_at=started_at,
            ended_at=run.now(),
            wake_at=wake_at,
        )
    )
