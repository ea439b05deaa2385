"""wait_for_condition: poll a check, keep its state durably, wait between polls."""

from __future__ import annotations

import copy
import warnings
from asyncio import CancelledError
from collections.abc import Callable
from dataclasses import InitVar, dataclass
from datetime import timedelta
from typing import Any

from serdes import SerDes

from .._config import (
    Duration,
    JitterStrategy,
    check_callable,
    check_delays,
    check_instance,
    check_int,
    check_number,
    check_serdes,
    exponential_delay,
    to_seconds,
    wrong_answer,
)
from .._errors import WaitForConditionError, error_from_info, error_info
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import OperationStatus, OperationType
from .._retry import apply_jitter
from .._run import ExecutionRun, cancelling
from .._step_context import StepContext
from .step import call_body

__all__ = [
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategyConfig",
    "create_wait_strategy",
    "run_condition",
]


@dataclass(frozen=True, slots=True)
class WaitForConditionDecision:
    """Poll again after `delay`, or stop polling."""

    should_continue: bool
    delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not isinstance(self.delay, timedelta):
            raise TypeError(
                f"delay must be a timedelta, not {type(self.delay).__name__} {self.delay!r} "
                "(WaitForConditionDecision.continue_waiting(delay) also takes seconds)"
            )

    @classmethod
    def continue_waiting(cls, delay: Duration) -> WaitForConditionDecision:
        return cls(True, timedelta(seconds=to_seconds(delay, what="delay")))

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        return cls(False)


WaitStrategy = Callable[[Any, int], WaitForConditionDecision]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForConditionConfig:
    wait_strategy: WaitStrategy
    initial_state: Any = None
    serdes: SerDes | None = None

    def __post_init__(self) -> None:
        check_callable(self.wait_strategy, "wait_strategy")
        check_serdes(self.serdes)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitStrategyConfig:
    """Poll while `should_continue_polling(state)`, backing off between polls."""

    should_continue_polling: Callable[[Any], bool]
    max_attempts: int = 60
    initial_delay: Duration = timedelta(seconds=5)
    max_delay: Duration = timedelta(minutes=5)
    backoff_rate: float = 1.5
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    jitter: InitVar[JitterStrategy | None] = None
    """Deprecated: the old name of `jitter_strategy` (it warns)."""

    def __post_init__(self, jitter: JitterStrategy | None) -> None:
        if jitter is not None:
            warnings.warn(
                "WaitStrategyConfig(jitter=...) is deprecated: use jitter_strategy=, "
                "as for retries",
                DeprecationWarning,
                stacklevel=3,
            )
            object.__setattr__(self, "jitter_strategy", jitter)
        check_callable(self.should_continue_polling, "should_continue_polling")
        check_int(self.max_attempts, "max_attempts", 1)
        check_delays(self.initial_delay, self.max_delay)
        if not check_number(self.backoff_rate, "backoff_rate") > 0:
            raise ValueError(f"backoff_rate must be more than 0, not {self.backoff_rate!r}")
        check_instance(self.jitter_strategy, JitterStrategy, "jitter_strategy")


def create_wait_strategy(config: WaitStrategyConfig) -> WaitStrategy:
    """A strategy that stops once the condition holds and gives up after `max_attempts`."""
    check_instance(config, WaitStrategyConfig, "config")

    def strategy(state: Any, attempt: int) -> WaitForConditionDecision:
        if not config.should_continue_polling(state):
            return WaitForConditionDecision.stop_polling()
        if attempt >= config.max_attempts:
            raise WaitForConditionError(
                f"condition not met after {attempt} attempts",
                error_type="WaitForConditionError",
            )
        delay = exponential_delay(
            config.initial_delay, config.backoff_rate, attempt, config.max_delay
        )
        return WaitForConditionDecision.continue_waiting(
            apply_jitter(delay, config.jitter_strategy)
        )

    return strategy


async def run_condition(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    check: Callable[[Any, StepContext], Any],
    config: WaitForConditionConfig,
    name: str | None,
) -> Any:
    codec = config.serdes
    # Each execution polls from its own copy: a check may change the state it is given.
    state = copy.deepcopy(config.initial_state)
    attempt = 1
    started_at = run.now()
    match run.resolve(op_id, OperationType.CONDITION, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.values.outcome(cp, codec)
        case Resume(cp):
            state = run.values.stored_value(cp.result, codec, op_id)
            started_at = cp.started_at or started_at
            await run.block(op_id, cp.wake_at)
            attempt = cp.attempt + 1
        case Execute():
            pass
    return await _poll(
        run,
        op_id,
        parent_id,
        check,
        config,
        name,
        state=state,
        attempt=attempt,
        started_at=started_at,
    )


async def _poll(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    check: Callable[[Any, StepContext], Any],
    config: WaitForConditionConfig,
    name: str | None,
    *,
    state: Any,
    attempt: int,
    started_at: float,
) -> Any:
    """Check, decide and checkpoint until the strategy stops polling or the check fails."""
    codec = config.serdes

    def record(status: OperationStatus, **fields: Any) -> Any:
        return run.put(
            op_id, parent_id, OperationType.CONDITION, name, status,
            attempt=attempt, started_at=started_at, **fields,
        )  # fmt: skip

    while True:
        run.waits.begin_work()
        try:
            state = await call_body(
                run.threads, check, state, StepContext(run.execution_id, op_id, attempt, run.logger)
            )
            decision = config.wait_strategy(state, attempt)
            if not isinstance(decision, WaitForConditionDecision):
                raise wrong_answer(
                    "wait_strategy",
                    config.wait_strategy,
                    decision,
                    WaitForConditionDecision,
                    f"check {attempt}",
                )
            data = run.values.encode(state, codec, op_id, "state of condition", name or op_id)
        except (Exception, CancelledError) as exc:
            if cancelling(exc):
                raise
            info = error_info(exc, default_kind="StepError")
            await run.checkpoint(
                record(
                    OperationStatus.FAILED, error=run.values.encode_error(info), ended_at=run.now()
                )
            )
            raise error_from_info(info) from None
        finally:
            run.waits.end_work()
        if not decision.should_continue:
            await run.checkpoint(record(OperationStatus.SUCCEEDED, result=data, ended_at=run.now()))
            return run.values.decode(data, codec, op_id)
        wake_at, due = run.began(decision.delay.total_seconds())
        await run.checkpoint(record(OperationStatus.PENDING, result=data, wake_at=wake_at))
        await run.block(op_id, wake_at, due)
        attempt += 1
