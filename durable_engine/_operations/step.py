"""The step operation: run a body once, checkpoint its outcome, retry durably."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from .._config import StepConfig, StepSemantics, wrong_answer
from .._errors import (
    ErrorInfo,
    PayloadTooLarge,
    SerDesError,
    StepInterruptedError,
    StoreError,
    StoreFailed,
    error_from_info,
    error_info,
)
from .._journal import Completed, Execute, Mismatch, Outcome, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._retry import RetryDecision, RetryPresets
from .._run import ExecutionRun, cancelling
from .._step_context import OperationInStepError, StepContext, is_async_callable

if TYPE_CHECKING:
    from .._store import Mutation

__all__ = ["call_body", "run_step"]

_DEFAULT_CONFIG = StepConfig()
_DEFAULT_STRATEGY = RetryPresets.default()
_NO_RETRY = RetryDecision.no_retry()

# Looked up once here rather than on every step.
_STEP = OperationType.STEP
_STARTED = OperationStatus.STARTED
_DONE = OperationStatus.SUCCEEDED
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
    """`ctx.step`: the recorded outcome, or run the body, record its outcome, retry."""
    cfg = config or _DEFAULT_CONFIG
    codec = cfg.serdes
    pending_error: BaseException | None = None
    began: float | None
    attempt_began: float | None
    match run.resolve(op_id, _STEP, name):
        case Execute():  # first, so a first run pays one check
            attempt, began = 1, run.now()
            attempt_began = began
        case Completed(cp):
            return run.values.outcome(cp, codec)
        case other:
            attempt, began, attempt_began, pending_error = await _resume(run, op_id, name, other)
    strategy = cfg.retry_strategy or _DEFAULT_STRATEGY
    at_most_once = cfg.step_semantics is _AT_MOST_ONCE
    defer = cfg.defer_commit
    on_loop = is_async_callable(fn)  # else in a worker thread (`call_body`, in place)
    while True:
        if pending_error is None:
            run.waits.begin_work()
            span = (
                None
                if run.telemetry is None
                else run.telemetry.start_attempt(run.record, op_id, name, attempt)
            )
            try:
                # Work from its first write to its last (`write` needs no coroutine around).
                if at_most_once:
                    await run.settle()  # what came before is committed before the body runs
                    started = _record(run, op_id, parent_id, name, _STARTED, attempt, began)
                    await _written(run, started)
                step_ctx = StepContext(run.execution_id, op_id, attempt, run.logger)
                body = fn(step_ctx) if on_loop else _in_thread(run.threads, fn, step_ctx)
                run.in_body.add(body)  # so that an operation called inside it is refused
                try:
                    value = await body
                finally:
                    run.in_body.discard(body)
                    del body  # not kept while the outcome commits
                data = run.values.encode(value, codec, op_id, "result of step", name or op_id)
                ended = run.now()
                done = _record(run, op_id, parent_id, name, _DONE, attempt, began, data, ended)
                # After more than one attempt, the attempts before it are kept: this one too.
                landed = done if attempt == 1 else run.ended_attempt(done, attempt_began, ended)
                if defer:
                    pause = run.defer(landed)  # queued now, in order; landed by a `settle`
                    if pause is not None:
                        await pause
                else:
                    await _written(run, landed)
                if span is not None:
                    span.end("succeeded")
                return run.values.stored(value, data, codec, op_id)
            except (PayloadTooLarge, SerDesError) as exc:
                if span is not None:
                    span.end("failed", exc)
                raise await _fail(
                    run, op_id, parent_id, name, attempt, began, attempt_began, _step_failure(exc)
                ) from None
            except (Exception, CancelledError) as exc:
                if cancelling(exc):
                    raise
                if span is not None:
                    span.end("failed", exc)
                pending_error = exc
            finally:
                run.waits.end_work()
                if span is not None:
                    span.end("cancelled")  # unless it ended above
        info, decision = _decide(strategy, pending_error, attempt)
        pending_error = None
        if not decision.should_retry:
            raise await _fail(
                run, op_id, parent_id, name, attempt, began, attempt_began, info
            ) from None
        await _retry_later(
            run, op_id, parent_id, name, attempt, began, attempt_began, info, decision
        )
        attempt += 1
        attempt_began = run.now()


async def _written(run: ExecutionRun, checkpoint: Mutation) -> None:
    """Commit `checkpoint` (a step's record, alone or with its attempt). A store that
    fails it fails the run, not the step: the body's outcome is not replaced by the
    store's error, and the body does not run again here (`StoreFailed` unwinds the run;
    the execution is handed back)."""
    try:
        await run.write(checkpoint)
    except StoreError as exc:
        raise StoreFailed(exc) from exc


async def _resume(
    run: ExecutionRun, op_id: str, name: str | None, outcome: Outcome
) -> tuple[int, float | None, float | None, BaseException | None]:
    """Where a step left off: its next attempt once its retry is due, or the error of an
    at-most-once attempt the process died in. (attempt, started_at, the attempt's start,
    error)"""
    if isinstance(outcome, Mismatch):
        raise run.nondeterminism(outcome)
    assert isinstance(outcome, Resume)
    cp = outcome.checkpoint
    if cp.status is _PENDING:
        await run.block(op_id, cp.wake_at)
        return cp.attempt + 1, cp.started_at, run.now(), None
    interrupted = StepInterruptedError(
        f"step {name or op_id} attempt {cp.attempt} was interrupted before its "
        "outcome was recorded",
        error_type="StepInterruptedError",
    )
    # The attempt's own start is known for a first attempt only (the step's start).
    return cp.attempt, cp.started_at, cp.started_at if cp.attempt == 1 else None, interrupted


def _decide(
    strategy: Callable[[BaseException, int], Any], error: BaseException, attempt: int
) -> tuple[ErrorInfo, RetryDecision]:
    """What the retry strategy decides about a failed attempt, with the error to record.
    A strategy that raises, or answers with something else, fails the step with that
    mistake, never retried."""
    if isinstance(error, OperationInStepError):  # the same mistake again on every attempt
        return _step_failure(error), _NO_RETRY
    try:
        decision = strategy(error, attempt)
    except Exception as raised:  # the step fails with the strategy's own error
        raised.__context__ = error
        return _step_failure(raised), _NO_RETRY
    if isinstance(decision, RetryDecision):
        return _step_failure(error), decision
    mistake = wrong_answer(
        "retry_strategy",
        strategy,
        decision,
        RetryDecision,
        f"attempt {attempt} failed with {type(error).__name__}: {error}",
    )
    mistake.__cause__ = error  # the error the strategy was asked about
    return _step_failure(mistake), _NO_RETRY


async def _retry_later(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    name: str | None,
    attempt: int,
    started_at: float | None,
    attempt_began: float | None,
    info: ErrorInfo,
    decision: RetryDecision,
) -> None:
    """Record the failed attempt as PENDING with its retry's time, keep the attempt, and
    wait for the retry."""
    if run.telemetry is not None:
        run.telemetry.retried(run.record)
    now = run.now()
    wake_at, due = run.began(decision.delay.total_seconds())
    error = run.values.encode_error(info)
    pending = _record(
        run, op_id, parent_id, name, _PENDING, attempt, started_at, None, None, error, wake_at
    )
    await run.checkpoint(run.ended_attempt(pending, attempt_began, now))
    await run.block(op_id, wake_at, due)


def _record(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    name: str | None,
    status: OperationStatus,
    attempt: int,
    started_at: float | None,
    result: bytes | None = None,
    ended_at: float | None = None,
    error: bytes | None = None,
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
    attempt_began: float | None,
    info: ErrorInfo,
) -> Exception:
    """Record the step as FAILED with `info` (and keep its last attempt, if it had more
    than one); the error to raise to the workflow."""
    error = run.values.encode_error(info)
    now = run.now()
    failed = _record(run, op_id, parent_id, name, _FAILED, attempt, started_at, None, now, error)
    if attempt == 1:
        await run.checkpoint(failed)
    else:
        await run.checkpoint(run.ended_attempt(failed, attempt_began, now))
    return error_from_info(info)
