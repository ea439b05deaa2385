"""ctx.with_retry: a block of operations run again in fresh child contexts, durably."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from durable_engine import (
    ChildContextError,
    DurableContext,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    WithRetryError,
    create_retry_strategy,
)
from durable_engine.testing import DurableTestRunner, TestOperation
from tests.conftest import Effects
from tests.crash.harness import finish, kill, lines, operation_rows, spawn, wait_until

ONCE = StepConfig(retry_strategy=RetryPresets.none())


def rows(operation: TestOperation) -> list[tuple[str, str, str | None, str, int]]:
    """(id, type, name, status, attempt) of an operation and everything under it."""
    return [
        (op.operation_id, op.type.value, op.name, op.status.value, op.attempt)
        for op in operation.walk()
    ]


def flaky_block(effects: Effects, fail_times: int) -> Callable[[DurableContext], Awaitable[str]]:
    """A block of two steps whose second fails the first `fail_times` times it runs."""

    async def block(ctx: DurableContext) -> str:
        await ctx.step(lambda s: effects.record("reserve"), name="reserve")

        def charge(s: StepContext) -> str:
            effects.record("charge")
            if effects.count("charge") <= fail_times:
                raise ConnectionError(f"the bank is down ({effects.count('charge')})")
            return "paid"

        return await ctx.step(charge, name="charge", config=ONCE)

    return block


async def test_a_failing_block_runs_again_in_fresh_contexts_until_it_succeeds(
    effects: Effects,
) -> None:
    block = flaky_block(effects, fail_times=2)

    async def checkout(ctx: DurableContext, _: None) -> str:
        result: str = await ctx.with_retry(
            block,
            name="pay",
            retry_strategy=RetryPresets.fixed(10, max_attempts=5),
        )
        return result

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert result.result == "paid"
        # Every operation of the block ran once per attempt: three attempts.
        assert effects.lines() == ["reserve", "charge"] * 3
        pay = result.get_context("pay")
        assert rows(pay) == [
            ("1", "CONTEXT", "pay", "SUCCEEDED", 3),
            ("1/1", "CONTEXT", "attempt-1", "FAILED", 1),
            ("1/1/1", "STEP", "reserve", "SUCCEEDED", 1),
            ("1/1/2", "STEP", "charge", "FAILED", 1),
            ("1/2", "WAIT", "retry-delay-1", "SUCCEEDED", 1),
            ("1/3", "CONTEXT", "attempt-2", "FAILED", 2),
            ("1/3/1", "STEP", "reserve", "SUCCEEDED", 1),
            ("1/3/2", "STEP", "charge", "FAILED", 1),
            ("1/4", "WAIT", "retry-delay-2", "SUCCEEDED", 1),
            ("1/5", "CONTEXT", "attempt-3", "SUCCEEDED", 3),
            ("1/5/1", "STEP", "reserve", "SUCCEEDED", 1),
            ("1/5/2", "STEP", "charge", "SUCCEEDED", 1),
        ]
        failed = pay.get_context("attempt-1").error
        assert isinstance(failed, Exception) and "the bank is down (1)" in str(failed)
        # Each delay is the strategy's 10 s, on the virtual clock.
        for delay in pay.find_operations(type=OperationType.WAIT):
            assert delay.wake_at is not None and delay.started_at is not None
            assert delay.wake_at - delay.started_at == timedelta(seconds=10)
        # A replay reads every attempt from the history and runs nothing.
        assert await runner.replay(result.execution_id) == "paid"
        assert len(effects.lines()) == 6
        # The engine's own history lists the failed attempts too.
        ops = await runner.engine.get_operations(result.execution_id)
        assert [op.name for op in ops[0].children] == [
            "attempt-1",
            "retry-delay-1",
            "attempt-2",
            "retry-delay-2",
            "attempt-3",
        ]


async def test_exhausted_attempts_raise_with_retry_error_carrying_the_last_error(
    effects: Effects,
) -> None:
    async def block(ctx: DurableContext) -> None:
        effects.record("attempt")
        raise ConnectionError(f"down {effects.count('attempt')}")

    async def caught(ctx: DurableContext, _: None) -> dict[str, str]:
        try:
            await ctx.with_retry(block, retry_strategy=RetryPresets.fixed(1, max_attempts=3))
        except WithRetryError as exc:
            return {"type": exc.error_type, "message": exc.message, "str": str(exc)}
        return {}

    async def uncaught(ctx: DurableContext, _: None) -> None:
        await ctx.with_retry(block, name="sync", retry_strategy=RetryPresets.fixed(1, 2))

    async with DurableTestRunner([caught, uncaught]) as runner:
        result = await runner.run(caught)
        assert result.result == {
            "type": "ConnectionError",
            "message": "down 3",
            "str": "ConnectionError: down 3",
        }
        assert effects.count("attempt") == 3
        # With no name, the block is named for its function.
        block_op = result.get_context("block")
        assert (block_op.status, block_op.attempt) == (OperationStatus.FAILED, 3)
        assert isinstance(block_op.error, WithRetryError)
        assert await runner.replay(result.execution_id) == result.result
        assert effects.count("attempt") == 3

        failed = await runner.run(uncaught)
        assert failed.status is ExecutionStatus.FAILED
        assert isinstance(failed.error, WithRetryError)
        assert failed.error.error_type == "ConnectionError"
        assert effects.count("attempt") == 5


async def test_the_strategy_sees_the_original_error_type_and_may_refuse_it(
    effects: Effects,
) -> None:
    only_connection_errors = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=4,
            initial_delay=timedelta(seconds=1),
            retryable_error_types=[ConnectionError],
        )
    )
    seen: list[BaseException] = []

    def strategy(error: BaseException, attempt: int) -> object:
        seen.append(error)
        return only_connection_errors(error, attempt)

    async def block(ctx: DurableContext) -> None:
        def body(s: StepContext) -> None:
            effects.record("call")
            if effects.count("call") == 1:
                raise ConnectionError("blip")  # inside a step: retried
            raise ValueError("bad request")  # not retryable: the block gives up at once

        await ctx.step(body, name="call", config=ONCE)

    async def workflow(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.with_retry(block, name="call", retry_strategy=strategy)  # type: ignore[arg-type]
        except WithRetryError as exc:
            return f"{exc.error_type}: {exc.message}"
        return "ok"

    async with DurableTestRunner(workflow) as runner:
        result = await runner.run(workflow)
        assert result.result == "ValueError: bad request"
        assert effects.count("call") == 2
        assert [getattr(e, "error_type", None) for e in seen] == ["ConnectionError", "ValueError"]
        assert result.get_context("call").attempt == 2


async def test_a_strategy_that_answers_wrongly_ends_the_block_with_that_mistake() -> None:
    async def block(ctx: DurableContext) -> None:
        raise ConnectionError("down")

    async def workflow(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.with_retry(block, retry_strategy=lambda e, n: True)  # type: ignore[arg-type,return-value]
        except WithRetryError as exc:
            return f"{exc.error_type}: {exc.message}"
        return "ok"

    async with DurableTestRunner(workflow) as runner:
        result = await runner.run(workflow)
        assert result.result.startswith("TypeError: retry_strategy")
        assert "instead of a RetryDecision" in result.result


async def test_bad_arguments_are_refused_with_type_errors() -> None:
    async def block(ctx: DurableContext) -> None:
        return None

    async def workflow(ctx: DurableContext, what: str) -> str:
        calls: dict[str, Callable[[], object]] = {
            "fn": lambda: ctx.with_retry(42),  # type: ignore[arg-type]
            "name": lambda: ctx.with_retry(block, name=7),  # type: ignore[arg-type]
            "strategy": lambda: ctx.with_retry(block, retry_strategy="3"),  # type: ignore[arg-type]
        }
        try:
            calls[what]()
        except TypeError as exc:
            return str(exc)
        return "accepted"

    async with DurableTestRunner(workflow) as runner:
        assert (await runner.run(workflow, "fn")).result == "fn must be callable, not int 42"
        assert (await runner.run(workflow, "name")).result.startswith("name must be a str")
        assert (await runner.run(workflow, "strategy")).result.startswith(
            "retry_strategy must be None or a callable"
        )


async def test_the_delay_is_durable_and_the_attempt_count_survives_an_engine_restart(
    tmp_path: Path, effects: Effects
) -> None:
    database = tmp_path / "restart.db"

    async def block(ctx: DurableContext) -> None:
        await ctx.step(lambda s: effects.record("attempt"), name="try")
        raise ConnectionError("still down")

    async def workflow(ctx: DurableContext, _: None) -> None:
        await ctx.with_retry(
            block, name="sync", retry_strategy=RetryPresets.fixed(timedelta(hours=1), 2)
        )

    functions = {"sync_job": workflow}
    async with DurableTestRunner(functions, database=database, skip_time=False) as first:
        handle = await first.start("sync_job")
        await first.settle()
        assert (await handle.status()) is ExecutionStatus.SUSPENDED  # out of memory
        paused_at = first.clock.now()
    assert effects.lines() == ["attempt"]

    # A new engine on the same file, later on its clock: the delay is still due at its
    # instant, and the next attempt is attempt 2 of 2, not a fresh attempt 1.
    later = paused_at + 600
    async with DurableTestRunner(
        functions, database=database, skip_time=False, start=later
    ) as second:
        await second.advance(timedelta(minutes=49))
        assert effects.lines() == ["attempt"]
        await second.advance(timedelta(minutes=2))
        result = await second.result(handle.execution_id)
        assert effects.lines() == ["attempt", "attempt"]
        assert result.status is ExecutionStatus.FAILED
        assert isinstance(result.error, WithRetryError)
        assert rows(result.get_context("sync"))[::3] == [
            ("1", "CONTEXT", "sync", "FAILED", 2),
            ("1/2", "WAIT", "retry-delay-1", "SUCCEEDED", 1),
        ]
        assert isinstance(result.get_context("attempt-2").error, ChildContextError)


def test_killed_during_the_delay_a_new_process_runs_the_next_attempt_only(
    tmp_path: Path,
) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "retry_block", "rb", module="tests.crash.blocks_app")
    wait_until(
        lambda: any(t == "WAIT" and s == "STARTED" for _, t, s, _ in operation_rows(db)),
        "the retry delay to be recorded",
        first,
    )
    kill(first)
    assert lines(effects)[1:] == ["try"]
    second = spawn(db, effects, "resume", "rb", module="tests.crash.blocks_app")
    assert finish(second) == {"result": {"tries": 2}}
    assert [line for line in lines(effects) if line == "try"] == ["try", "try"]
    assert sorted((op, t, s) for op, t, s, _ in operation_rows(db)) == [
        ("1", "CONTEXT", "SUCCEEDED"),
        ("1/1", "CONTEXT", "FAILED"),
        ("1/1/1", "STEP", "FAILED"),
        ("1/2", "WAIT", "SUCCEEDED"),
        ("1/3", "CONTEXT", "SUCCEEDED"),
        ("1/3/1", "STEP", "SUCCEEDED"),
    ]


@pytest.mark.parametrize("strategy", [None, RetryPresets.none()])
async def test_a_block_that_succeeds_first_time_records_one_attempt(
    strategy: object, effects: Effects
) -> None:
    async def block(ctx: DurableContext) -> int:
        return await ctx.step(lambda s: 7, name="seven")

    async def workflow(ctx: DurableContext, _: None) -> int:
        return await ctx.with_retry(block, name="b", retry_strategy=strategy)  # type: ignore[arg-type]

    async with DurableTestRunner(workflow) as runner:
        result = await runner.run(workflow)
        assert result.result == 7
        assert rows(result.get_context("b")) == [
            ("1", "CONTEXT", "b", "SUCCEEDED", 1),
            ("1/1", "CONTEXT", "attempt-1", "SUCCEEDED", 1),
            ("1/1/1", "STEP", "seven", "SUCCEEDED", 1),
        ]
