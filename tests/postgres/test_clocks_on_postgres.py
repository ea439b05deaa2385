"""Leases and timers on the server's clock: two hosts whose clocks disagree by 4 s
neither fire each other's timers early nor take a live lease; and two engines whose
own clocks (`Engine(clock=...)`) disagree by 4 s."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    PostgresStore,
    SystemClock,
)
from durable_engine._clock import TimerHandle
from durable_engine._store import Fence, SuspendExecution
from tests.conftest import wait_for_status
from tests.store.helpers import NOW, new, worker


async def _raw(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_store_on_this_host_measures_no_offset(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert store.clock_offset == 0.0  # same machine, same clock
    finally:
        await store.close()


async def test_hosts_with_skewed_clocks_agree_on_timers_and_leases(postgres_url: str) -> None:
    behind = PostgresStore(postgres_url, clock_offset=2.0)  # its clock: server - 2 s
    ahead = PostgresStore(postgres_url, clock_offset=-2.0)  # its clock: server + 2 s
    await behind.open()
    await ahead.open()
    try:
        await behind.register_worker(worker("w1"), NOW + 600)
        await behind.create_execution(new("e1", owner="w1", created_at=NOW))
        await behind.commit(Fence("e1", 1), SuspendExecution(wake_at=NOW + 10))
        assert await _raw(postgres_url, "SELECT wake_at FROM durable.executions") == NOW + 12
        # On its own clock the timer is due at NOW + 10 + 4 on the host ahead: at NOW + 13
        # (server NOW + 11) it is not due yet, though NOW + 13 > NOW + 10.
        assert await ahead.next_wake_at(["flow@1"]) == NOW + 14
        assert await ahead.claim("w2", ["flow@1"], NOW + 13, 10, lease_now=NOW) == []
        [claimed] = await ahead.claim("w2", ["flow@1"], NOW + 14, 10, lease_now=NOW)
        assert claimed.created_at == NOW + 4  # the creation, on the claiming host's clock

        # w1's lease ends at server NOW + 602: the host ahead sees that as NOW + 604.
        assert [(w.worker_id, t) for w, t in await ahead.list_workers()] == [("w1", NOW + 604)]
        await ahead.create_execution(new("e2", owner="w1", created_at=NOW))
        assert await ahead.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 603) == []
        [taken] = await ahead.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 604)
        assert (taken.execution_id, taken.taken_from) == ("e2", "w1")
    finally:
        await behind.close()
        await ahead.close()


class _OffsetClock(SystemClock):
    """The wall clock moved by `offset` seconds, given to an engine as its clock."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:  # the engine's reading of the time
        return time.time() + self.offset

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return super().call_at(when - self.offset, callback)


def _timed(url: str, offset: float) -> Engine:
    engine = Engine(url, in_memory_wait=0, clock=_OffsetClock(offset))

    @engine.durable_function(name="timed")
    async def timed(ctx: DurableContext, seconds: float) -> float:
        before = await ctx.step(lambda s: time.time(), name="before")
        await ctx.wait(seconds, name="pause")
        after = await ctx.step(lambda s: time.time(), name="after")
        return after - before  # on the true wall clock of this one machine

    return engine


async def test_a_timer_set_on_an_engine_clock_behind_is_not_early_on_one_ahead(
    postgres_url: str,
) -> None:
    behind, ahead = _timed(postgres_url, -2.0), _timed(postgres_url, 2.0)
    async with behind:
        handle = await behind.start("timed", 3.0)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    async with ahead:
        info = await ahead.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.SUCCEEDED
    assert isinstance(info.result, float) and info.result >= 3.0 - 0.005
