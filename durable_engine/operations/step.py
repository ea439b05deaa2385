"""The step operation: run a body once, checkpoint its outcome, retry durably."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from ..config import StepConfig, StepSemantics
from ..context import StepContext, is_async_callable
from ..errors import (
    ErrorInfo,
    PayloadTooLarge,
    SerDesError,
    StepInterruptedError,
    error_from_info,
    error_info,
)
from ..execution import ExecutionRun
from ..journal import Completed, Execute, Mismatch, Resume
from ..models import Checkpoint, OperationStatus, OperationType
from ..retry import RetryPresets

__all__ = ["call_body", "run_step"]

_DEFAULT_CONFIG = StepConfig()
_DEFAULT_STRATEGY = RetryPresets.default()


async def call_body(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async body: async on the loop, sync in a worker thread."""
    if is_async_callable(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):  # e.g. a lambda that returns a coroutine
        result = await result
    return result


def _step_failure(exc: BaseException) -> ErrorInfo:
    if isinstance(exc, PayloadTooLarge | SerDesError | StepInterruptedError):
        return error_info(exc)
    return error_info(exc, default_kind="StepError")


async def run_step(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    fn: Callable[[StepContext], Any],
    name: str | None,
    config: StepConfig | None,
) -> Any:
    cfg = config or _DEFAULT_CONFIG
    codec = cfg.serdes
    attempt = 1
    started_at: float | None = None
    pending_error: BaseException | None = None

    def record(status: OperationStatus, **fields: Any) -> Checkpoint:
        return Checkpoint(
            run.execution_id,
            op_id,
            parent_id,
            OperationType.STEP,
            name,
            status,
            attempt,
            started_at=started_at,
            **fields,
        )

    match run.journal.resolve(op_id, OperationType.STEP, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.outcome(cp, codec)
        case Resume(cp) if cp.status is OperationStatus.PENDING:
            started_at = cp.started_at
            await run.block(op_id, cp.wake_at)
            attempt = cp.attempt + 1
        case Resume(cp):
            # An at-most-once attempt started and never finished: the process died.
            started_at = cp.started_at
            attempt = cp.attempt
            pending_error = StepInterruptedError(
                f"step {name or op_id} attempt {attempt} was interrupted before its outcome "
                "was recorded",
                error_type="StepInterruptedError",
            )
        case Execute():
            pass

    strategy = cfg.retry_strategy or _DEFAULT_STRATEGY
    at_most_once = cfg.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
    while True:
        if pending_error is None:
            if started_at is None:
                started_at = run.now()
            run.begin_work()
            try:
                if at_most_once:
                    await run.checkpoint(record(OperationStatus.STARTED))
                step_ctx = StepContext(run.execution_id, op_id, attempt, run.logger)
                value = await call_body(fn, step_ctx)
                data = run.serialize(value, codec, op_id, f"result of step {name or op_id}")
                await run.checkpoint(
                    record(OperationStatus.SUCCEEDED, result=data, ended_at=run.now())
                )
                return run.stored(value, data, codec, op_id)
            except (PayloadTooLarge, SerDesError) as exc:
                info = _step_failure(exc)
                await _fail(run, record, info)
                raise error_from_info(info) from None
            except Exception as exc:
                pending_error = exc
            finally:
                run.end_work()
        decision = strategy(pending_error, attempt)
        info = _step_failure(pending_error)
        pending_error = None
        if not decision.should_retry:
            await _fail(run, record, info)
            raise error_from_info(info) from None
        wake_at = run.now() + decision.delay.total_seconds()
        await run.checkpoint(
            record(OperationStatus.PENDING, error=run.encode_error(info), wake_at=wake_at)
        )
        await run.block(op_id, wake_at)
        attempt += 1


async def _fail(run: ExecutionRun, record: Callable[..., Checkpoint], info: ErrorInfo) -> None:
    await run.checkpoint(
        record(OperationStatus.FAILED, error=run.encode_error(info), ended_at=run.now())
    )
