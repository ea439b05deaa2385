"""Replaying an execution's stored history against the current code, running nothing.

The function runs from the top on a journal of the stored checkpoints: operations
with a recorded outcome return it, nothing else runs and nothing is written. The
replay stops at the first operation the history has no outcome for (the frontier of
an execution that has not ended); a child context, parallel branch or map item with
no outcome yet is entered, as a resume would, and stops at its own frontier.
`NonDeterministicError` is raised for an operation of another type or name than
recorded, for an operation an ended execution never recorded, for recorded operations
the code no longer asks for once it returns from the execution or from a context,
branch or item, and for a different result or error type than the execution ended with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import serdes as _serdes

from .._errors import ExecutionNotFound, NonDeterministicError, error_info
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus

if TYPE_CHECKING:
    from .._converter import ValueConverter
    from .._engine import Engine

__all__ = ["replay_execution", "replay_record"]

Workflow = Callable[[Any, Any], Awaitable[Any]]

_ENDED_BY_ITSELF = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


async def replay_execution(engine: Engine, execution_id: str, fn: Workflow | None = None) -> Any:
    """Replay an execution of `engine` with `fn` (default: its registered function).

    Returns what the function returns (None if the history ends before it does),
    raises the function's own error for a failed execution, and raises
    NonDeterministicError if the code diverges from the history.
    """
    record = await engine.store.get_execution(execution_id)
    if record is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    return await replay_record(engine, record, fn)


async def replay_record(
    engine: Engine,
    record: ExecutionRecord,
    fn: Workflow | None = None,
    checkpoints: Sequence[Checkpoint] | None = None,
) -> Any:
    """`replay_execution` of `record`, over its stored history or `checkpoints`."""
    execution_id = record.execution_id
    replayed = await engine.executor.replay(record, fn, checkpoints)
    if replayed.divergence is not None:
        raise replayed.divergence
    ended = record.status in _ENDED_BY_ITSELF
    value, error, values = replayed.value, replayed.error, replayed.values

    def diverged(what: str) -> NoReturn:
        raise NonDeterministicError(f"execution {execution_id}: {what}")

    if replayed.unasked is not None:
        diverged(replayed.unasked)  # the code returned: a resume would end it so, too
    if not ended:
        if error is not None:
            raise error
        return None if replayed.frontier is not None else value
    if replayed.frontier is not None:
        diverged(
            f"replay stopped at operation {replayed.frontier}, which has no outcome, but the "
            f"execution ended {record.status.value}"
        )
    if record.status is ExecutionStatus.SUCCEEDED:
        if error is not None:
            diverged(f"replay raised {error!r}, but the execution succeeded")
        if not _same_value(value, record.result, values):
            stored = values.view(record.result)
            diverged(f"replay returned {value!r}, but the execution returned {stored!r}")
        return value
    info = None if record.error is None else values.error_info(record.error)
    recorded_type = None if info is None else info.error_type
    if error is None:
        diverged(f"replay returned {value!r}, but the execution failed with {recorded_type}")
    if recorded_type is not None and error_info(error).error_type != recorded_type:
        diverged(f"replay raised {error!r}, but the execution failed with {recorded_type}")
    raise error


def _same_value(value: Any, stored: bytes | None, values: ValueConverter) -> bool:
    if stored is None:
        return value is None
    stored = values.unsealed(stored, None, "result")  # DatabaseCorrupt if it changed
    codec = values.codec
    try:
        if codec.serialize(value) == stored:
            return True
        return bool(codec.deserialize(stored) == value)
    except _serdes.SerDesError:
        return False
