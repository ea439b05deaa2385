"""Replay mode: a run over a stored history that writes nothing and runs nothing.

In this mode an operation with a recorded outcome returns it, and the replay stops
(unwinding with `Suspend`, which user code cannot catch) at the first operation the
history has no outcome for: the frontier of an execution that has not ended. A
child context, branch or item with no outcome yet is entered, as a resume would
enter it, and stops at its own frontier. For an execution that ended by itself, an
operation the history never recorded is a divergence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, NoReturn

from ._errors import NonDeterministicError
from ._journal import CONTAINERS, Completed, Execute, Journal, Outcome, Resume
from ._models import Checkpoint, ExecutionRecord, OperationStatus, OperationType
from ._store import Mutation, operation_of
from ._suspension import Suspend

__all__ = ["Replay"]

_STARTED = OperationStatus.STARTED
_CANCELLED = OperationStatus.CANCELLED


class Replay:
    """What one replay has found: where the history ends, and how the code diverged."""

    def __init__(self, journal: Journal, execution_id: str, ended: bool) -> None:
        self.journal = journal
        self.execution_id = execution_id
        self.ended = ended
        """The execution ended by itself: the code may ask for nothing it did not record."""
        self.frontier: str | None = None
        """The first operation the history has no outcome for, once the replay met it."""
        self.divergence: NonDeterministicError | None = None

    def resolve(self, op_id: str, type_: OperationType, name: str | None) -> Outcome:
        outcome = self.journal.resolve(op_id, type_, name)
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
            case Completed(cp) if cp.status is _CANCELLED:
                # Cancelled as the execution was stopped or timed out: the code never
                # saw an outcome here, and neither does its replay. (A batch's cancelled
                # branches are not entered: the batch's record says so.)
                self.stop(op_id)
        return outcome

    def stop(self, where: str) -> NoReturn:
        """The history ends here: unwind the replay (user code cannot catch it)."""
        if self.frontier is None:
            self.frontier = where
        raise Suspend()

    def write(self, mutation: Mutation) -> Awaitable[None]:
        """A write the history already holds passes (a container begun, a large child
        result rebuilt); any other write means the history ends here."""
        written = operation_of(mutation)
        if written is not None:
            recorded = self.journal.get(written.op_id)
            if recorded is None and written.status == _STARTED and written.type in CONTAINERS:
                recorded = written  # a container begins (an older version recorded none)
            if recorded is None or recorded.status != written.status:
                self.stop(written.op_id)
            if written is mutation:
                done = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done
        self.stop(f"({type(mutation).__name__})")  # a callback, suspension or ending

    async def block(self, op_id: str, wake_at: float | None) -> None:
        self.stop(op_id)


class NoStore:
    """The store of a replay: any database call means the history ends there."""

    def __init__(self, replay: Replay) -> None:
        self._replay = replay

    def commit(self, fence: Any, mutation: Mutation) -> Awaitable[None]:
        self._replay.stop(f"({type(mutation).__name__})")

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None:
        self._replay.stop(op_id)

    async def time_out_callback(self, *args: Any) -> Checkpoint:
        self._replay.stop("(callback)")

    async def receive_event(self, *args: Any) -> Checkpoint:
        self._replay.stop("(event)")

    async def time_out_event(self, *args: Any) -> Checkpoint | None:
        self._replay.stop("(event)")

    async def create_execution(self, *args: Any) -> tuple[ExecutionRecord, bool]:
        self._replay.stop("(invoke)")

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        self._replay.stop("(invoke)")
