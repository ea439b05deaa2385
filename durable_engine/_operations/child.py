"""Child contexts: a block of operations numbered in its own namespace."""

from __future__ import annotations

import inspect
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from .._errors import NonDeterministicError, PayloadTooLarge, error_from_info, error_info
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._run import ExecutionRun, cancelling

__all__ = ["ContextFactory", "run_child"]

ContextFactory = Callable[[str, bool], Any]
"""Makes the context of child operation `op_id`: `factory(op_id, rerun)`. The context
layer above passes it down, so operations need not import it."""


async def run_child(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    fn: Callable[[Any], Awaitable[Any]],
    name: str | None,
    make_context: ContextFactory,
    *,
    op_type: OperationType = OperationType.CONTEXT,
    attempt: Callable[[], int] | None = None,
    span_kind: str | None = None,
) -> Any:
    """Run `fn` in a child context; a completed child returns its recorded outcome.

    It is recorded STARTED as it begins, and with its outcome when it ends. A child
    whose result was too large to store records no result: on replay its body runs
    again and rebuilds the result from its children's checkpoints. `attempt`, if
    given, tells each record the attempt number it carries (1 otherwise). `span_kind`
    names its span (default: its type), "branch" for a batch's branch.
    """
    started_at = run.now()
    rerun = begun = False
    match run.resolve(op_id, op_type, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp) if cp.result is not None or cp.status != OperationStatus.SUCCEEDED:
            return run.values.outcome(cp, None)
        case Completed(cp):  # its result was too large to store: its body runs again
            started_at = cp.started_at or started_at
            rerun = True
        case Resume(cp):
            started_at = cp.started_at or started_at
        case Execute():
            # No record of its own yet (an older version wrote none while it ran), but
            # a run before this one may have begun it.
            started_at = run.journal.first_start_under(op_id) or started_at
            begun = True
    child = make_context(op_id, rerun)
    if begun:  # recorded as it begins: replay compares its type and name from then on
        await run.checkpoint(
            run.put(
                op_id,
                parent_id,
                op_type,
                name,
                OperationStatus.STARTED,
                attempt=1 if attempt is None else attempt(),
                started_at=started_at,
            )
        )

    def record(status: OperationStatus, **fields: Any) -> Checkpoint:
        return run.put(
            op_id,
            parent_id,
            op_type,
            name,
            status,
            attempt=1 if attempt is None else attempt(),
            started_at=started_at,
            ended_at=run.now(),
            **fields,
        )

    try:
        called = _call(fn, child, name or op_id)
        if run.telemetry is not None:
            called = run.telemetry.traced(called, run.record, op_id, op_type, name, span_kind)
        value = await called
    except (Exception, CancelledError) as exc:
        if cancelling(exc):
            raise
        await _fail(run, exc, record)
    return await _succeed(run, op_id, name, value, record)


async def _fail(
    run: ExecutionRun, exc: BaseException, record: Callable[..., Checkpoint]
) -> NoReturn:
    """Record the child as failed with `exc`, and raise what a replay raises; if the
    code diverged, record nothing more for it."""
    if run.fatal is not None:
        if isinstance(exc, NonDeterministicError):
            raise exc
        raise NonDeterministicError(str(run.fatal)) from exc
    info = error_info(exc, default_kind="ChildContextError")
    await run.checkpoint(record(OperationStatus.FAILED, error=run.values.encode_error(info)))
    raise error_from_info(info) from exc


async def _succeed(
    run: ExecutionRun, op_id: str, name: str | None, value: Any, record: Callable[..., Checkpoint]
) -> Any:
    """Record the child's result (none if too large: a replay runs it again)."""
    diverged = run.fatal or run.unasked(op_id)
    if diverged is not None:  # e.g. ended early: recording it would change the outcome
        raise NonDeterministicError(str(diverged))
    try:
        data: bytes | None = run.values.encode(
            value, None, op_id, "result of context", name or op_id
        )
    except PayloadTooLarge:
        data = None
    await run.checkpoint(record(OperationStatus.SUCCEEDED, result=data))
    return value if data is None else run.values.decode(data, None, op_id)


async def _call(fn: Callable[[Any], Awaitable[Any]], child: Any, label: str) -> Any:
    """`fn(child)`, awaited; TypeError if it gives nothing to await."""
    body = fn(child)
    if not inspect.isawaitable(body):
        raise TypeError(
            f"the function of context {label} must be async (or return an "
            f"awaitable), but it returned {type(body).__name__}"
        )
    return await body
