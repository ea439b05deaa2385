"""Events, schedules, custom status, kept attempts, reruns and purges through the
engine on PostgreSQL, with two engines sharing one database as two hosts would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    PostgresStore,
    RetryStrategyConfig,
    StepConfig,
    create_retry_strategy,
)
from durable_engine.testing import VirtualClock
from tests.conftest import Effects, until, wait_for_status

START = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()
RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=timedelta(seconds=0))
    )
)


def _engine(
    url: str, effects: Effects, clock: VirtualClock | None = None, offset: float | None = None
) -> Engine:
    """An engine on `url`; with `offset`, its store takes that as its offset to the
    server's clock rather than measuring one as it opens."""
    if offset is None:
        engine = Engine(url, in_memory_wait=0, clock=clock)
    else:
        store = PostgresStore(url, clock_offset=offset)
        engine = Engine(store=store, in_memory_wait=0, clock=clock)

    @engine.durable_function(name="collect")
    async def collect(ctx: DurableContext, count: int) -> list[Any]:
        got = []
        for i in range(count):
            ctx.set_custom_status({"received": i})
            got.append(await ctx.wait_for_event("item"))
        return got

    @engine.durable_function(name="flaky")
    async def flaky(ctx: DurableContext, fail: bool) -> str:
        def attempt(_: object) -> str:
            effects.record("try")
            if effects.count("try") < 2:
                raise ConnectionError("first try fails")
            return "ok"

        done = await ctx.step(attempt, name="call", config=RETRY)
        if fail:
            raise RuntimeError("then the flow fails")
        return done

    @engine.durable_function(name="report")
    async def report(ctx: DurableContext, _: None) -> str:
        here = (await ctx.now()).isoformat(timespec="minutes")
        await ctx.step(lambda s: effects.record(f"report {here}"), name="send")
        return "sent"

    if clock is not None:
        engine.schedule(report, "* * * * *", name="minutely", input=None)
    return engine


async def test_events_custom_status_attempts_rerun_and_purge(
    postgres_url: str, effects: Effects
) -> None:
    one, two = _engine(postgres_url, effects), _engine(postgres_url, effects)
    async with one, two:
        handle = await one.start("collect", 2, execution_name="c1")
        await two.send_event("c1", "item", "kept")  # may come before the wait
        # The first event received: set by the run, read from the database by the other.
        while await _custom_status(two, handle.execution_id) != {"received": 1}:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        await two.send_event("c1", "item", "sent")  # delivered to the waiter
        assert await handle.result() == ["kept", "sent"]

        failed = await one.start("flaky", True)
        await wait_for_status(failed, ExecutionStatus.FAILED)
        [call] = await two.get_operations(failed.execution_id)
        assert [(a.number, a.error is not None) for a in call.attempts] == [(1, True), (2, False)]
        again = await two.rerun(failed.execution_id)
        rerun = await one.wait_for(again.execution_id)
        assert rerun.rerun_of == failed.execution_id and rerun.status is ExecutionStatus.FAILED

        assert await two.purge(timedelta(0), statuses=["FAILED"]) == 2
        remaining = [i.execution_id for i in await one.list_executions()]
        assert remaining == [handle.execution_id]


async def test_two_engines_fire_each_minute_once(postgres_url: str, effects: Effects) -> None:
    clock = VirtualClock(START)
    # Each store measures the server's clock against the virtual one as it opens, while
    # real time passes and the virtual clock stands still: two measurements apart could
    # round to offsets an eighth of a second apart. One measurement serves both.
    probe = PostgresStore(postgres_url)
    probe.use_clock(clock.now)
    await probe.open()
    offset = probe.clock_offset
    await probe.close()
    one = _engine(postgres_url, effects, clock, offset)
    two = _engine(postgres_url, effects, clock, offset)
    async with one, two:
        for minute in range(1, 4):
            clock.advance(60)
            await until(lambda m=minute: len(effects.lines()) == m)  # type: ignore[misc]
        ran = await until_ended(one, 3)
        [schedule] = await two.list_schedules()
    assert effects.lines() == [f"report 2030-01-01T12:0{m}+00:00" for m in (1, 2, 3)]
    assert sorted(i.name or "" for i in ran) == [
        f"minutely@2030-01-01T12:0{m}:00+00:00" for m in (1, 2, 3)
    ]
    assert schedule.next_fire_at == datetime(2030, 1, 1, 12, 4, tzinfo=UTC)


async def _custom_status(engine: Engine, execution_id: str) -> Any:
    return (await engine.get_execution(execution_id)).custom_status


async def until_ended(engine: Engine, count: int) -> list[Any]:
    """The `count` executions the schedule started, once all have succeeded."""
    while True:
        done = await engine.list_executions(ExecutionStatus.SUCCEEDED)
        if len(done) == count:
            return done
        await asyncio.sleep(0.01)
