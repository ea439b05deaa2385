"""`VirtualClock`: engine time that moves only when a test moves it.

Timers armed on it fire (on the event loop that armed them) when the clock is moved
to or past their instant; `next_timer()` tells a test runner where to jump next.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .._clock import TimerHandle
from .._config import to_seconds

__all__ = ["VirtualClock"]


class _Timer:
    """One armed timer; cancelling it before it fires means it never fires."""

    __slots__ = ("callback", "cancelled", "handle", "loop", "when")

    def __init__(
        self, when: float, callback: Callable[[], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.when = when
        self.callback = callback
        self.loop = loop
        self.cancelled = False
        self.handle: asyncio.Handle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()

    def fire(self) -> None:
        if self.cancelled or self.loop.is_closed():
            return
        self.handle = self.loop.call_soon(self._run)

    def _run(self) -> None:
        if not self.cancelled:
            self.cancelled = True  # fired: a later cancel() is a no-op
            self.callback()


class VirtualClock:
    """A `Clock` whose time stands still until `advance` or `advance_to` moves it.

    `start` is the initial instant (a datetime, or seconds since the epoch); by default
    the real time when the clock is made. Moving the clock fires every timer due by the
    new instant, earliest first; a timer armed for an instant already reached fires on
    the next turn of the event loop. Time never moves backwards.
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = time.time()
        elif isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("start must be an aware datetime (e.g. tzinfo=UTC)")
            start = start.timestamp()
        self._now = float(start)
        self.start = self._now
        """The instant the clock started at, in seconds since the epoch."""
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"VirtualClock({self.now_datetime().isoformat()})"

    # -- the Clock protocol ------------------------------------------------------

    def now(self) -> float:
        """The virtual time, in seconds since the epoch."""
        return self._now

    def monotonic(self) -> float:
        """The virtual time too: it never goes back, so it serves as elapsed time."""
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Arm a timer that fires once the clock has moved `delay` seconds on."""
        return self.call_at(self._now + delay, callback)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Arm a timer on the running loop that fires once the clock reaches `when`."""
        timer = _Timer(when, callback, asyncio.get_running_loop())
        if when <= self._now:
            timer.fire()
        else:
            heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    # -- moving time -------------------------------------------------------------

    def now_datetime(self) -> datetime:
        """The virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self._now, UTC)

    @property
    def elapsed(self) -> timedelta:
        """How far the clock has moved since it started."""
        return timedelta(seconds=self._now - self.start)

    def next_timer(self) -> float | None:
        """The instant of the earliest armed timer that has not fired, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pending_timers(self) -> int:
        """How many armed timers have not fired or been cancelled."""
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward by `delta` and fire the timers now due."""
        self.advance_to(self._now + to_seconds(delta, what="delta"))

    def advance_to(self, when: datetime | float) -> None:
        """Move the clock forward to `when` and fire the timers now due, earliest first."""
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        if target < self._now:
            raise ValueError(f"a virtual clock does not go back: {target} is before {self._now}")
        self._now = target
        heap = self._heap
        while heap and heap[0][0] <= target:
            _, _, timer = heapq.heappop(heap)
            timer.fire()
