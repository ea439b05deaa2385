"""Claims due executions, keeps this worker's lease alive, and wakes up without polling tables.

Timers run on the engine's Clock (virtual in tests); leases always run on the real
clocks, because they track whether a process is alive. A lease's expiry is stored on
the wall clock, but no wall-clock jump takes a lease from a live worker: a claimer
takes another worker's executions only once it has itself seen that worker's heartbeat
(its row's `expires_at`) keep one value for a full lease on this process's monotonic
clock. The observations are kept here, in memory: a worker that has just started waits
a full lease from its first look before it takes anything over.

The worker sleeps until the earliest due timer (re-armed when an earlier one is
added), or until another process commits. On PostgreSQL other processes' commits are
announced (LISTEN/NOTIFY, `Store.listen`) and each acted on at once; polling the store's
`data_version` stays as the fallback, every `poll_interval` (on SQLite, where it is
`PRAGMA data_version` and nearly free, every 50 ms; on PostgreSQL, every second while
notifications arrive, and every 50 ms while they cannot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

import anyio

from ._clock import Clock, TimerHandle
from ._cron import execution_name, firings
from ._errors import StoreError
from ._events import emit
from ._ids import new_execution_id
from ._models import ExecutionRecord
from ._store import Change, NewExecution, ScheduleRecord, Store, WorkerGone, WorkerInfo
from ._tasks import TaskHost

__all__ = ["Scheduler", "SchedulerHost", "new_worker_id"]

POLL_INTERVAL = 0.05
"""Seconds between polls of `data_version` when changes are not announced."""
LISTENING_POLL_INTERVAL = 1.0
"""Seconds between polls while changes are announced (a fallback)."""
CLAIM_BATCH = 100
"""Most executions one claim takes. A worker takes a backlog in passes of this size,
one after another, so that workers claiming at once share it rather than the first
taking all of it; and the first pass's executions run while the next is claimed."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SchedulerHost(Protocol):
    """What the scheduler needs from the engine."""

    def function_keys(self) -> Sequence[str]: ...

    def capacity(self) -> int: ...

    def launch(self, record: ExecutionRecord) -> None: ...

    async def drop_all(self) -> None: ...

    def external_change(self) -> None: ...

    def changed_elsewhere(self, execution_id: str) -> None: ...

    def wake_waiters(self, execution_id: str) -> None: ...

    def cancel(self, execution_id: str) -> None: ...

    def newest_version(self, function: str) -> int: ...


class Scheduler:
    """One per engine: a worker row with a lease, a claim loop and a heartbeat loop."""

    def __init__(
        self,
        store: Store,
        host: SchedulerHost,
        clock: Clock,
        *,
        worker_id: str,
        lease: float,
        logger: logging.Logger,
        poll_interval: float | None = None,
        listen: bool = True,
    ) -> None:
        self.store = store
        self.host = host
        self.clock = clock
        self.worker_id = worker_id
        self.lease = lease
        self.logger = logger
        self._poke = asyncio.Event()
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._loops = anyio.CancelScope()
        """Around the claim and heartbeat loops: cancelled by `stop`."""
        self._stopped: asyncio.Event | None = None
        """Set once the loops have ended; None until they are started."""
        self._claiming = True
        self._full = False
        """Due work was left unclaimed for want of room here."""
        self._schedules_at: float | None = -math.inf
        """When a schedule of ours is next due, as last read (None: none is; -inf:
        read again, another process may have changed them)."""
        self._membership = asyncio.Lock()
        """Held by a claim, and by the heartbeat while it renews this worker's row or
        rejoins: a claim made between dropping everything and releasing it would be
        released at once, with its run still going."""
        self._poll_interval = poll_interval
        """Seconds between polls of `data_version` (None: as the module says)."""
        self._listen = listen
        self._announced = False
        """Whether other processes' changes are being announced to this scheduler now."""
        self._info = WorkerInfo(
            worker_id=worker_id, host=socket.gethostname(), pid=os.getpid(), started_at=time.time()
        )
        self._seen: dict[str, tuple[float, float]] = {}
        """Each other worker's heartbeat as last read, and when (on `time.monotonic`)
        it was first read with that value."""

    async def start(self, tasks: TaskHost) -> None:
        """Join the workers, claim what is due, and run the loops as children of `tasks`."""
        await self.store.register_worker(self._info, time.time() + self.lease)
        await self._reap_dead_local_workers()
        # The first claim is made before the engine counts as open: work a crash left
        # behind is running again by then, and this claim does not queue behind the
        # caller's first writes.
        version = await self.store.data_version()
        names = self.host.function_keys()
        if names:  # a new deploy may replay what an older one held
            await self.store.retry_blocked(names, self.clock.now())
        if self._listen:
            self.store.listen(self._changed)
        await self._claim_due()
        stopped = self._stopped = asyncio.Event()
        tasks.spawn(self._serve, version, stopped, name="durable-scheduler")

    async def _serve(self, version: int, stopped: asyncio.Event) -> None:
        try:
            with self._loops:
                async with anyio.create_task_group() as loops:
                    loops.start_soon(self._claim_loop, version, name="durable-claims")
                    loops.start_soon(self._heartbeat_loop, name="durable-heartbeat")
        finally:
            stopped.set()

    async def stop(self) -> None:
        """End the loops (this worker's row stays until the engine removes it)."""
        self._loops.cancel()
        if self._stopped is not None:
            await self._stopped.wait()
        self._disarm()

    def poke(self) -> None:
        """Look for due work now."""
        self._poke.set()

    def poked(self) -> bool:
        """Whether a look for due work was asked for and has not happened yet."""
        return self._poke.is_set()

    def capacity_freed(self) -> None:
        """A run here ended: look for due work again if it was left waiting for room."""
        if self._full:
            self._full = False
            self.poke()

    def stop_claiming(self) -> None:
        """Take no more work; the heartbeat goes on until `stop`."""
        self._claiming = False

    def schedules_changed(self) -> None:
        """Schedules changed (here or in another process): read them on the next pass."""
        self._schedules_at = -math.inf
        self.poke()

    def wake_at(self, when: float | None) -> None:
        """An unowned execution becomes due at `when`: arm the timer if it is earlier."""
        if when is None:
            return
        if self._timer_at is None or when < self._timer_at:
            self._arm(when)

    def poll_interval(self) -> float:
        """Seconds until the next poll of `data_version`."""
        if self._poll_interval is not None:
            return self._poll_interval
        return LISTENING_POLL_INTERVAL if self._announced else POLL_INTERVAL

    def _changed(self, change: Change) -> None:
        """Act on a change another process committed (see `Change`)."""
        kind = change.kind
        if kind == "due":
            if change.at is not None:
                self.wake_at(change.at)
            return
        if kind == "answer":
            for execution_id in change.ids:
                self.host.changed_elsewhere(execution_id)
        elif kind == "stop":
            for execution_id in change.ids:
                self.host.cancel(execution_id)
                self.host.wake_waiters(execution_id)
            return
        elif kind == "end":
            for execution_id in change.ids:
                self.host.wake_waiters(execution_id)
            return
        elif kind == "schedules":
            self._schedules_at = -math.inf
        elif kind == "listening":  # what was sent while no one listened is lost
            self._announced = True
            self._schedules_at = -math.inf
            self.host.external_change()
        elif kind == "lost":
            self._announced = False
        self.poke()

    def _arm(self, when: float) -> None:
        self._disarm()
        self._timer_at = when
        self._timer = self.clock.call_at(when, self.poke)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    async def _claim_due(self) -> None:
        """Claim and launch due executions, then arm the timer for the next one due."""
        self._poke.clear()
        names = self.host.function_keys()
        try:
            if names and self._claiming:
                capacity = self.host.capacity()
                if capacity <= 0:
                    # Full: what is due waits in the database until a run here ends
                    # (`capacity_freed`), rather than a timer firing again and again.
                    self._full = True
                    self._disarm()
                    return
                await self._fire_schedules(names)
                self._observe(await self.store.list_workers())
                limit = min(capacity, CLAIM_BATCH)
                try:
                    async with self._membership:
                        lease_now = time.time()
                        claimed = await self.store.claim(
                            self.worker_id,
                            names,
                            self.clock.now(),
                            limit,
                            lease_now=lease_now,
                            stale=self._stale(),
                            expires_at=lease_now + self.lease,
                        )
                        for record in claimed:
                            self._log_claim(record)
                            self.host.launch(record)
                except WorkerGone:
                    await self._rejoin("its worker row was deleted: dropping its executions")
                    self.poke()
                    return
                if len(claimed) == limit:  # there may be more: the next pass at once
                    self.poke()
                    return
                due = [await self.store.next_wake_at(names), self._schedules_at]
                nxt = min((t for t in due if t is not None), default=None)
                self._disarm()
                if nxt is not None:
                    self._arm(nxt)
        except StoreError as exc:
            self.logger.warning("claiming work failed: %s", exc)

    async def _fire_schedules(self, keys: Sequence[str]) -> None:
        """Fire the schedules of our functions that are due, each once across workers:
        a firing and the executions it starts are one transaction in the store, and
        the executions' names (`<schedule>@<time>`) dedupe them besides."""
        now = self.clock.now()
        if self._schedules_at is None or now < self._schedules_at:
            return
        names = sorted({key.rpartition("@")[0] for key in keys})
        for schedule in await self.store.due_schedules(names, now):
            await self._fire(schedule, now)
        upcoming = await self.store.due_schedules(names, None)
        self._schedules_at = upcoming[0].next_fire_at if upcoming else None

    async def _fire(self, schedule: ScheduleRecord, now: float) -> None:
        times, nxt = firings(
            schedule.cron, schedule.timezone, schedule.catchup, schedule.next_fire_at, now
        )
        version = self.host.newest_version(schedule.function)
        news = [
            NewExecution(
                execution_id=new_execution_id(),
                name=execution_name(schedule.name, schedule.timezone, at),
                function=schedule.function,
                version=version,
                input=schedule.input,
                created_at=now,
                owner=None,
            )
            for at in times
        ]
        fired = await self.store.fire_schedule(schedule.name, schedule.next_fire_at, nxt, news, now)
        for record, created in fired or ():
            if created:
                emit(
                    self.logger,
                    "schedule_fired",
                    execution_id=record.execution_id,
                    function=record.function,
                    status="RUNNING",
                    schedule=schedule.name,
                    name=record.name,
                )

    async def _claim_loop(self, last_version: int) -> None:
        sweep_every = max(self.lease / 3, 0.05)
        while True:
            # Sleep until poked (a timer fired, another process announced a change), a
            # poll finds another process committed, or a sweep is due.
            deadline = time.monotonic() + sweep_every
            while not self._poke.is_set() and time.monotonic() < deadline:
                wait = min(self.poll_interval(), deadline - time.monotonic())
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the poke does, and stop() would wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(wait, 0.0)):
                        await self._poke.wait()
                if self._poke.is_set():
                    break
                try:
                    version = await self.store.data_version()
                except StoreError:
                    continue
                if version != last_version:
                    last_version = version
                    self._schedules_at = -math.inf
                    self.host.external_change()
                    break
            await self._claim_due()

    async def _heartbeat_loop(self) -> None:
        interval = self.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._membership:
                    await self._renew()
                await self._reap_dead_local_workers()
            except StoreError as exc:
                self.logger.warning("heartbeat failed: %s", exc)

    async def _renew(self) -> None:
        """Extend this worker's lease; if it was given up meanwhile, rejoin empty-handed."""
        if await self.store.renew_worker(self.worker_id, time.time() + self.lease):
            return
        await self._rejoin("paused past its lease: dropping its executions", held=True)

    async def _rejoin(self, reason: str, *, held: bool = False) -> None:
        """This worker's row is gone, so its executions may be another's: drop every
        run here, wait until none is left running, hand back what no one took, and
        register again. `held`: the caller holds the membership lock already."""
        if not held:
            async with self._membership:
                await self._rejoin(reason, held=True)
            return
        emit(
            self.logger, "worker_lease_lost", logging.WARNING, worker=self.worker_id, reason=reason
        )
        # A run's body may still be going (a sync body in a thread): a claim must not
        # start the same execution here again until it has ended.
        await self.host.drop_all()
        # Release what no one has taken over yet, so it does not wait on us.
        await self.store.remove_worker(self.worker_id, self.clock.now())
        await self.store.register_worker(self._info, time.time() + self.lease)

    def _observe(self, workers: Sequence[tuple[WorkerInfo, float]]) -> None:
        """Note each other worker's heartbeat, and since when it has kept its value."""
        now = time.monotonic()
        seen: dict[str, tuple[float, float]] = {}
        for info, beat in workers:
            if info.worker_id == self.worker_id:
                continue
            before = self._seen.get(info.worker_id)
            seen[info.worker_id] = (
                before if before is not None and before[0] == beat else (beat, now)
            )
        self._seen = seen

    def _stale(self) -> dict[str, float]:
        """The workers whose heartbeat this process has seen unchanged for a full
        lease, with that heartbeat: the only ones whose executions a claim may take
        over (as long as the heartbeat is still that one)."""
        now = time.monotonic()
        return {w: beat for w, (beat, first) in self._seen.items() if now - first >= self.lease}

    def _log_claim(self, record: ExecutionRecord) -> None:
        emit(
            self.logger,
            "claim" if record.taken_from is None else "takeover",
            execution_id=record.execution_id,
            function=record.function,
            status="RUNNING",
            epoch=record.epoch,
            previous_owner=record.taken_from,
        )

    async def _reap_dead_local_workers(self) -> None:
        """Workers on this host whose process is gone leave their work at once."""
        workers = await self.store.list_workers()
        self._observe(workers)
        dead = [
            info.worker_id
            for info, _ in workers
            if info.host == self._info.host
            and info.pid != self._info.pid
            and not _pid_alive(info.pid)
        ]
        if dead:
            self.logger.info("taking over from dead local workers: %s", ", ".join(dead))
            await self.store.reap_workers(dead)
            self.poke()
