"""`ctx.continue_as_new`: end the run and start the execution afresh with a new input.

It is not an operation: it takes no id and leaves no record. It checks where it was
called, serializes the new input with the execution's codec and payload limit (a
value that cannot be stored raises here, where the code can still catch it), lets
every deferred commit land, and then raises `ContinueAsNew`: a BaseException, like
suspension, so `except Exception` in workflow code cannot swallow it (`finally`
blocks run). The run's driver catches it and makes the switch, one fenced store
write; a crash before that write replays this run up to here, and it continues as
new again.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from .._errors import ContinueAsNewError, ExecutionAlreadyEnded
from .._run import ExecutionRun
from .._suspension import RunState

__all__ = ["ContinueAsNew", "continue_as_new"]


class ContinueAsNew(BaseException):
    """Unwinds the workflow so its driver starts the execution's next run."""

    def __init__(self, data: bytes | None, keep_history: bool) -> None:
        super().__init__("continue as new")
        self.data = data
        """The next run's input, serialized."""
        self.keep_history = keep_history


def check_caller(run: ExecutionRun, context_id: str | None) -> None:
    """Raise ContinueAsNewError unless called from the workflow's own context, in the
    task that runs the workflow function, outside any step body."""
    if run.in_body and run.inside_body():
        raise ContinueAsNewError(
            "continue_as_new was called inside a step's body: call it from the workflow "
            "function's own context, after the step returns"
        )
    if context_id is not None:
        raise ContinueAsNewError(
            f"continue_as_new was called from a child context (operation {context_id}: a "
            "child context, a parallel or map branch or a with_retry block); it ends the "
            "whole run, so call it from the workflow function's own context"
        )
    if run.main_task is not None and asyncio.current_task() is not run.main_task:
        raise ContinueAsNewError(
            "continue_as_new was called from a task other than the workflow function's "
            "(a task made with asyncio.gather or create_task); await it in the workflow "
            "function itself"
        )
    if run.waits.state is RunState.ENDED:
        raise ExecutionAlreadyEnded(
            f"this run of execution {run.execution_id} is over: a context is used only "
            "while its workflow runs"
        )


async def continue_as_new(
    run: ExecutionRun, context_id: str | None, value: Any, keep_history: bool
) -> NoReturn:
    """End the run; its driver starts the next one with `value` as its input."""
    check_caller(run, context_id)
    if run.fatal is not None:  # the run diverged: it is held, not continued
        raise run.fatal
    data = run.values.encode(value, None, None, "the next run's input")
    if run.replay is None:
        await run.settle()  # every deferred commit lands before the switch
    raise ContinueAsNew(data, keep_history)
