"""Schedules: each firing once across two engines on one file and across a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from durable_engine import DurableContext, Engine, ExecutionStatus, ScheduleNotFound
from durable_engine.testing import VirtualClock
from tests.cli.helpers import cli
from tests.conftest import Effects, rows, until

START = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()


def make(db: Path, clock: VirtualClock, effects: Effects, catchup: str = "latest") -> Engine:
    engine = Engine(db, in_memory_wait=0, clock=clock)

    @engine.durable_function(name="report")
    async def report(ctx: DurableContext, what: dict[str, str]) -> str:
        here = (await ctx.now()).isoformat(timespec="seconds")
        await ctx.step(lambda s: effects.record(f"{what['kind']} {here}"), name="send")
        return "sent"

    engine.schedule(report, "* * * * *", name="minutely", input={"kind": "sales"},
                    catchup=catchup)  # fmt: skip
    return engine


def fired(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT name, status FROM executions ORDER BY name")


async def test_two_engines_fire_each_time_once_and_a_restart_catches_up_the_latest(
    db_path: Path, effects: Effects
) -> None:
    clock = VirtualClock(START)
    one, two = make(db_path, clock, effects), make(db_path, clock, effects)
    async with one, two:
        for minute in range(1, 4):
            clock.advance(60)
            await until(lambda m=minute: len(effects.lines()) == m)  # type: ignore[misc]
            await until(lambda m=minute: len(fired(db_path)) == m)  # type: ignore[misc]
    names = [row[0] for row in fired(db_path)]
    assert names == [
        "minutely@2030-01-01T12:01:00+00:00",
        "minutely@2030-01-01T12:02:00+00:00",
        "minutely@2030-01-01T12:03:00+00:00",
    ]
    assert len(set(effects.lines())) == 3  # no firing ran twice
    clock.advance(5 * 60)  # nothing runs for five minutes
    again = make(db_path, clock, effects)
    async with again:
        await until(lambda: len(effects.lines()) == 4)
        await until(lambda: len(fired(db_path)) == 4)
        [info] = await again.list_schedules()
    assert fired(db_path)[-1] == ("minutely@2030-01-01T12:08:00+00:00", "SUCCEEDED")
    assert info.next_fire_at == datetime(2030, 1, 1, 12, 9, tzinfo=UTC)
    assert info.input == {"kind": "sales"}


async def test_catchup_all_starts_every_missed_firing(db_path: Path, effects: Effects) -> None:
    clock = VirtualClock(START)
    async with make(db_path, clock, effects, "all"):
        pass  # declared: due at 12:01
    clock.advance(3 * 60 + 10)
    async with make(db_path, clock, effects, "all"):
        await until(lambda: len(effects.lines()) == 3)
    assert [row[0] for row in fired(db_path)] == [
        f"minutely@2030-01-01T12:0{m}:00+00:00" for m in (1, 2, 3)
    ]


async def test_pause_resume_trigger_and_delete(
    db_path: Path, effects: Effects, tmp_path: Path
) -> None:
    clock = VirtualClock(START)
    engine = make(db_path, clock, effects)
    async with engine:
        paused = await engine.pause_schedule("minutely")
        assert paused.paused
        clock.advance(120)
        handle = await engine.trigger_schedule("minutely")
        assert (await engine.wait_for(handle.execution_id)).status is ExecutionStatus.SUCCEEDED
        assert fired(db_path) == [("minutely@2030-01-01T12:02:30+00:00", "SUCCEEDED")]
        resumed = await engine.resume_schedule("minutely")
        assert resumed.next_fire_at == datetime(2030, 1, 1, 12, 3, tzinfo=UTC)
        with pytest.raises(RuntimeError, match="before the engine opens"):
            engine.schedule("report", name="late")
    listed = cli(tmp_path, "schedule", "list", "--db", str(db_path), "--json").stdout
    assert '"name": "minutely"' in listed and '"paused": false' in listed
    assert cli(tmp_path, "schedule", "pause", "minutely", "--db", str(db_path)).stdout == "ok\n"
    cli(tmp_path, "schedule", "delete", "minutely", "--db", str(db_path))
    gone = cli(tmp_path, "schedule", "resume", "minutely", "--db", str(db_path), check=False)
    assert gone.returncode == 1 and "ScheduleNotFound" in gone.stderr
    async with Engine(db_path, clock=clock) as bare:
        with pytest.raises(ScheduleNotFound):
            await bare.trigger_schedule("minutely")


def test_a_bad_schedule_is_refused_when_declared(db_path: Path) -> None:
    engine = Engine(db_path)

    @engine.durable_function
    async def job(ctx: DurableContext, _: None) -> None:
        return None

    with pytest.raises(ValueError, match="not a valid cron expression"):
        engine.schedule(job, "every day", name="x")
    with pytest.raises(ValueError, match="not a known time zone"):
        engine.schedule(job, name="x", timezone="Berlin")
