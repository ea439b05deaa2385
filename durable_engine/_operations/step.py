"""The step operation: run a body once, checkpoint its outcome, retry durably."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from .._config import StepConfig, StepSemantics, wrong_answer
from .._errors import (
    ErrorInfo,
    PayloadTooLarge,
    SerDesError,
    StepInterruptedError,
    error_from_info,
    error_info,
)
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._retry import RetryDecision, RetryPresets
from .._run import ExecutionRun, cancelling
from .._step_context import OperationInStepError, StepContext, is_async_callable

__all__ = ["call_body", "run_step"]

_DEFAULT_CONFIG = StepConfig()
_DEFAULT_STRATEGY = RetryPresets.default()
_NO_RETRY = RetryDecision.no_retry()

# Looked up once here rather than on every step.
_STEP = OperationType.STEP
_STARTED = OperationStatus.STARTED
_SUCCEEDED = OperationStatus.SUCCEEDED
_PENDING = OperationStatus.PENDING
_FAILED = OperationStatus.FAILED
_AT_MOST_ONCE = StepSemantics.AT_MOST_ONCE_PER_RETRY
_new_tuple = tuple.__new__


def call_body(threads: Executor | None, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Call a sync or async body: async on the loop, sync in one of `threads` (the
    loop's default executor if None).

    An async body's own coroutine is returned, with no wrapper around it: every step
    awaits one."""
    if is_async_callable(fn):
        body: Awaitable[Any] = fn(*args)
        return body
    return _in_thread(threads, fn, *args)


async def _in_thread(threads: Executor | None, fn: Callable[..., Any], *args: Any) -> Any:
    # The body sees the caller's context variables, as with asyncio.to_thread. Cancelling
    # the run abandons the thread (its body may block for hours): the outcome is never
    # recorded, and the step runs again where the execution resumes.
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    result = await asyncio.get_running_loop().run_in_executor(threads, call)
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
    pending_error: BaseException | None = None
    started_at: float | None

    match run.resolve(op_id, _STEP, name):
        case Execute():  # first, so a first run pays one check
            attempt, started_at = 1, run.now()
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.values.outcome(cp, codec)
        case Resume(cp) if cp.status == _PENDING:
            started_at = cp.started_at
            await run.block(op_id, cp.wake_at)
            attempt = cp.attempt + 1
        case Resume(cp):
            # An at-most-once attempt started and never finished: the process died.
            started_at, attempt = cp.started_at, cp.attempt
            pending_error = StepInterruptedError(
                f"step {name or op_id} attempt {cp.attempt} was interrupted before its "
                "outcome was recorded",
                error_type="StepInterruptedError",
            )

    strategy = cfg.retry_strategy or _DEFAULT_STRATEGY
    at_most_once = cfg.step_semantics is _AT_MOST_ONCE
    while True:
        if pending_error is None:
            run.waits.begin_work()
            try:
                # The attempt is work from its first write to its last: `write`, with
                # no coroutine around it, is enough.
                if at_most_once:
                    await run.write(
                        _record(run, op_id, parent_id, name, _STARTED, attempt, started_at)
                    )
                step_ctx = StepContext(run.execution_id, op_id, attempt, run.logger)
                # `call_body` in place, one call fewer on every step's path.
                body = (
                    fn(step_ctx) if is_async_callable(fn) else _in_thread(run.threads, fn, step_ctx)
                )
                bodies = run.in_body  # so that an operation called inside it is refused
                bodies.add(body)
                try:
                    value = await body
                finally:
                    bodies.discard(body)
                data = run.values.encode(value, codec, op_id, "result of step", name or op_id)
                await run.write(
                    _record(
                        run,
                        op_id,
                        parent_id,
                        name,
                        _SUCCEEDED,
                        attempt,
                        started_at,
                        data,
                        None,
                        run.now(),
                    )
                )
                return run.values.stored(value, data, codec, op_id)
            except (PayloadTooLarge, SerDesError) as exc:
                info = _step_failure(exc)
                await _fail(run, op_id, parent_id, name, attempt, started_at, info)
                raise error_from_info(info) from None
            except (Exception, CancelledError) as exc:
                if cancelling(exc):
                    raise
                pending_error = exc
            finally:
                run.waits.end_work()
        decision = (
            _NO_RETRY  # the same mistake again on every attempt
            if isinstance(pending_error, OperationInStepError)
            else strategy(pending_error, attempt)
        )
        if isinstance(decision, RetryDecision):
            info = _step_failure(pending_error)
        else:  # the step fails with the strategy's mistake, never retried
            mistake = wrong_answer(
                "retry_strategy",
                strategy,
                decision,
                RetryDecision,
                f"attempt {attempt} failed with {type(pending_error).__name__}: {pending_error}",
            )
            mistake.__cause__ = pending_error  # the error the strategy was asked about
            info = _step_failure(mistake)
            decision = _NO_RETRY
        pending_error = None
        if not decision.should_retry:
            await _fail(run, op_id, parent_id, name, attempt, started_at, info)
            raise error_from_info(info) from None
        wake_at = run.now() + decision.delay.total_seconds()
        error = run.values.encode_error(info)
        await run.checkpoint(
            _record(
                run,
                op_id,
                parent_id,
                name,
                _PENDING,
                attempt,
                started_at,
                None,
                error,
                None,
                wake_at,
            )
        )
        await run.block(op_id, wake_at)
        attempt += 1


def _record(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    name: str | None,
    status: str,
    attempt: int,
    started_at: float | None,
    result: bytes | None = None,
    error: bytes | None = None,
    ended_at: float | None = None,
    wake_at: float | None = None,
) -> Checkpoint:
    """A checkpoint of this step. Built as the tuple it is: Checkpoint's own __new__ is
    Python code, and every step makes one of these."""
    return _new_tuple(
        Checkpoint,
        (
            run.execution_id,
            op_id,
            parent_id,
            _STEP,
            name,
            status,
            attempt,
            result,
            error,
            started_at,
            ended_at,
            wake_at,
            None,
        ),
    )


async def _fail(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    name: str | None,
    attempt: int,
    started_at: float | None,
    info: ErrorInfo,
) -> None:
    error = run.values.encode_error(info)
    await run.checkpoint(
        _record(run, op_id, parent_id, name, _FAILED, attempt, started_at, None, error, run.now())
    )
