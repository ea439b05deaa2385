"""Frozen configuration records for operations."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serdes import SerDes

    from .retry import RetryDecision

__all__ = [
    "Duration",
    "JitterStrategy",
    "RetryStrategy",
    "StepConfig",
    "StepSemantics",
    "to_seconds",
]

Duration = timedelta | float | int
"""A length of time: a `timedelta` or a number of seconds."""

RetryStrategy = Callable[[BaseException, int], "RetryDecision"]
"""Decides after a failed attempt (the error, the attempt number from 1) whether to retry."""


def to_seconds(duration: Duration, *, what: str = "duration") -> float:
    """Seconds in a `timedelta` or number; negative or non-finite values are refused."""
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, bool) or not isinstance(duration, int | float):
        raise TypeError(f"{what} must be a timedelta or a number of seconds, not {duration!r}")
    else:
        seconds = float(duration)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{what} must be a finite, non-negative length of time, not {duration!r}")
    return seconds


class StepSemantics(enum.Enum):
    """How a step behaves when the process dies while its body runs."""

    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"
    """The body may run again if the process dies before its outcome is committed."""
    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    """A STARTED record is committed first; an interrupted attempt is never re-run."""


class JitterStrategy(enum.Enum):
    """How much randomness is added to a retry delay."""

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepConfig:
    """How a step retries, how it survives crashes, and how its result is stored."""

    retry_strategy: RetryStrategy | None = None
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes | None = None
