"""Defects found by using the engine as a user would: steps and conditions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    OperationStatus,
    StepConfig,
    StepContext,
    StepError,
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from tests.conftest import Effects


async def test_a_retry_strategy_that_raises_fails_the_step_once_and_for_good(
    db_path: Path, effects: Effects
) -> None:
    """The strategy's own error ends the step as failed, recorded once: the body does
    not run again, neither as a retry nor when the execution is replayed."""
    engine = Engine(db_path)

    def body(step: StepContext) -> None:
        effects.record(f"body {step.attempt}")
        raise ConnectionError("down")

    def strategy(error: BaseException, attempt: int) -> Any:
        raise KeyError("no such policy")

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.step(body, name="call", config=StepConfig(retry_strategy=strategy))
        except StepError as exc:
            caught = f"{exc.error_type}: {exc.message}"
        await ctx.wait(0.05, name="then")  # the execution runs again from the top
        return caught

    async with engine:
        handle = await engine.start(flow)
        assert await handle.result() == "KeyError: 'no such policy'"
        [call, _] = await engine.get_operations(handle.execution_id)
        assert (call.name, call.status, call.attempt) == ("call", OperationStatus.FAILED, 1)
    assert effects.lines() == ["body 1"]


async def test_each_execution_starts_its_condition_from_its_own_copy_of_the_initial_state(
    engine: Engine,
) -> None:
    """A check that changes the state it is given changes its execution's state only."""

    def check(state: dict[str, list[int]], step: StepContext) -> dict[str, list[int]]:
        state["seen"].append(len(state["seen"]))
        return state

    config = WaitForConditionConfig(
        wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
        initial_state={"seen": []},
    )

    @engine.durable_function(name="poll")
    async def poll(ctx: DurableContext, _: None) -> Any:
        return await ctx.wait_for_condition(check, config, name="poll")

    async with engine:
        first = await engine.run(poll)
        second = await engine.run(poll)
    assert first == second == {"seen": [0]}
    assert config.initial_state == {"seen": []}


async def test_wait_strategy_jitter_is_spelt_as_for_retries(engine: Engine) -> None:
    from durable_engine import JitterStrategy, WaitStrategyConfig

    config = WaitStrategyConfig(
        should_continue_polling=lambda state: False, jitter_strategy=JitterStrategy.NONE
    )
    assert config.jitter_strategy is JitterStrategy.NONE
    with pytest.warns(DeprecationWarning, match="jitter_strategy"):
        old = WaitStrategyConfig(
            should_continue_polling=lambda s: False, jitter=JitterStrategy.HALF
        )
    assert old.jitter_strategy is JitterStrategy.HALF
    assert ExecutionStatus.SUCCEEDED  # the module's public names are importable as used
