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

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, cast

import serdes as _serdes

from .._context import DurableContext
from .._errors import ErrorInfo, ExecutionNotFound, NonDeterministicError, error_info
from .._journal import CONTAINERS, Execute, Journal, Outcome, Resume
from .._models import Checkpoint, ExecutionStatus, OperationStatus
from .._run import ExecutionRun, Suspend
from .._store import Mutation, Store, operation_of

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["replay_execution"]

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]

_ENDED_BY_ITSELF = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
_STARTED = OperationStatus.STARTED.value


class _ReplayJournal(Journal):
    """A journal that never lets an operation run: unrecorded or unfinished ones stop it."""

    __slots__ = ("divergence", "ended", "execution_id", "frontier")

    def __init__(self, checkpoints: Iterable[Checkpoint], execution_id: str, ended: bool) -> None:
        super().__init__(checkpoints)
        self.execution_id = execution_id
        self.ended = ended
        self.frontier: str | None = None
        self.divergence: NonDeterministicError | None = None

    def resolve(self, op_id: str, type_: str, name: str | None) -> Outcome:
        outcome = super().resolve(op_id, type_, name)
        match outcome:
            case Execute() if self.ended:
                error = NonDeterministicError(
                    f"execution {self.execution_id}: the code asks for operation {op_id} "
                    f"({type_} {name!r}), which the execution never recorded; the "
                    "workflow code changed in a way that breaks replay"
                )
                self.divergence = self.divergence or error
                raise error
            case Execute() | Resume() if type_ in CONTAINERS:
                pass  # entering one runs nothing of the code's: the replay goes on inside
            case Execute() | Resume():
                self.stop(op_id)
        return outcome

    def stop(self, op_id: str) -> NoReturn:
        """The history ends here: unwind the replay (user code cannot catch it)."""
        if self.frontier is None:
            self.frontier = op_id
        raise Suspend()


class _ReplayRun(ExecutionRun):
    """An execution run that writes nothing and never waits."""

    journal: _ReplayJournal

    def write(self, mutation: Mutation) -> Awaitable[None]:
        written = operation_of(mutation)
        if written is not None:
            recorded = self.journal.get(written.op_id)
            if recorded is None and written.status == _STARTED and written.type in CONTAINERS:
                recorded = written  # a container begins (an older version recorded none)
            if recorded is None or recorded.status != written.status:
                self.journal.stop(written.op_id)
            if written is mutation:  # e.g. a large child result rebuilt, a container begun
                done = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done
        self.journal.stop(f"({type(mutation).__name__})")  # a callback, suspension or ending

    async def block(self, op_id: str, wake_at: float | None) -> None:
        self.journal.stop(op_id)


class _NoStore:
    """Any database call during a replay means the history ends there."""

    def __init__(self, journal: _ReplayJournal) -> None:
        self._journal = journal

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def refuse(*args: Any, **kwargs: Any) -> Any:
            self._journal.stop(f"(store.{name})")

        return refuse


async def replay_execution(engine: Engine, execution_id: str, fn: Workflow | None = None) -> Any:
    """Replay an execution of `engine` with `fn` (default: its registered function).

    Returns what the function returns (None if the history ends before it does),
    raises the function's own error for a failed execution, and raises
    NonDeterministicError if the code diverges from the history.
    """
    record = await engine.store.get_execution(execution_id)
    if record is None:
        raise ExecutionNotFound(f"no execution with id {execution_id!r}")
    if fn is None:
        fn = engine.function(record.function).fn
    checkpoints = await engine.store.load_operations(execution_id)
    ended = record.status in _ENDED_BY_ITSELF
    journal = _ReplayJournal(checkpoints, execution_id, ended)
    run = engine.new_run(record, journal, store=cast(Store, _NoStore(journal)), kind=_ReplayRun)
    input_value = run.deserialize(record.input, run.serdes, None)
    value: Any = None
    error: Exception | None = None
    try:
        value = await fn(DurableContext(run), input_value)
    except Suspend:
        pass
    except Exception as exc:
        error = exc
    fatal = run.fatal or journal.divergence
    if fatal is not None:
        raise fatal

    def diverged(what: str) -> NoReturn:
        raise NonDeterministicError(f"execution {execution_id}: {what}")

    if journal.frontier is None and error is None and (unasked := journal.unasked()) is not None:
        diverged(unasked)  # the code returned: a resume would end it so, too
    if not ended:
        if error is not None:
            raise error
        return None if journal.frontier is not None else value
    if journal.frontier is not None:
        diverged(
            f"replay stopped at operation {journal.frontier}, which has no outcome, but the "
            f"execution ended {record.status.value}"
        )
    if record.status is ExecutionStatus.SUCCEEDED:
        if error is not None:
            diverged(f"replay raised {error!r}, but the execution succeeded")
        if not _same_value(value, record.result, run.serdes):
            stored = run.deserialize(record.result, run.serdes, None)
            diverged(f"replay returned {value!r}, but the execution returned {stored!r}")
        return value
    recorded_type = _error_type(record.error, engine)
    if error is None:
        diverged(f"replay returned {value!r}, but the execution failed with {recorded_type}")
    if recorded_type is not None and error_info(error).error_type != recorded_type:
        diverged(f"replay raised {error!r}, but the execution failed with {recorded_type}")
    raise error


def _same_value(value: Any, stored: bytes | None, codec: _serdes.SerDes) -> bool:
    if stored is None:
        return value is None
    try:
        if codec.serialize(value) == stored:
            return True
        return bool(codec.deserialize(stored) == value)
    except _serdes.SerDesError:
        return False


def _error_type(data: bytes | None, engine: Engine) -> str | None:
    if data is None:
        return None
    try:
        return ErrorInfo.from_dict(engine._error_serdes.deserialize(data)).error_type
    except (_serdes.SerDesError, TypeError):
        return None
