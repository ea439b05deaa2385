"""Patch markers: code changed under running executions picks its path by history.

`ctx.patched("id")` is True for code that runs past this point for the first time
(it records a marker) or whose history holds the marker here, and False for code
replaying a history that went past this point without it: that execution took the
old path and keeps taking it. A False answer records nothing and takes no operation
id, so the old path's operations keep the ids they were recorded under.
"""

from __future__ import annotations

from .._journal import Completed, Mismatch
from .._models import OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = ["holds_marker", "new_path", "old_path", "passed", "record_marker"]


def holds_marker(run: ExecutionRun, op_id: str, patch_id: str) -> bool:
    """Whether the history holds the marker of `patch_id` at `op_id`."""
    cp = run.journal.get(op_id)
    return cp is not None and cp.type == OperationType.PATCH and cp.name == patch_id


def new_path(
    run: ExecutionRun, op_id: str, context_id: str | None, position: int, patch_id: str
) -> bool:
    """Whether the code at `op_id` (operation number `position + 1` of its context) takes
    the patched path: the history holds the marker there, or never got that far."""
    if run.journal.get(op_id) is not None:
        return holds_marker(run, op_id, patch_id)
    return not run.journal.recorded_beyond(context_id, position)


async def record_marker(
    run: ExecutionRun, op_id: str, parent_id: str | None, patch_id: str
) -> bool:
    """Record the marker of `patch_id` at `op_id` unless it is recorded already."""
    match run.resolve(op_id, OperationType.PATCH, patch_id):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed():
            return True
        case _:
            pass
    now = run.now()
    await run.checkpoint(
        run.put(
            op_id,
            parent_id,
            OperationType.PATCH,
            patch_id,
            OperationStatus.SUCCEEDED,
            started_at=now,
            ended_at=now,
        )
    )
    return True


async def old_path() -> bool:
    """The answer for a history that went past this point without the marker."""
    return False


async def passed() -> None:
    """`deprecate_patch` done: the marker was taken, or there was none to take."""
