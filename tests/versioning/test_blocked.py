"""A deploy whose code diverges holds its executions (BLOCKED) instead of failing them.

Each test runs deploy 1 of a workflow until its execution waits, then opens a new
engine on the same file with other code: a restart between two versions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionAlreadyEnded,
    ExecutionHandle,
    ExecutionStatus,
    NonDeterministicError,
)
from tests.cli.helpers import cli
from tests.conftest import Effects, recorded, rows, until, wait_for_status

Workflow = Callable[[DurableContext, Any], Awaitable[Any]]


def deploys(effects: Effects) -> dict[str, Workflow]:
    """Deploy "good" reserves, waits, then ships; "renamed" asks for another step first."""

    async def good(ctx: DurableContext, order: str) -> str:
        await ctx.step(lambda _: recorded(effects, "reserve", 1), name="reserve")
        await ctx.wait(0.3, name="pause")
        return str(
            await ctx.step(lambda _: recorded(effects, "ship", f"shipped {order}"), name="ship")
        )

    async def renamed(ctx: DurableContext, order: str) -> str:
        await ctx.step(lambda _: recorded(effects, "charge", 1), name="charge")
        await ctx.wait(0.3, name="pause")
        return str(
            await ctx.step(lambda _: recorded(effects, "ship", f"shipped {order}"), name="ship")
        )

    return {"good": good, "renamed": renamed}


def engine_with(db: Path, fn: Workflow, **options: Any) -> Engine:
    engine = Engine(db, in_memory_wait=0, **options)
    engine.durable_function(name="order")(fn)
    return engine


async def suspended_on_deploy_1(db: Path, effects: Effects, **start: Any) -> str:
    async with engine_with(db, deploys(effects)["good"]) as engine:
        handle = await engine.start("order", "o-1", execution_name="o-1", **start)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        return handle.execution_id


async def test_a_diverging_deploy_holds_the_execution_with_its_divergence(
    db_path: Path, effects: Effects
) -> None:
    execution_id = await suspended_on_deploy_1(db_path, effects)

    async with engine_with(db_path, deploys(effects)["renamed"]) as engine:
        handle = ExecutionHandle[Any](engine, execution_id)
        await wait_for_status(handle, ExecutionStatus.BLOCKED)
        info = await engine.get_execution(execution_id)

    assert isinstance(info.error, NonDeterministicError)
    assert "operation 1 was recorded as STEP 'reserve'" in str(info.error)
    assert "asks for STEP 'charge'" in str(info.error)
    assert effects.lines() == ["reserve"]  # nothing new ran: not charge, not ship
    assert rows(db_path, "SELECT status, owner FROM executions") == [("BLOCKED", None)]

    shown = cli(db_path.parent, "show", execution_id, "--db", str(db_path))
    assert "BLOCKED" in shown.stdout and "'charge'" in shown.stdout
    data = json.loads(
        cli(db_path.parent, "show", execution_id, "--db", str(db_path), "--json").stdout
    )
    assert data["status"] == "BLOCKED" and "'reserve'" in data["error"]["message"]


async def test_a_fixed_deploy_resumes_it_when_its_engine_starts(
    db_path: Path, effects: Effects
) -> None:
    execution_id = await suspended_on_deploy_1(db_path, effects)
    async with engine_with(db_path, deploys(effects)["renamed"]) as engine:
        await wait_for_status(ExecutionHandle(engine, execution_id), ExecutionStatus.BLOCKED)

    async with engine_with(db_path, deploys(effects)["good"]) as engine:
        result = await ExecutionHandle[Any](engine, execution_id).result()

    assert result == "shipped o-1"
    assert effects.lines() == ["reserve", "ship"]  # the fault-free run's effects, once each
    assert rows(db_path, "SELECT status, error FROM executions") == [("SUCCEEDED", None)]


async def test_resume_runs_it_again_and_a_waiting_caller_gets_the_result(
    db_path: Path, effects: Effects
) -> None:
    execution_id = await suspended_on_deploy_1(db_path, effects)
    code = deploys(effects)
    deployed = [code["renamed"]]

    async def order(ctx: DurableContext, order: str) -> str:
        return str(await deployed[0](ctx, order))

    async with engine_with(db_path, order) as engine:
        handle = ExecutionHandle[Any](engine, execution_id)
        waiting = asyncio.ensure_future(handle.result())  # a caller already waiting
        await wait_for_status(handle, ExecutionStatus.BLOCKED)

        await engine.resume(execution_id)  # the code still diverges: held again
        # Claimed on deploy 1, at this engine's start, and once more by the resume.
        await until(
            lambda: rows(db_path, "SELECT status, epoch FROM executions") == [("BLOCKED", 3)]
        )
        assert not waiting.done()

        deployed[0] = code["good"]
        await engine.resume(execution_id)
        assert await waiting == "shipped o-1"
        with pytest.raises(ExecutionAlreadyEnded):
            await engine.resume(execution_id)
    assert effects.lines() == ["reserve", "ship"]


async def test_a_blocked_execution_can_be_stopped_and_still_times_out(
    db_path: Path, effects: Effects
) -> None:
    stopped_id = await suspended_on_deploy_1(db_path, effects)
    async with engine_with(db_path, deploys(effects)["good"]) as engine:
        timed = await engine.start("order", "o-2", execution_name="o-2", timeout=1.5)
        await wait_for_status(timed, ExecutionStatus.SUSPENDED)

    async with engine_with(db_path, deploys(effects)["renamed"]) as engine:
        await wait_for_status(ExecutionHandle(engine, stopped_id), ExecutionStatus.BLOCKED)
        await wait_for_status(ExecutionHandle(engine, timed.execution_id), ExecutionStatus.BLOCKED)
        await engine.stop(stopped_id)
        await wait_for_status(
            ExecutionHandle(engine, timed.execution_id), ExecutionStatus.TIMED_OUT
        )
        assert await ExecutionHandle(engine, stopped_id).status() is ExecutionStatus.STOPPED


async def test_on_divergence_is_checked() -> None:
    with pytest.raises(ValueError, match="on_divergence"):
        Engine("x.db", on_divergence="ignore")


async def test_the_cli_resumes_a_blocked_execution_for_a_worker(
    db_path: Path, effects: Effects
) -> None:
    execution_id = await suspended_on_deploy_1(db_path, effects)
    code = deploys(effects)
    deployed = [code["renamed"]]

    async def order(ctx: DurableContext, order: str) -> str:
        return str(await deployed[0](ctx, order))

    async with engine_with(db_path, order) as engine:
        handle = ExecutionHandle[Any](engine, execution_id)
        await wait_for_status(handle, ExecutionStatus.BLOCKED)
        deployed[0] = code["good"]
        done = await asyncio.to_thread(cli, db_path.parent, "resume", "o-1", "--db", str(db_path))
        assert f"resumed {execution_id}" in done.stdout
        assert await handle.result() == "shipped o-1"  # this engine saw the other writer


async def test_the_test_kit_reports_a_blocked_execution_instead_of_waiting() -> None:
    from durable_engine.testing import DurableTestRunner

    runs: list[int] = []

    async def flaky(ctx: DurableContext, _: Any) -> None:
        runs.append(1)  # the step's name changes on every run: replay cannot match it
        await ctx.step(lambda _: None, name=f"step-{len(runs)}")
        await ctx.wait(60)

    async with DurableTestRunner([flaky]) as runner:
        result = await runner.run(flaky)
    assert result.status is ExecutionStatus.BLOCKED
    assert isinstance(result.error, NonDeterministicError)
    assert "'step-1'" in str(result.error) and "'step-2'" in str(result.error)
