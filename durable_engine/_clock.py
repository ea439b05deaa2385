"""Where the engine reads the time and arms timers.

Two clocks, and one rule for which measures what:

- **Stored deadlines are wall-clock.** A timer kept in the database (the wake-up of a
  suspended execution, a callback's timeout, an execution's total timeout, a
  schedule's next firing) is a UTC instant, seconds since the epoch, due when
  `now()` reaches it (`call_at`). A wall-clock jump moves them: forward, they are due
  early by the clock's reading; back, late. None is due before its instant by the
  clock that reads it.
  A resumed wait, read back from the database, is such a deadline too.
- **Time in memory is elapsed time.** A wait, a retry delay or a poll begun in a
  running execution and kept in memory, and the scheduler's sleeps, measure elapsed
  time on `monotonic()` (`call_later`) from when they began, which no wall-clock jump
  moves: they fire neither early nor late.

Every read of either goes through a `Clock`, so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "TimerHandle"]


@runtime_checkable
class TimerHandle(Protocol):
    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Reads the time and calls back at an instant or after a delay."""

    def now(self) -> float:
        """Seconds since the epoch, UTC (the wall clock, which may jump)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that only moves forward at the pace of time, whatever
        the wall clock does; only differences between readings mean anything."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Call `callback` on the running loop once `now()` has reached `when`."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Call `callback` on the running loop once `monotonic()` has moved `delay`."""
        ...


class SystemClock:
    """The real clocks; timers are armed on the running event loop."""

    now = staticmethod(time.time)
    """Seconds since the epoch: `time.time` itself, with no Python call around it."""

    monotonic = staticmethod(time.monotonic)
    """`time.monotonic`, the clock the event loop's own timers run on."""

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        now = self.now

        def fire() -> None:
            # loop timers run on a monotonic clock: re-arm until the wall clock has
            # reached `when`, so a timer never fires before its instant.
            remaining = when - now()
            if remaining > 0:
                handle.inner = loop.call_later(remaining, fire)
            else:
                callback()

        handle = _LoopTimer(loop.call_later(max(0.0, when - now()), fire))
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _LoopTimer:
    __slots__ = ("inner",)

    def __init__(self, inner: asyncio.TimerHandle) -> None:
        self.inner = inner

    def cancel(self) -> None:
        self.inner.cancel()
