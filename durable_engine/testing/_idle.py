"""Knowing when an engine has nothing left to do until (virtual) time passes.

The engine is idle when no database call is in flight, no execution is loading or
running a step body, the scheduler has not been poked, and this holds for enough
loop turns in a row with no database call. Database calls are counted by wrapping the store, so
the check needs no real-time sleep to tell "waiting for a timer" from "working".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["IdleProbe", "TrackedStore"]

_QUIET_TICKS = 25
"""Loop turns in a row with nothing busy and no database call: idle."""
_BUSY_SPIN_TICKS = 10
"""Loop turns spent busy before pausing for a database call or a thread to finish."""
_WORK_POLL = 0.002
"""Longest real-time pause while a database call or a step body is in progress."""


class TrackedStore:
    """Wraps a store and counts its calls in flight; every other attribute passes through."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.in_flight = 0
        self.calls = 0
        self._changed: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        return self._tracked(attr)

    def _tracked(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.in_flight += 1
            self.calls += 1
            try:
                return await method(*args, **kwargs)
            finally:
                self.in_flight -= 1
                if self._changed is not None:
                    self._changed.set()

        return call

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return when a call ends, or after `timeout` seconds at most."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()


class IdleProbe:
    """Tells whether an engine (opened on a `TrackedStore`) is idle, and waits until it is."""

    def __init__(self, engine: Engine, store: TrackedStore) -> None:
        self.engine = engine
        self.store = store

    def busy(self) -> bool:
        """Something is in progress that does not wait for time to pass."""
        if self.store.in_flight:
            return True
        # A poke not yet looked at, an execution still loading or running a step body.
        return self.engine.wants_to_look() or self.engine.executor.busy()

    async def settle(self) -> None:
        """Return once nothing in the engine can move on without time passing: enough
        loop turns in a row with nothing busy and no database call."""
        quiet = busy_turns = 0
        last_calls = -1
        while True:
            if self.busy():
                quiet = 0
                busy_turns += 1
                if busy_turns > _BUSY_SPIN_TICKS:  # a thread is at work: wait for it
                    await self.store.wait_for_change(_WORK_POLL)
                else:
                    await asyncio.sleep(0)
                continue
            busy_turns = 0
            quiet = quiet + 1 if self.store.calls == last_calls else 0
            last_calls = self.store.calls
            if quiet >= _QUIET_TICKS:
                return
            await asyncio.sleep(0)
