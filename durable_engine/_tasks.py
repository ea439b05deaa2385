"""Tasks with an owner: one task group for as long as an engine is open.

An engine may be opened in one task and closed in another (a test fixture, a
service's startup and shutdown hooks), and a task group must be entered and left
by one task. So one host task holds the group: every task the engine starts (a
run, the scheduler's loops, an adopted creation) is a child of it, and `aclose`
cancels what is left and waits for all of it to end. A child that fails with
anything but a cancellation fails the group, and `aclose` raises it: nothing the
engine starts can end unseen.

The group is asyncio's own `TaskGroup`: it starts a task for about a third of what
an anyio group's `start_soon` costs, and every execution is one task, so the
checkpoint benchmark's many short executions feel the difference (see
ARCHITECTURE.md). Cancel scopes inside the tasks are anyio's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVarTuple

__all__ = ["TaskHost"]

Args = TypeVarTuple("Args")


class TaskHost:
    """A task group kept open by a task of its own, between `start` and `aclose`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._group: asyncio.TaskGroup | None = None
        self._host: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the group; `spawn` may be called once this returns."""
        ready = asyncio.get_running_loop().create_future()
        self._host = asyncio.create_task(self._hold(ready), name=self.name)
        await ready

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                ready.set_result(None)
                await asyncio.get_running_loop().create_future()  # until `aclose` cancels
        except (SystemExit, KeyboardInterrupt):
            # A child's, which has already left the event loop for its caller: the
            # group need not report it again.
            pass

    def spawn(
        self, fn: Callable[[*Args], Coroutine[Any, Any, None]], *args: *Args, name: str
    ) -> asyncio.Task[None]:
        """Run `fn(*args)` as a child of the group."""
        if self._group is None:
            raise RuntimeError("the engine is not open: no task can be started")
        return self._group.create_task(fn(*args), name=name)

    def starter(self) -> Callable[..., asyncio.Task[Any]]:
        """The group's own `create_task(coro, name=...)`, for a caller that starts a task
        per execution and saves the call to `spawn`."""
        if self._group is None:
            raise RuntimeError("the engine is not open: no task can be started")
        return self._group.create_task

    async def aclose(self) -> None:
        """Cancel every child, wait for all of them, and raise what any of them raised."""
        host = self._host
        self._host = self._group = None
        if host is None:
            return
        host.cancel()  # the group cancels its children, and waits for them
        await asyncio.wait([host])  # the host's outcome is raised below, not by the wait
        if not host.cancelled():  # a child failed: the group raises that instead
            host.result()
