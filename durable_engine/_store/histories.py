"""Histories asked for in one turn of the event loop, read with one query.

A worker that claims a hundred executions starts a hundred runs at once, and each
asks for its history: a read each would be a round trip each (to the database
thread, or to the server). `Histories.load(execution_id)` gathers the executions
asked for until the loop's next turn and reads them together with the store's
`read_many(ids)`, one query from one snapshot, whose result maps each id to its
checkpoints (an unknown id to none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .._models import Checkpoint

__all__ = ["Histories", "ReadMany", "group_rows"]

ReadMany = Callable[[list[str]], Awaitable[dict[str, list[Checkpoint]]]]
"""Reads the checkpoints of every execution named, in one query."""


class Histories:
    """Loads of execution histories, each turn's read as one."""

    __slots__ = ("_asked", "_read_many", "_reading")

    def __init__(self, read_many: ReadMany) -> None:
        self._read_many = read_many
        self._asked: dict[str, list[asyncio.Future[list[Checkpoint]]]] | None = None
        self._reading: set[asyncio.Task[dict[str, list[Checkpoint]]]] = set()

    def load(self, execution_id: str) -> asyncio.Future[list[Checkpoint]]:
        """The checkpoints of `execution_id`, read with those asked for beside it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Checkpoint]] = loop.create_future()
        asked = self._asked
        if asked is None:
            asked = self._asked = {}
            loop.call_soon(self._read)
        waiting = asked.get(execution_id)
        if waiting is None:
            asked[execution_id] = [future]
        else:
            waiting.append(future)
        return future

    def _read(self) -> None:
        asked, self._asked = self._asked, None
        if not asked:
            return
        task = asyncio.ensure_future(self._read_many(list(asked)))
        self._reading.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(lambda done: self._deliver(asked, done))

    def _deliver(
        self,
        asked: dict[str, list[asyncio.Future[list[Checkpoint]]]],
        done: asyncio.Task[dict[str, list[Checkpoint]]],
    ) -> None:
        self._reading.discard(done)
        error = None if done.cancelled() else done.exception()
        found = None if done.cancelled() or error is not None else done.result()
        for execution_id, futures in asked.items():
            for i, future in enumerate(futures):
                if future.done():  # its caller gave up waiting
                    continue
                if found is None:
                    if error is None:
                        future.cancel()
                    else:
                        future.set_exception(error)
                else:
                    history = found.get(execution_id, [])
                    # Each caller gets a list of its own (the checkpoints are immutable).
                    future.set_result(history if i == 0 else list(history))


def group_rows(
    execution_ids: list[str], checkpoints: list[Checkpoint]
) -> dict[str, list[Checkpoint]]:
    """`checkpoints` of several executions, by execution (every id present)."""
    out: dict[str, list[Checkpoint]] = {execution_id: [] for execution_id in execution_ids}
    for checkpoint in checkpoints:
        out[checkpoint.execution_id].append(checkpoint)
    return out
