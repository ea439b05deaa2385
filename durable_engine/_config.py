"""Frozen configuration records for operations."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serdes import SerDes

__all__ = [
    "Duration",
    "JitterStrategy",
    "RetryDecision",
    "RetryStrategy",
    "StepConfig",
    "StepSemantics",
    "check_callable",
    "check_delays",
    "check_instance",
    "check_int",
    "check_name",
    "check_number",
    "check_serdes",
    "exponential_delay",
    "to_seconds",
    "wrong_answer",
]

Duration = timedelta | float | int
"""A length of time: a `timedelta` or a number of seconds."""

RetryStrategy = Callable[[BaseException, int], "RetryDecision"]
"""Decides after a failed attempt (the error, the attempt number from 1) whether to retry."""


MAX_DURATION = timedelta(days=1000 * 365)
"""The longest length of time the engine accepts: every instant it stores stays a date
that `datetime` can show."""
_MAX_SECONDS = MAX_DURATION.total_seconds()


def to_seconds(duration: Duration, *, what: str = "duration") -> float:
    """Seconds in a `timedelta` or number; negative, non-finite and longer than
    MAX_DURATION (1000 years) are refused."""
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, bool) or not isinstance(duration, int | float):
        raise TypeError(f"{what} must be a timedelta or a number of seconds, not {duration!r}")
    else:
        seconds = float(duration)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{what} must be a finite, non-negative length of time, not {duration!r}")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{what} must be at most 1000 years, not {duration!r}")
    return seconds


def exponential_delay(initial: Duration, rate: float, attempt: int, cap: Duration) -> float:
    """`initial * rate ** (attempt - 1)` seconds, at most `cap`: what a backoff waits
    after failed attempt `attempt`. A power too large for a float is the cap."""
    try:
        base = to_seconds(initial) * rate ** (attempt - 1)
    except OverflowError:
        base = float("inf")
    return min(base, to_seconds(cap))


def check_delays(initial_delay: Duration, max_delay: Duration) -> tuple[float, float]:
    """Both delays in seconds; ValueError if the first delay is already over the cap,
    which would silently shorten it."""
    first = to_seconds(initial_delay, what="initial_delay")
    cap = to_seconds(max_delay, what="max_delay")
    if first > cap:
        raise ValueError(
            f"initial_delay ({first:g} s) is longer than max_delay ({cap:g} s), which would "
            "cut it short; raise max_delay"
        )
    return first, cap


def wrong_answer(
    role: str, strategy: object, answer: object, expected: type, after: str
) -> TypeError:
    """The error for a strategy (`role`: retry_strategy, wait_strategy) that answered
    something other than an `expected` decision, `after` naming what it was asked about."""
    what = getattr(strategy, "__qualname__", None) or repr(strategy)
    return TypeError(
        f"{role} {what} returned {_shown(answer)} instead of a {expected.__name__}, after {after}"
    )


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def check_int(value: object, what: str, minimum: int) -> None:
    """Refuse anything but an int (a bool is not one) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {_shown(value)}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, not {value!r}")


def check_number(value: object, what: str) -> float:
    """A finite int or float (not a bool) as a float, or TypeError/ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, not {_shown(value)}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return number


def check_callable(value: object, what: str, *, optional: bool = False) -> None:
    """Refuse what cannot be called (None too, unless `optional`)."""
    if not (callable(value) or (optional and value is None)):
        either = "None or a callable" if optional else "callable"
        raise TypeError(f"{what} must be {either}, not {_shown(value)}")


def check_instance(value: object, cls: type, what: str, *, optional: bool = False) -> None:
    """Refuse anything but an instance of `cls` (or None, if `optional`)."""
    if not (isinstance(value, cls) or (optional and value is None)):
        either = f"None or a {cls.__name__}" if optional else f"a {cls.__name__}"
        raise TypeError(f"{what} must be {either}, not {_shown(value)}")


def check_serdes(value: object, what: str = "serdes") -> None:
    """Refuse anything but None or an object with `serialize` and `deserialize` methods."""
    if value is not None and not (
        callable(getattr(value, "serialize", None))
        and callable(getattr(value, "deserialize", None))
    ):
        raise TypeError(
            f"{what} must be None or a SerDes (an object with serialize and deserialize "
            f"methods), not {_shown(value)}"
        )


def check_name(value: object, what: str = "name") -> None:
    """Refuse a name that is neither a str nor None (TypeError), and one holding a NUL
    character or a lone surrogate (ValueError): SQLite and UTF-8 cannot store them
    faithfully, and such a name would be stored but never found again."""
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {_shown(value)}")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain a NUL character: {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{what} must be valid Unicode text, without lone surrogates: {value!r}"
        ) from None


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
    """How a step retries, how it survives crashes, and how its result is stored.

    `defer_commit=True` (at-least-once steps only) lets the workflow go on before the
    step's outcome is committed: after a crash the step may run again, and the steps
    after it may then see another value. Deferred commits land in order, and all of
    them before an at-most-once step, a wait, a callback, an invoke, a batch's end and
    the execution's end."""

    retry_strategy: RetryStrategy | None = None
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes | None = None
    defer_commit: bool = False

    def __post_init__(self) -> None:
        check_callable(self.retry_strategy, "retry_strategy", optional=True)
        check_instance(self.step_semantics, StepSemantics, "step_semantics")
        check_serdes(self.serdes)
        check_instance(self.defer_commit, bool, "defer_commit")
        if self.defer_commit and self.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY:
            raise ValueError(
                "defer_commit=True needs step_semantics=AT_LEAST_ONCE_PER_RETRY: an "
                "at-most-once step commits that it started before its body runs, and its "
                "outcome before the workflow goes on"
            )


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, and after how long."""

    should_retry: bool
    delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not isinstance(self.delay, timedelta):
            raise TypeError(
                f"delay must be a timedelta, not {type(self.delay).__name__} {self.delay!r} "
                "(RetryDecision.retry(delay) also takes seconds)"
            )

    @classmethod
    def retry(cls, delay: Duration) -> RetryDecision:
        return cls(True, timedelta(seconds=to_seconds(delay, what="retry delay")))

    @classmethod
    def no_retry(cls) -> RetryDecision:
        return cls(False)
