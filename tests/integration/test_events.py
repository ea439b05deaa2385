"""Events by name: kept until waited for, received in order and once, across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    EventTimeoutError,
    ExecutionAlreadyEnded,
    ExecutionNotFound,
    ExecutionStatus,
)
from tests.cli.helpers import cli
from tests.conftest import Effects, db_rows, until, wait_for_status


def register(engine: Engine, effects: Effects) -> None:
    @engine.durable_function(name="collect")
    async def collect(ctx: DurableContext, count: int) -> list[Any]:
        got = []
        for i in range(count):
            payload = await ctx.wait_for_event("item")
            got.append(payload)
            line = f"got {payload}"
            await ctx.step(lambda s: effects.record(line), name=f"note-{i}")  # noqa: B023
            await ctx.wait(0.01, name=f"pause-{i}")  # leaves memory: replays what came
        return got


async def test_events_are_kept_received_in_order_and_once(engine: Engine, effects: Effects) -> None:
    register(engine, effects)
    async with engine:
        with pytest.raises(ExecutionNotFound):
            await engine.send_event("nobody", "item", 0)
        handle = await engine.start("collect", 3, execution_name="c1")
        for payload in ({"n": 1}, {"n": 2}):  # sent before the workflow waits: kept
            await engine.send_event("c1", "item", payload)
        await engine.send_event(handle.execution_id, "item", {"n": 3})
        assert await handle.result() == [{"n": 1}, {"n": 2}, {"n": 3}]
        with pytest.raises(ExecutionAlreadyEnded):
            await engine.send_event("c1", "item", {"n": 4})
    assert effects.lines() == ["got {'n': 1}", "got {'n': 2}", "got {'n': 3}"]
    assert await db_rows(engine, "SELECT COUNT(*) FROM events WHERE op_id IS NULL") == [(0,)]


async def test_a_wait_times_out_with_a_typed_error(engine: Engine) -> None:
    @engine.durable_function(name="patient")
    async def patient(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.wait_for_event("never", timeout=0.05)
        except EventTimeoutError as exc:
            return f"gave up: {exc}"
        return "got it"

    async with engine:
        result = await engine.run(patient, None)
    assert result == "gave up: no event 'never' came before the wait's timeout"


async def test_bad_event_names_are_refused(engine: Engine) -> None:
    @engine.durable_function(name="odd")
    async def odd(ctx: DurableContext, _: None) -> None:
        await ctx.wait_for_event("")

    async with engine:
        with pytest.raises(ValueError, match="event name"):
            await engine.send_event("x", "", None)
        info = await engine.wait_for((await engine.start(odd, None)).execution_id)
    assert info.status is ExecutionStatus.FAILED
    assert "event name must be a non-empty str" in str(info.error)


async def test_an_event_sent_from_the_command_line_wakes_a_suspended_execution_after_a_restart(
    db_path: Path, effects: Effects
) -> None:
    first = Engine(db_path, in_memory_wait=0)
    register(first, effects)
    async with first:
        handle = await first.start("collect", 2, execution_name="c2")
        await first.send_event("c2", "item", "early")
        await until(lambda: effects.count("got early") == 1)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    # Nothing runs now: the command line sends the second event to the stored execution.
    sent = cli(db_path.parent, "event", "send", "c2", "item", "--data", '{"late": true}',
               "--db", str(db_path), "--json")  # fmt: skip
    assert '"sent": true' in sent.stdout
    second = Engine(db_path, in_memory_wait=0)
    register(second, effects)
    async with second:
        assert await second.wait_for(handle.execution_id) is not None
        info = await second.get_execution(handle.execution_id)
    assert info.status is ExecutionStatus.SUCCEEDED
    assert info.result == ["early", {"late": True}]
    # Each event was noted once, though the run replayed its history on each resume.
    assert effects.lines() == ["got early", "got {'late': True}"]
    bad = cli(db_path.parent, "event", "send", "c2", "item", "--db", str(db_path), check=False)
    assert bad.returncode == 1 and "ExecutionAlreadyEnded" in bad.stderr
