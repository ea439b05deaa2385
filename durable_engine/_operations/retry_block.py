"""with_retry: run a block of operations again, in a fresh child context, until it
succeeds or its retry strategy gives up.

The block is operation `X`, a child context. Attempt n is the child context
`X/(2n-1)`, named `attempt-n`, and the delay after it the durable timer `X/(2n)`,
named `retry-delay-n`: each attempt numbers its operations apart from the others',
and a failed attempt keeps its records. A failed attempt's fate is decided once: a
replay that finds the delay's record takes it as the decision and does not ask the
strategy again (a strategy may draw random jitter).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from .._config import RetryStrategy, wrong_answer
from .._errors import NonDeterministicError, WithRetryError, error_info
from .._retry import RetryDecision, RetryPresets
from .._run import ExecutionRun
from .._step_context import step_name
from .child import ContextFactory, run_child
from .wait import run_wait

__all__ = ["run_with_retry"]

_DEFAULT_STRATEGY = RetryPresets.default()


async def run_with_retry(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    fn: Callable[[Any], Awaitable[Any]],
    name: str | None,
    retry_strategy: RetryStrategy | None,
    make_context: ContextFactory,
) -> Any:
    """`ctx.with_retry`: the block's result, or WithRetryError once the strategy stops."""
    strategy = retry_strategy or _DEFAULT_STRATEGY
    attempts = 0  # attempts begun so far, on this run (replayed ones included)

    async def block(_: Any) -> Any:
        nonlocal attempts
        while True:
            attempts += 1
            number = attempts
            try:
                return await run_child(
                    run,
                    f"{op_id}/{2 * number - 1}",
                    op_id,
                    fn,
                    f"attempt-{number}",
                    make_context,
                    attempt=functools.partial(int, number),
                )
            except Exception as exc:
                if run.fatal is not None or isinstance(exc, NonDeterministicError):
                    raise
                error: Exception = exc
            delay_id = f"{op_id}/{2 * number}"
            seconds = 0.0
            if run.journal.get(delay_id) is None:  # not decided on a run before this one
                seconds = _delay(strategy, error, number)
            await run_wait(run, delay_id, op_id, seconds, f"retry-delay-{number}")

    return await run_child(
        run,
        op_id,
        parent_id,
        block,
        name if name is not None else step_name(fn),
        make_context,
        attempt=lambda: max(attempts, 1),
    )


def _delay(strategy: RetryStrategy, error: Exception, attempt: int) -> float:
    """Seconds to wait before the next attempt; WithRetryError if there is none. A
    strategy that raises, or answers with something else, ends the block with that
    mistake, as it ends a step."""
    try:
        decision = strategy(error, attempt)
    except Exception as raised:
        raised.__context__ = error  # the error the strategy was asked about
        raise _gave_up(raised) from raised
    if not isinstance(decision, RetryDecision):
        mistake = wrong_answer(
            "retry_strategy",
            strategy,
            decision,
            RetryDecision,
            f"attempt {attempt} failed with {type(error).__name__}: {error}",
        )
        raise _gave_up(mistake) from error
    if not decision.should_retry:
        raise _gave_up(error) from error
    return decision.delay.total_seconds()


def _gave_up(error: BaseException) -> WithRetryError:
    """The block's final error: the type name, message and trace of `error` (for an
    error of ours, of the original error it carries)."""
    info = error_info(error)
    return WithRetryError(
        info.message, error_type=info.error_type, stack_trace=info.stack_trace, data=info.data
    )
