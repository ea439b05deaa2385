"""Where the engine reads the time and arms timers.

Timers are wall-clock UTC instants (seconds since the epoch) stored in the database.
Every read of "now" goes through a `Clock`, so tests can run on virtual time.

If the wall clock jumps, a timer is due when `clock.now()` reaches its stored
instant: a jump forward fires timers early by the clock's own reading, a jump back
delays them. A timer never fires before its instant by the clock that reads it.
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
    """Reads the time and calls back at an instant."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Call `callback` on the running loop once `now()` has reached `when`."""
        ...


class SystemClock:
    """The real wall clock; timers are armed on the running event loop."""

    now = staticmethod(time.time)
    """Seconds since the epoch: `time.time` itself, with no Python call around it."""

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        delay = max(0.0, when - time.time())

        def fire() -> None:
            # loop timers run on a monotonic clock: re-arm until the wall clock has
            # reached `when`, so a timer never fires before its instant.
            remaining = when - time.time()
            if remaining > 0:
                handle.inner = loop.call_later(remaining, fire)
            else:
                callback()

        handle = _LoopTimer(loop.call_later(delay, fire))
        return handle


class _LoopTimer:
    __slots__ = ("inner",)

    def __init__(self, inner: asyncio.TimerHandle) -> None:
        self.inner = inner

    def cancel(self) -> None:
        self.inner.cancel()
