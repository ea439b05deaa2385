"""Every attempt of a retried step is kept and shown; a first-attempt success writes none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from durable_engine import (
    DurableContext,
    Engine,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    create_retry_strategy,
)
from durable_engine._display import history_json, history_table
from tests.conftest import Effects, rows

RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=timedelta(seconds=0))
    )
)


async def test_a_retried_step_keeps_each_attempt(db_path: Path, effects: Effects) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    def flaky(_: object) -> str:
        effects.record("try")
        if effects.count("try") < 3:
            raise ConnectionError(f"attempt {effects.count('try')} failed")
        return "ok"

    @engine.durable_function(name="wf")
    async def wf(ctx: DurableContext, _: None) -> list[str]:
        once = await ctx.step(lambda _: "once", name="once")
        return [once, await ctx.step(flaky, name="flaky", config=RETRY)]

    async with engine:
        handle = await engine.start(wf, None)
        assert await handle.result() == ["once", "ok"]
        ops = await engine.get_operations(handle.execution_id)
    assert effects.count("try") == 3
    # Nothing kept for the step that succeeded at once; three rows for the retried one.
    assert rows(db_path, "SELECT op_id, attempt FROM attempts ORDER BY attempt") == [
        ("2", 1),
        ("2", 2),
        ("2", 3),
    ]
    once, retried = ops
    assert [(a.number, a.error) for a in once.attempts] == [(1, None)]
    assert [a.number for a in retried.attempts] == [1, 2, 3]
    errors = [a.error for a in retried.attempts]
    assert [str(e) for e in errors[:2]] == [
        "ConnectionError: attempt 1 failed",
        "ConnectionError: attempt 2 failed",
    ]
    assert all(isinstance(e, StepError) for e in errors[:2]) and errors[2] is None
    for a in retried.attempts:
        assert a.started_at is not None and a.ended_at is not None
        assert a.started_at <= a.ended_at
    assert retried.attempts[0].ended_at <= retried.attempts[1].started_at  # type: ignore[operator]
    shown = history_json(ops)[1]["attempts"]
    assert [(a["number"], a["error"] and a["error"]["message"]) for a in shown] == [
        (1, "attempt 1 failed"),
        (2, "attempt 2 failed"),
        (3, None),
    ]
    table = history_table(ops).splitlines()
    assert [line.split()[:2] for line in table if "attempt " in line] == [
        ["attempt", "1"],
        ["attempt", "2"],
        ["attempt", "3"],
    ]
    assert "attempt 1 failed" in table[3]


async def test_a_step_that_fails_for_good_keeps_its_last_attempt(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    def broken(_: object) -> None:
        raise ValueError("never works")

    @engine.durable_function(name="wf")
    async def wf(ctx: DurableContext, _: None) -> None:
        await ctx.step(broken, name="broken", config=RETRY)

    async with engine:
        handle = await engine.start(wf, None)
        info = await engine.wait_for(handle.execution_id)
        [op] = await engine.get_operations(handle.execution_id)
    assert isinstance(info.error, StepError)
    assert [(a.number, str(a.error)) for a in op.attempts] == [
        (1, "ValueError: never works"),
        (2, "ValueError: never works"),
        (3, "ValueError: never works"),
    ]
