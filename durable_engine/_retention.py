"""Purging ended executions: on request (`engine.purge`) and in the background
(`Engine(retention=...)`).

A purge deletes whole executions in small transactions of `PURGE_BATCH` each, so the
write lock is never held for long and the workers on the file go on between them.
Each transaction is all or nothing: a purge cut off (its process killed) leaves every
execution either whole or gone, and the next purge goes on where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from ._clock import Clock
from ._config import check_int, check_name
from ._errors import StoreError
from ._events import emit
from ._models import ExecutionStatus
from ._store import Store

__all__ = ["PURGE_BATCH", "RETENTION_INTERVAL", "Purger", "cutoff", "ended_statuses"]

PURGE_BATCH = 100
"""Executions deleted per transaction."""

RETENTION_INTERVAL = 300.0
"""Seconds between two background purges of an engine with a `retention`."""


def cutoff(ended_before: datetime | timedelta, now: float) -> float:
    """`ended_before` as a timestamp: an aware datetime as it is, a timedelta as that
    long before `now`."""
    if isinstance(ended_before, timedelta):
        if ended_before < timedelta(0):
            raise ValueError(f"ended_before must not be negative, not {ended_before}")
        return now - ended_before.total_seconds()
    if isinstance(ended_before, datetime):
        if ended_before.tzinfo is None or ended_before.utcoffset() is None:
            raise ValueError(
                "ended_before must be an aware datetime (with a tzinfo, e.g. UTC) or a "
                f"timedelta, not the naive {ended_before.isoformat()}"
            )
        return ended_before.timestamp()
    raise TypeError(
        f"ended_before must be a datetime or a timedelta, not {type(ended_before).__name__}"
    )


def ended_statuses(
    statuses: Iterable[ExecutionStatus | str] | None,
) -> tuple[ExecutionStatus, ...] | None:
    """`statuses` checked: each an ended status (ValueError for any other)."""
    if statuses is None:
        return None
    if isinstance(statuses, str):
        raise TypeError("statuses must be a list of statuses, not one string")
    checked: list[ExecutionStatus] = []
    for status in statuses:
        try:
            member = ExecutionStatus(status)
        except ValueError:
            raise ValueError(f"unknown execution status {status!r}") from None
        if not member.is_terminal:
            raise ValueError(
                f"only ended executions are purged: {member} is not an ended status "
                "(SUCCEEDED, FAILED, TIMED_OUT, STOPPED)"
            )
        checked.append(member)
    return tuple(checked)


class Purger:
    """Deletes ended executions in small transactions."""

    def __init__(self, store: Callable[[], Store], clock: Clock, logger: logging.Logger) -> None:
        self._store = store
        self.clock = clock
        self.logger = logger

    async def purge(
        self,
        before: float,
        statuses: tuple[ExecutionStatus, ...] | None,
        function: str | None,
        limit: int | None,
        *,
        dry_run: bool = False,
    ) -> int:
        """Delete (with `dry_run`: count) the ended executions that match, at most
        `limit`; how many."""
        check_name(function, "function")
        if limit is not None:
            check_int(limit, "limit", 1)
        store = self._store()
        if dry_run:
            found = await store.find_purgeable(
                before, statuses=statuses, function=function, limit=limit
            )
            return len(found)
        total = 0
        while limit is None or total < limit:
            batch = PURGE_BATCH if limit is None else min(PURGE_BATCH, limit - total)
            ids = await store.purge_executions(
                before, statuses=statuses, function=function, limit=batch
            )
            total += len(ids)
            if len(ids) < batch:
                break
            await asyncio.sleep(0)  # let the run's own writes in between batches
        if total:
            emit(self.logger, "purge", executions=total)
        return total

    async def keep(self, retention: float) -> None:
        """Purge what ended more than `retention` seconds ago, now and every
        `RETENTION_INTERVAL` seconds, until cancelled. A purge that fails is logged and
        tried again at the next interval."""
        while True:
            try:
                await self.purge(self.clock.now() - retention, None, None, None)
            except StoreError as exc:
                self.logger.warning("background purge failed, tried again later: %s", exc)
            await _sleep(self.clock, self.clock.now() + RETENTION_INTERVAL)


async def _sleep(clock: Clock, until: float) -> None:
    """Sleep until `clock` reaches `until` (virtual time in tests)."""
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    timer = clock.call_at(until, wake)
    try:
        await woken
    finally:
        timer.cancel()
