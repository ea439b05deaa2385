"""The PostgreSQL store's writer: one connection, and the task that commits on it.

Every write goes through one list of pending jobs, as in the SQLite store: the task
takes whatever has gathered and applies it in one transaction (`pg_batch`), then
resolves each caller's future. A connection lost before the commit (a server
restarting, a network cut) is opened again with backoff and the batch applied anew,
for as long as it takes: the callers' commits wait, and `failure` says why; one lost
during the commit is opened again and the server asked (`txid_status`) whether the
transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from .pg_batch import CommitUncertain, Job, Outcome, apply_batch, is_disconnect, store_error
from .queued import fail_later_writes

if TYPE_CHECKING:
    import asyncpg

__all__ = ["RECONNECT_DELAYS", "Writer"]

RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0)
"""Waits between attempts while the server is unreachable (the last one repeated for
as long as the store is open; about 30 s in all once it is closing)."""

Connect = Callable[[], Awaitable["asyncpg.Connection[Any]"]]


class Writer:
    """Applies queued jobs, a batch per transaction, on a connection of its own."""

    def __init__(
        self, connect: Connect, conn: asyncpg.Connection[Any], channel: str = "", sender: str = ""
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._sender = sender
        self._conn: asyncpg.Connection[Any] | None = conn
        self._pending: list[Job] = []
        self.failure: tuple[StoreError, float] | None = None
        """While writes fail on a lost connection and are tried again: the latest error
        and the Unix time of the first failure in a row."""
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._task = asyncio.create_task(self._loop(), name="durable-writer")
        self.own_commits = 0
        """How many times this writer advanced the `commits` sequence."""

    def queue(self, job: Job) -> None:
        if self._closing:
            raise StoreError("the store is not open")
        self._pending.append(job)
        if self._wakeup is not None:
            self._wake()

    async def close(self) -> None:
        """Commit what is queued, then close the connection."""
        self._closing = True
        self._wake()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except Exception:
                conn.terminate()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _loop(self) -> None:
        try:
            await self._write_jobs()
        finally:
            self._closing = True
            jobs, self._pending = self._pending, []
            for future, _, _, _ in jobs:
                if not future.done():
                    future.set_exception(StoreError("the store closed before this write"))

    async def _write_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    break
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            jobs, self._pending = self._pending, []
            try:
                outcomes, wrote, advanced = await self._apply(jobs)
            except Exception as exc:
                error = store_error(exc)
                if not isinstance(error, StoreError):
                    error = StoreError(f"write failed: {exc}")
                for future, _, _, _ in jobs:
                    if not future.done():
                        future.set_exception(error)
                self._pending = fail_later_writes(self._pending, jobs, error)
                continue
            if advanced:
                self.own_commits += 1
            elif wrote:
                # After the commit and before anyone hears of it: whoever sees the counter
                # move can read what moved it.
                with contextlib.suppress(Exception):
                    await (await self._usable()).fetchval("SELECT nextval('commits')")
                    self.own_commits += 1
            for future, ok, value in outcomes:
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(store_error(value))
            for job in jobs:
                future = job[0]
                if not future.done():
                    future.set_result(None)

    async def _apply(self, jobs: list[Job]) -> tuple[list[Outcome], bool, bool]:
        """Apply `jobs` in one transaction, on a new connection if the last was lost.
        While the server cannot be reached the commit waits and is tried again, for as
        long as the store is open (`failure` says why); once it closes, for about 30 s."""
        tries = 0
        while True:
            delay = RECONNECT_DELAYS[min(tries, len(RECONNECT_DELAYS) - 1)]
            tries += 1
            try:
                conn = await self._usable()
                applied = await apply_batch(conn, jobs, self._channel, self._sender)
                self.failure = None
                return applied
            except CommitUncertain as exc:
                self._failing(exc)
                self._drop()
                if self._given_up(tries):
                    raise
                # A transaction that wrote nothing (no xid: say the server ended the
                # session while this process was stopped) left nothing to find out.
                if exc.xid is not None and await self._committed(exc.xid):
                    return exc.outcomes, exc.wrote, False
            except Exception as exc:
                self._drop()  # whatever state it was left in, start afresh
                if not _passing(exc) or self._given_up(tries):
                    raise
                self._failing(exc)
            await asyncio.sleep(delay)

    def _given_up(self, tries: int) -> bool:
        """Whether to stop trying: only once the store closes, after as many tries as
        `RECONNECT_DELAYS` has waits."""
        return self._closing and tries > len(RECONNECT_DELAYS)

    def _failing(self, exc: BaseException) -> None:
        """A write failed on a lost connection and is tried again: keep why, and since
        when (the first failure of a run of them)."""
        error = store_error(exc)
        if not isinstance(error, StoreError):
            error = StoreError(f"PostgreSQL: {exc}")
        since = time.time() if self.failure is None else self.failure[1]
        self.failure = (error, since)

    async def _committed(self, xid: int) -> bool:
        """Whether the transaction `xid` committed (asked once the server answers)."""
        tries = 0
        while True:
            delay = RECONNECT_DELAYS[min(tries, len(RECONNECT_DELAYS) - 1)]
            tries += 1
            try:
                status = await (await self._usable()).fetchval("SELECT txid_status($1)", xid)
                return bool(status == "committed")
            except Exception as exc:
                self._drop()
                if not _passing(exc) or self._given_up(tries):
                    raise store_error(exc) from exc
                self._failing(exc)
            await asyncio.sleep(delay)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _usable(self) -> asyncpg.Connection[Any]:
        """The connection, opened again if it was lost (`_Unreachable` if it cannot be:
        the caller waits and tries again)."""
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        try:
            self._conn = await self._connect()
        except StoreError as exc:
            raise _Unreachable(str(exc)) from exc
        return self._conn


class _Unreachable(StoreError):
    """No new connection could be opened: the server is down, starting or cut off."""


def _passing(exc: BaseException) -> bool:
    """Whether a write that failed with `exc` may succeed later as it is."""
    return isinstance(exc, _Unreachable) or is_disconnect(exc)
