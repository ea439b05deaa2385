"""Retry strategies: attempts counted from 1, delays capped, errors filtered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_engine import (
    JitterStrategy,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    StepError,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
    create_wait_strategy,
)


def test_exponential_backoff_without_jitter_is_capped() -> None:
    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=6,
            initial_delay=timedelta(seconds=1),
            max_delay=timedelta(seconds=5),
            backoff_rate=2.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    delays = [strategy(ValueError(), n).delay.total_seconds() for n in range(1, 6)]
    assert delays == [1, 2, 4, 5, 5]
    assert strategy(ValueError(), 6) == RetryDecision.no_retry()


def test_a_backoff_too_large_for_a_float_is_the_cap() -> None:
    """Attempt 2000 of a doubling backoff: 2.0 ** 1999 overflows a float."""
    retry = create_retry_strategy(
        RetryStrategyConfig(max_attempts=5000, jitter_strategy=JitterStrategy.NONE)
    )
    assert retry(ValueError(), 2000) == RetryDecision.retry(timedelta(minutes=5))
    poll = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: True,
            max_attempts=5000,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    assert poll(None, 2000) == WaitForConditionDecision.continue_waiting(timedelta(minutes=5))


@pytest.mark.parametrize("jitter", [JitterStrategy.FULL, JitterStrategy.HALF])
def test_jitter_stays_within_the_delay(jitter: JitterStrategy) -> None:
    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=100, initial_delay=10, max_delay=10, jitter_strategy=jitter
        )
    )
    low = 0 if jitter is JitterStrategy.FULL else 5
    for _ in range(200):
        delay = strategy(ValueError(), 3).delay.total_seconds()
        assert low <= delay <= 10


def test_retryable_types_and_patterns_filter_errors() -> None:
    by_type = create_retry_strategy(RetryStrategyConfig(retryable_error_types=[TimeoutError]))
    assert by_type(TimeoutError(), 1).should_retry
    assert not by_type(ValueError(), 1).should_retry
    # A failed step is seen as StepError: its original type name is matched too.
    assert by_type(StepError("x", error_type="TimeoutError"), 1).should_retry
    by_pattern = create_retry_strategy(RetryStrategyConfig(retryable_errors=[r"throttl"]))
    assert by_pattern(RuntimeError("request throttled"), 1).should_retry
    assert not by_pattern(RuntimeError("bad request"), 1).should_retry


def test_linear_and_fixed_strategies() -> None:
    linear = create_linear_retry_strategy(max_attempts=4, initial_delay=2, increment=3)
    assert [linear(ValueError(), n).delay.total_seconds() for n in (1, 2, 3)] == [2, 5, 8]
    assert not linear(ValueError(), 4).should_retry
    fixed = RetryPresets.fixed(timedelta(seconds=7), max_attempts=3)
    assert [fixed(ValueError(), n).delay.total_seconds() for n in (1, 2)] == [7, 7]
    # As documented, 1, 2, 3 ... times the increment, also past five minutes.
    slow = RetryPresets.linear(max_attempts=4, increment=timedelta(minutes=10))
    assert [slow(ValueError(), n).delay.total_seconds() for n in (1, 2, 3)] == [600, 1200, 1800]


def test_presets() -> None:
    assert not RetryPresets.none()(ValueError(), 1).should_retry
    default = RetryPresets.default()
    assert default(ValueError(), 5).should_retry and not default(ValueError(), 6).should_retry
    assert RetryPresets.critical()(ValueError(), 9).should_retry
    for preset in (
        RetryPresets.transient(),
        RetryPresets.resource_availability(),
        RetryPresets.linear(),
    ):
        assert preset(ValueError(), 1).should_retry


def test_invalid_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryStrategyConfig(max_attempts=0)
    with pytest.raises(ValueError, match="non-negative"):
        RetryStrategyConfig(initial_delay=-1)
    with pytest.raises(ValueError, match="non-negative"):
        RetryDecision.retry(-5)
