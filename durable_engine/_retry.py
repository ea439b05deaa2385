"""Retry decisions and the delays between attempts: pure math, no I/O."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ._config import (
    Duration,
    JitterStrategy,
    RetryDecision,
    RetryStrategy,
    check_delays,
    check_instance,
    check_int,
    check_number,
    exponential_delay,
    to_seconds,
)

__all__ = [
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "apply_jitter",
    "create_linear_retry_strategy",
    "create_retry_strategy",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryStrategyConfig:
    """Exponential backoff: `initial_delay * backoff_rate ** (attempt - 1)`, capped.

    `max_attempts` counts every attempt, the first included. `retryable_errors` are
    regular expressions searched in the error message; `retryable_error_types` are
    exception classes. With neither, every error is retried.
    """

    max_attempts: int = 3
    initial_delay: Duration = timedelta(seconds=5)
    max_delay: Duration = timedelta(minutes=5)
    backoff_rate: float = 2.0
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: Sequence[str | re.Pattern[str]] | None = None
    retryable_error_types: Sequence[type[BaseException]] | None = None

    def __post_init__(self) -> None:
        check_delays(self.initial_delay, self.max_delay)
        if check_number(self.backoff_rate, "backoff_rate") < 1.0:
            raise ValueError(f"backoff_rate must be at least 1.0, not {self.backoff_rate!r}")
        _check_retry_options(
            self.max_attempts,
            self.jitter_strategy,
            self.retryable_errors,
            self.retryable_error_types,
        )


def _check_retry_options(
    max_attempts: object,
    jitter_strategy: object,
    retryable_errors: object,
    retryable_error_types: object,
) -> None:
    """What both kinds of strategy take, checked when the strategy is made rather than
    when a failed step first asks it."""
    check_int(max_attempts, "max_attempts", 1)
    check_instance(jitter_strategy, JitterStrategy, "jitter_strategy")
    for pattern in _listed(retryable_errors, "retryable_errors", "regular expressions"):
        if isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
            continue
        if not isinstance(pattern, str):
            raise TypeError(
                f"retryable_errors must hold str or re.Pattern[str], not "
                f"{type(pattern).__name__} {pattern!r}"
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"retryable_errors holds {pattern!r}, not a valid regular expression: {exc}"
            ) from None
    for error_type in _listed(retryable_error_types, "retryable_error_types", "exception classes"):
        if not (isinstance(error_type, type) and issubclass(error_type, BaseException)):
            raise TypeError(
                f"retryable_error_types must hold exception classes, not "
                f"{type(error_type).__name__} {error_type!r}"
            )


def _listed(value: object, what: str, of: str) -> Collection[object]:
    """`value` as a collection to check item by item; None is an empty one. A lone str or
    class is refused: it would be taken for a sequence of characters, or not iterate."""
    if value is None:
        return ()
    if isinstance(value, str | bytes | re.Pattern) or not isinstance(value, Collection):
        raise TypeError(
            f"{what} must be None or a list of {of}, not {type(value).__name__} {value!r}"
        )
    return value


_RNG = random.Random()


def _is_retryable(
    error: BaseException,
    patterns: Sequence[str | re.Pattern[str]] | None,
    types: Sequence[type[BaseException]] | None,
) -> bool:
    if patterns is None and types is None:
        return True
    if types is not None and isinstance(error, tuple(types)):
        return True
    if types is not None:
        # A failed step is seen as StepError; match on the original type name too.
        error_type = getattr(error, "error_type", None)
        if error_type and any(t.__name__ == error_type for t in types):
            return True
    if patterns is not None:
        message = str(getattr(error, "message", None) or error)
        return any(re.search(p, message) for p in patterns)
    return False


def apply_jitter(delay: float, strategy: JitterStrategy, rng: random.Random | None = None) -> float:
    """`delay` with the strategy's randomness: all of it (FULL), half of it (HALF), none."""
    rng = rng or _RNG
    if strategy is JitterStrategy.FULL:
        return rng.uniform(0.0, delay)
    if strategy is JitterStrategy.HALF:
        return delay / 2 + rng.uniform(0.0, delay / 2)
    return delay


@dataclass(frozen=True, slots=True)
class _ExponentialStrategy:
    config: RetryStrategyConfig
    rng: random.Random = field(default=_RNG, compare=False)

    def __call__(self, error: BaseException, attempt: int) -> RetryDecision:
        c = self.config
        if attempt >= c.max_attempts:
            return RetryDecision.no_retry()
        if not _is_retryable(error, c.retryable_errors, c.retryable_error_types):
            return RetryDecision.no_retry()
        delay = exponential_delay(c.initial_delay, c.backoff_rate, attempt, c.max_delay)
        return RetryDecision.retry(apply_jitter(delay, c.jitter_strategy, self.rng))


def create_retry_strategy(config: RetryStrategyConfig | None = None) -> RetryStrategy:
    """A strategy with exponential backoff and jitter from `config`."""
    return _ExponentialStrategy(config or RetryStrategyConfig())


@dataclass(frozen=True, slots=True)
class _LinearStrategy:
    max_attempts: int
    initial_delay: float
    increment: float
    max_delay: float
    jitter_strategy: JitterStrategy
    retryable_errors: Sequence[str | re.Pattern[str]] | None
    retryable_error_types: Sequence[type[BaseException]] | None
    rng: random.Random = field(default=_RNG, compare=False)

    def __call__(self, error: BaseException, attempt: int) -> RetryDecision:
        if attempt >= self.max_attempts:
            return RetryDecision.no_retry()
        if not _is_retryable(error, self.retryable_errors, self.retryable_error_types):
            return RetryDecision.no_retry()
        delay = min(self.initial_delay + self.increment * (attempt - 1), self.max_delay)
        return RetryDecision.retry(apply_jitter(delay, self.jitter_strategy, self.rng))


def create_linear_retry_strategy(
    *,
    max_attempts: int = 3,
    initial_delay: Duration = timedelta(seconds=5),
    increment: Duration = timedelta(seconds=5),
    max_delay: Duration = timedelta(minutes=5),
    jitter_strategy: JitterStrategy = JitterStrategy.NONE,
    retryable_errors: Sequence[str | re.Pattern[str]] | None = None,
    retryable_error_types: Sequence[type[BaseException]] | None = None,
) -> RetryStrategy:
    """A strategy whose delay grows by `increment` after each failed attempt."""
    _check_retry_options(max_attempts, jitter_strategy, retryable_errors, retryable_error_types)
    first, cap = check_delays(initial_delay, max_delay)
    return _LinearStrategy(
        max_attempts,
        first,
        to_seconds(increment, what="increment"),
        cap,
        jitter_strategy,
        retryable_errors,
        retryable_error_types,
    )


class RetryPresets:
    """Ready-made strategies for common cases."""

    @staticmethod
    def none() -> RetryStrategy:
        """One attempt, no retry."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=1))

    @staticmethod
    def default() -> RetryStrategy:
        """6 attempts, 5 s doubling up to 60 s, full jitter: what a step uses by default."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=6,
                initial_delay=timedelta(seconds=5),
                max_delay=timedelta(seconds=60),
                backoff_rate=2.0,
                jitter_strategy=JitterStrategy.FULL,
            )
        )

    @staticmethod
    def transient() -> RetryStrategy:
        """3 attempts, 1 s doubling, half jitter: for brief network blips."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=3,
                initial_delay=timedelta(seconds=1),
                max_delay=timedelta(seconds=10),
                backoff_rate=2.0,
                jitter_strategy=JitterStrategy.HALF,
            )
        )

    @staticmethod
    def resource_availability() -> RetryStrategy:
        """5 attempts, 5 s doubling up to 5 min: for a resource that comes back slowly."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=timedelta(seconds=5),
                max_delay=timedelta(minutes=5),
                backoff_rate=2.0,
            )
        )

    @staticmethod
    def critical() -> RetryStrategy:
        """10 attempts, 1 s growing 1.5x up to 60 s, no jitter: for work that must succeed."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=10,
                initial_delay=timedelta(seconds=1),
                max_delay=timedelta(seconds=60),
                backoff_rate=1.5,
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @staticmethod
    def linear(max_attempts: int = 5, increment: Duration = timedelta(seconds=5)) -> RetryStrategy:
        """Delays of 1, 2, 3 ... times `increment`."""
        step = to_seconds(increment, what="increment")
        return create_linear_retry_strategy(
            max_attempts=max_attempts,
            initial_delay=step,
            increment=step,
            max_delay=max(step * max(max_attempts, 1), 300.0),  # never below the usual cap
        )

    @staticmethod
    def fixed(interval: Duration, max_attempts: int = 3) -> RetryStrategy:
        """The same delay before every retry."""
        seconds = to_seconds(interval, what="interval")
        return create_linear_retry_strategy(
            max_attempts=max_attempts,
            initial_delay=seconds,
            increment=0,
            max_delay=seconds,
        )
