"""When a run must leave memory: blocked operations, work in flight, and wake-ups.

A run suspends when every live branch is blocked (on a timer, a retry delay, a
callback or an invoked execution) and nothing is working (a step body running, a
write being committed): the blocked operations raise the private `Suspend` signal,
which unwinds the coroutine, and the earliest instant any of them is due goes to
the database. A run whose earliest timer is due within the in-memory threshold
stays in memory on that timer instead.

A wait begun in this run (a wait, a retry delay, a poll) measures elapsed time on the
clock's `monotonic()` from the moment it began, so a wall-clock jump fires it neither
early nor late. An instant read back from the database (a resumed wait, a callback's
or an invoke's timeout) stays a wall-clock deadline, due when `now()` reaches it, in
memory as in the database.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from ._clock import Clock, TimerHandle
from ._errors import StoreError, StoreFailed

__all__ = ["RunState", "Suspend", "Suspension"]

T = TypeVar("T")

_SETTLE_TICKS = 3


class Suspend(BaseException):
    """Unwinds a blocked execution; user code's `except Exception` cannot swallow it."""


class RunState(enum.Enum):
    """Where a run is in its life: one state, never a pair of flags that disagree."""

    RUNNING = "RUNNING"
    SUSPENDING = "SUSPENDING"
    """Every branch was blocked: they are unwinding with `Suspend`."""
    ENDED = "ENDED"
    """It finished, suspended or lost its lease: its context takes no more operations."""


@dataclass(slots=True)
class _Blocked:
    wake_at: float | None
    """The wall-clock instant it is due at (what is stored if the run suspends)."""
    due: float | None
    """For a wait begun in this run, the same moment on the clock's monotonic time
    (what its timer measures); None for a stored deadline."""
    future: asyncio.Future[None]
    timer: TimerHandle | None


class Suspension:
    """Tracks one run's blocked operations and work in flight, and decides when it
    suspends: once the loop has settled with every operation blocked."""

    __slots__ = (
        "_blocked",
        "_check_scheduled",
        "_external",
        "_generation",
        "_in_flight",
        "_woken",
        "clock",
        "in_memory_wait",
        "state",
        "wake_at",
        "woken_while_suspending",
    )

    def __init__(self, clock: Clock, in_memory_wait: float) -> None:
        self.clock = clock
        self.in_memory_wait = in_memory_wait
        self.state = RunState.RUNNING
        self.wake_at: float | None = None
        """When a suspended run is due again (None: when something wakes it)."""
        self.woken_while_suspending = False
        """A wake-up came after the run began to suspend: look for due work once it has."""
        self._in_flight = 0
        self._blocked: dict[str, _Blocked] = {}
        # Made at the first callback or invoke: most runs never wait on anything outside.
        self._external: set[str] | None = None
        self._woken: set[str] | None = None
        self._generation = 0
        self._check_scheduled = False

    @property
    def busy(self) -> bool:
        """Whether real work (a step body, a write) is in progress."""
        return self._in_flight > 0

    # -- work --------------------------------------------------------------------

    def begin_work(self) -> None:
        """Mark real work (a step body, a write) in progress, so the run does not suspend."""
        self._in_flight += 1

    def end_work(self) -> None:
        self._in_flight -= 1
        if self._blocked:
            self.changed()

    async def during(self, work: Awaitable[T]) -> T:
        """Await `work` counted as work in flight (a write being committed). A
        StoreError it raises unwinds the run as `StoreFailed`."""
        self._in_flight += 1
        try:
            return await work
        except StoreError as exc:
            raise StoreFailed(exc) from exc
        finally:
            self._in_flight -= 1
            if self._blocked:
                self.changed()

    @contextmanager
    def working(self) -> Iterator[None]:
        """`begin_work` and `end_work` around a block."""
        self.begin_work()
        try:
            yield
        finally:
            self.end_work()

    # -- blocking ------------------------------------------------------------------

    async def block(self, op_id: str, wake_at: float | None, due: float | None = None) -> None:
        """Wait until `wake_at` (or `wake(op_id)`); raises `Suspend` if the run suspends.

        `due` is the same moment on the clock's `monotonic()`, for a wait begun in this
        run: its timer measures elapsed time. Without it `wake_at` is a stored
        deadline, due when the wall clock reaches it."""
        clock = self.clock
        if due is not None:
            if due <= clock.monotonic():
                return
        elif wake_at is not None and wake_at <= clock.now():
            return
        if self._woken and op_id in self._woken:  # woken between its last look and now
            self._woken.discard(op_id)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = None
        if due is not None:
            timer = clock.call_later(due - clock.monotonic(), lambda: _resolve(future))
        elif wake_at is not None:
            timer = clock.call_at(wake_at, lambda: _resolve(future))
        self._blocked[op_id] = _Blocked(wake_at, due, future, timer)
        self.changed()
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()
            self._blocked.pop(op_id, None)
            self.changed()

    def wake(self, op_id: str) -> bool:
        """Wake a blocked operation (a callback was resolved in this process)."""
        if self.state is not RunState.RUNNING:  # it is leaving memory, or has left
            self.woken_while_suspending = True
            return True
        blocked = self._blocked.get(op_id)
        if blocked is not None:
            _resolve(blocked.future)
            return True
        if self._external and op_id in self._external:  # its next `block` returns at once
            if self._woken is None:
                self._woken = set()
            self._woken.add(op_id)
            return True
        return False

    def watch_external(self, op_id: str) -> None:
        """`op_id` waits on something outside this run: a callback, an invoked execution."""
        if self._external is None:
            self._external = set()
        self._external.add(op_id)

    def unwatch_external(self, op_id: str) -> None:
        if self._external:
            self._external.discard(op_id)
        if self._woken:
            self._woken.discard(op_id)

    def wake_external(self) -> None:
        """Something changed outside: operations waiting on it look at the database again."""
        if self.state is not RunState.RUNNING:
            self.woken_while_suspending = True
        for op_id in list(self._external or ()):
            self.wake(op_id)

    def end(self) -> None:
        """The run is over: its timers are cancelled."""
        self.state = RunState.ENDED
        for blocked in self._blocked.values():
            if blocked.timer is not None:
                blocked.timer.cancel()

    # -- the decision -----------------------------------------------------------------

    def changed(self) -> None:
        """Something that bears on suspension changed; while an operation is blocked,
        look again once the loop settles. (With nothing blocked there is nothing to
        look at: a later `block` counts as a change itself.)"""
        if not self._blocked:
            return
        self._generation += 1
        if not self._check_scheduled:
            self._check_scheduled = True
            asyncio.get_running_loop().call_soon(self._check, self._generation, 0)

    def _check(self, generation: int, ticks: int) -> None:
        if not self._blocked or self._in_flight or self.state is not RunState.RUNNING:
            self._check_scheduled = False
            return
        if generation != self._generation:
            asyncio.get_running_loop().call_soon(self._check, self._generation, 0)
            return
        if ticks < _SETTLE_TICKS:
            asyncio.get_running_loop().call_soon(self._check, generation, ticks + 1)
            return
        self._check_scheduled = False
        self._all_blocked()

    def _all_blocked(self) -> None:
        if any(b.future.done() for b in self._blocked.values()):
            # One was woken (its timer fired, an answer came) and has yet to run on:
            # suspending now would leave the run SUSPENDING with a branch still going.
            return
        mono, now = self.clock.monotonic(), self.clock.now()
        left = [
            b.due - mono if b.due is not None else b.wake_at - now
            for b in self._blocked.values()
            if b.wake_at is not None
        ]
        if left and min(left) <= self.in_memory_wait:
            return  # a timer is armed and due soon: stay in memory
        wakes = [b.wake_at for b in self._blocked.values() if b.wake_at is not None]
        earliest = min(wakes, default=None)
        self.state = RunState.SUSPENDING
        self.wake_at = earliest
        for blocked in list(self._blocked.values()):
            if not blocked.future.done():
                blocked.future.set_exception(Suspend())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
