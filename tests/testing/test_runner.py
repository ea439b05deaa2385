"""DurableTestRunner: long waits, retries and callbacks on virtual time, in a fast test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    CallbackConfig,
    CallbackFailedError,
    CallbackTimeoutError,
    DurableContext,
    Engine,
    ExecutionNotFound,
    ExecutionStatus,
    ExecutionTimedOut,
    JitterStrategy,
    OperationStatus,
    OperationType,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepError,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_retry_strategy,
    create_wait_strategy,
)
from durable_engine.testing import (
    DurableTestRunner,
    ExecutionStuck,
    OperationNotFound,
    TestOperation,
    TestResult,
)

START = datetime(2030, 1, 1, tzinfo=UTC)
HOURLY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=7,
            initial_delay=timedelta(hours=1),
            max_delay=timedelta(hours=1),
            backoff_rate=1.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)

attempts: list[int] = []


def flaky_charge(step: StepContext) -> str:
    """Fails six times, then succeeds: six retries, each after an hour."""
    attempts.append(step.attempt)
    if step.attempt < 7:
        raise ConnectionError(f"gateway down (attempt {step.attempt})")
    return "charged"


async def subscription(ctx: DurableContext, user: str) -> dict[str, Any]:
    trial = await ctx.step(lambda s: f"trial for {user}", name="start-trial")
    await ctx.wait(timedelta(days=30), name="trial-period")
    charge = await ctx.step(flaky_charge, name="charge", config=HOURLY)
    return {"trial": trial, "charge": charge, "at": await ctx.now()}


def exists(path: Path) -> bool:
    return path.exists()


def assert_consistent(result: TestResult, start: datetime, end: datetime) -> None:
    """Every operation started and ended on the virtual clock, in call order."""
    previous_end = start
    for op in result.operations:
        assert op.started_at is not None and op.ended_at is not None, op
        assert op.started_at.tzinfo is not None
        assert previous_end <= op.started_at <= op.ended_at <= end, op
        previous_end = op.ended_at


async def test_thirty_day_wait_and_hourly_retries_run_on_virtual_time() -> None:
    attempts.clear()
    async with DurableTestRunner([subscription], start=START) as runner:
        result = await runner.run(subscription, "ana")
        elapsed = runner.clock.elapsed

    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result["charge"] == "charged"
    assert elapsed >= timedelta(days=30, hours=6)
    assert elapsed == timedelta(days=30, hours=6)  # nothing else moved the clock
    assert attempts == [1, 2, 3, 4, 5, 6, 7]  # each attempt ran once: replays ran none

    wait = result.get_wait("trial-period")
    assert wait.started_at == START
    assert wait.ended_at == START + timedelta(days=30)
    charge = result.get_step("charge")
    assert charge.attempt == 7
    assert charge.status is OperationStatus.SUCCEEDED
    assert charge.started_at == START + timedelta(days=30)
    assert charge.ended_at == START + timedelta(days=30, hours=6)
    assert charge.duration == 6 * 3600
    assert result.result["at"] == START + timedelta(days=30, hours=6)  # ctx.now() is virtual
    assert_consistent(result, START, START + elapsed)


async def test_retries_that_run_out_fail_with_the_step_error() -> None:
    async def always_down(ctx: DurableContext, _: Any) -> None:
        await ctx.step(lambda s: 1 / 0, name="divide", config=HOURLY)

    async with DurableTestRunner([always_down], start=START) as runner:
        result = await runner.run(always_down)
        assert runner.now() == START + timedelta(hours=6)

    assert result.status is ExecutionStatus.FAILED
    assert isinstance(result.error, StepError)
    assert result.error.error_type == "ZeroDivisionError"
    step = result.get_step("divide")
    assert (step.status, step.attempt) == (OperationStatus.FAILED, 7)
    assert isinstance(step.error, StepError)
    with pytest.raises(StepError):
        result.unwrap()


async def approval(ctx: DurableContext, amount: int) -> str:
    try:
        decision = await ctx.wait_for_callback(
            lambda callback_id, step: None,
            name="manager",
            config=WaitForCallbackConfig(timeout=timedelta(days=7)),
        )
    except CallbackTimeoutError:
        return "expired"
    return f"{decision} {amount}"


async def test_a_seven_day_callback_timeout_is_skipped() -> None:
    async with DurableTestRunner([approval], start=START) as runner:
        result = await runner.run(approval, 100)
        assert runner.now() == START + timedelta(days=7)

    assert result.result == "expired"
    callback = result.get_callback("manager")
    assert callback.status is OperationStatus.TIMED_OUT
    assert isinstance(callback.error, CallbackTimeoutError)
    assert callback.ended_at == START + timedelta(days=7)


async def test_a_callback_answered_while_the_execution_waits_for_it() -> None:
    async with DurableTestRunner([approval], start=START) as runner:
        handle = await runner.start(approval, 250)
        callback = await runner.wait_for_callback(handle, name="manager")
        assert runner.now() == START  # waiting for the callback moved no time
        assert callback.name == "manager"
        assert callback.deadline == START + timedelta(days=7)
        assert (await runner.snapshot(handle)).status is ExecutionStatus.SUSPENDED

        await runner.send_callback_success(callback.callback_id, "approved")
        result = await runner.result(handle)

    assert result.result == "approved 250"
    op = result.get_callback("manager")
    assert op.status is OperationStatus.SUCCEEDED
    assert op.callback_id == callback.callback_id
    assert result.get_context("manager").get_step("submit").status is OperationStatus.SUCCEEDED


async def test_a_failed_callback_raises_in_the_workflow() -> None:
    async with DurableTestRunner([approval]) as runner:
        handle = await runner.start(approval, 1)
        callback = await runner.wait_for_callback(handle)
        await runner.send_callback_failure(callback.callback_id, "Rejected", "over budget")
        result = await runner.result(handle)

    assert result.status is ExecutionStatus.FAILED
    assert isinstance(result.error, CallbackFailedError)
    assert "over budget" in str(result.error)


async def test_wait_for_callback_moves_time_only_until_the_callback_exists() -> None:
    async def later(ctx: DurableContext, _: Any) -> Any:
        await ctx.wait(timedelta(days=2), name="cool-off")
        cb = await ctx.create_callback(name="go", config=CallbackConfig(timeout=timedelta(hours=1)))
        return await cb.result()

    async with DurableTestRunner([later], start=START) as runner:
        handle = await runner.start(later)
        callback = await runner.wait_for_callback(handle, "go")
        assert runner.now() == START + timedelta(days=2)  # the wait, never the timeout
        await runner.send_callback_success(callback.callback_id, {"ok": True})
        assert (await runner.result(handle)).result == {"ok": True}


async def test_heartbeats_keep_a_callback_alive_and_a_missed_one_times_it_out() -> None:
    async def job(ctx: DurableContext, _: Any) -> str:
        cb = await ctx.create_callback(
            name="job", config=CallbackConfig(heartbeat_timeout=timedelta(hours=1))
        )
        try:
            return str(await cb.result())
        except CallbackTimeoutError:
            return "heartbeat missed"

    async with DurableTestRunner([job], start=START) as runner:
        alive = await runner.start(job)
        callback = await runner.wait_for_callback(alive)
        for _ in range(5):
            await runner.advance(timedelta(minutes=50))
            await runner.send_callback_heartbeat(callback.callback_id)
        await runner.send_callback_success(callback.callback_id, "done")
        assert (await runner.result(alive)).result == "done"
        assert runner.now() == START + timedelta(minutes=250)

        silent = await runner.run(job)
        assert silent.result == "heartbeat missed"
        assert runner.now() == START + timedelta(minutes=250, hours=1)


async def test_wait_for_condition_polls_on_virtual_time() -> None:
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda n: n < 5,
            max_attempts=10,
            initial_delay=timedelta(hours=2),
            max_delay=timedelta(hours=2),
            backoff_rate=1.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )

    async def poller(ctx: DurableContext, _: Any) -> int:
        result: int = await ctx.wait_for_condition(
            lambda n, check: n + 1,
            config=WaitForConditionConfig(wait_strategy=strategy, initial_state=0),
            name="count",
        )
        return result

    async with DurableTestRunner([poller], start=START) as runner:
        result = await runner.run(poller)
    assert result.result == 5
    condition = result.get_condition("count")
    assert condition.attempt == 5
    assert condition.ended_at == START + timedelta(hours=8)


async def test_an_execution_timeout_on_virtual_time() -> None:
    async def slow(ctx: DurableContext, _: Any) -> None:
        await ctx.wait(timedelta(days=3))

    async with DurableTestRunner([slow], start=START) as runner:
        result = await runner.run(slow, timeout=timedelta(days=1))
        assert runner.now() == START + timedelta(days=1)
    assert result.status is ExecutionStatus.TIMED_OUT
    assert isinstance(result.error, ExecutionTimedOut)


async def test_skip_time_off_moves_the_clock_only_by_hand() -> None:
    async with DurableTestRunner([subscription], start=START, skip_time=False) as runner:
        handle = await runner.start(subscription, "bo")
        with pytest.raises(ExecutionStuck, match=r"runner\.advance"):
            await runner.result(handle)
        assert runner.now() == START

        await runner.advance(timedelta(days=29))
        state = await runner.snapshot(handle)
        assert state.status is ExecutionStatus.SUSPENDED
        assert state.get_wait("trial-period").status is OperationStatus.STARTED

        await runner.advance(timedelta(days=2))  # the wait and all six hourly retries fall due
        result = await runner.result(handle)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.get_wait("trial-period").ended_at == START + timedelta(days=30)
    assert result.get_step("charge").ended_at == START + timedelta(days=30, hours=6)


async def test_a_callback_nobody_answers_is_reported_not_hung() -> None:
    async def forever(ctx: DurableContext, _: Any) -> Any:
        cb = await ctx.create_callback(name="never")
        return await cb.result()

    async with DurableTestRunner([forever]) as runner:
        with pytest.raises(ExecutionStuck, match=r"'never'.*wait_for_callback"):
            await runner.run(forever)


async def test_wait_for_callback_on_an_execution_that_ends_without_one() -> None:
    async def plain(ctx: DurableContext, _: Any) -> int:
        return 7

    async with DurableTestRunner([plain]) as runner:
        handle = await runner.start(plain)
        with pytest.raises(ExecutionStuck, match="ended SUCCEEDED without waiting"):
            await runner.wait_for_callback(handle)


async def child_pays(ctx: DurableContext, amount: int) -> int:
    await ctx.wait(timedelta(hours=5), name="settle")
    cb = await ctx.create_callback(name="bank", config=CallbackConfig(timeout=timedelta(days=1)))
    await cb.result()
    return amount * 2


async def parent_invokes(ctx: DurableContext, amount: int) -> int:
    paid: int = await ctx.invoke("child_pays", amount, name="pay")
    return paid + 1


async def test_invoked_functions_come_along_and_their_callbacks_are_found() -> None:
    async with DurableTestRunner([parent_invokes, child_pays], start=START) as runner:
        handle = await runner.start(parent_invokes, 20)
        callback = await runner.wait_for_callback(handle, "bank")  # in the child execution
        assert callback.execution_id != handle.execution_id
        assert runner.now() == START + timedelta(hours=5)
        await runner.send_callback_success(callback.callback_id)
        result = await runner.result(handle)
    assert result.result == 41
    invoke = result.get_invoke("pay")
    assert invoke.status is OperationStatus.SUCCEEDED
    assert invoke.ref == callback.execution_id


async def test_the_operation_tree_and_its_getters() -> None:
    async def tree(ctx: DurableContext, _: Any) -> list[Any]:
        async def branch(child: DurableContext) -> int:
            await child.wait(timedelta(minutes=10), name="pause")
            return int(await child.step(lambda s: 2, name="inner"))

        first = await ctx.step(lambda s: 1, name="outer")
        second = await ctx.run_in_child_context(branch, name="block")
        mapped = await ctx.map([1, 2, 3], lambda c, item, i, items: c.step(lambda s: item * 10))
        return [first, second, mapped.get_results()]

    async with DurableTestRunner([tree], start=START) as runner:
        result = await runner.run(tree)

    assert result.result == [1, 2, [10, 20, 30]]
    assert [op.type for op in result.operations] == [
        OperationType.STEP,
        OperationType.CONTEXT,
        OperationType.MAP,
    ]
    block = result.get_context("block")
    assert [(c.operation_id, c.name) for c in block.children] == [
        ("2/1", "pause"),
        ("2/2", "inner"),
    ]
    assert block.get_step("inner").result == 2
    assert block.get_wait("pause").ended_at == START + timedelta(minutes=10)
    assert result.get_operation("inner", "STEP") is not None
    assert len(result.all_operations()) == 3 + 2 + 3 * 2  # the map's 3 contexts, each a step
    assert [op.result for op in result.find_operations(type=OperationType.STEP)][-3:] == [
        10,
        20,
        30,
    ]
    with pytest.raises(OperationNotFound) as missing:
        result.get_step("nope")
    assert "no STEP operation named 'nope'" in str(missing.value)
    assert "'inner'" in str(missing.value) and "'outer'" in str(missing.value)
    with pytest.raises(OperationNotFound, match="the named ones are: none") as missing:
        result.get_invoke("pay")
    assert "(of other types: " in str(missing.value) and "STEP 'inner'" in str(missing.value)
    assert isinstance(result.get_step("outer"), TestOperation)


async def test_run_child_tests_a_block_on_its_own() -> None:
    async def reserve(ctx: DurableContext, sku: str, qty: int) -> str:
        await ctx.wait(timedelta(days=1), name="hold")
        return str(await ctx.step(lambda s: f"{qty}x{sku}", name="reserve"))

    async with DurableTestRunner([], start=START) as runner:
        result = await runner.run_child(reserve, "apple", 3)
        again = await runner.run_child(reserve, "pear", 1)
    assert (result.result, again.result) == ("3xapple", "1xpear")
    assert result.get_context("reserve").get_step("reserve").result == "3xapple"
    assert result.get_wait("hold").ended_at == START + timedelta(days=1)


async def test_many_executions_at_once_each_on_its_own_timers() -> None:
    async def sleeper(ctx: DurableContext, days: int) -> int:
        await ctx.wait(timedelta(days=days))
        return days

    async with DurableTestRunner([sleeper], start=START) as runner:
        handles = [await runner.start(sleeper, d) for d in (9, 3, 6)]
        results = [await runner.result(h) for h in handles]
    assert [r.result for r in results] == [9, 3, 6]
    assert [r.ended_at for r in results] == [START + timedelta(days=d) for d in (9, 3, 6)]


async def test_a_runner_takes_an_engines_functions_but_not_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = Engine("production.db")

    @engine.durable_function(name="greet")
    async def greet(ctx: DurableContext, who: str) -> str:
        await ctx.wait(timedelta(days=365))
        return str(await ctx.step(lambda s: f"hello {who}", name="say"))

    async with DurableTestRunner(engine) as runner:
        by_name = await runner.run("greet", "ada")
        by_function = await runner.run(greet, "bob")
    assert (by_name.result, by_function.result) == ("hello ada", "hello bob")
    assert by_name.function == "greet"
    assert not exists(tmp_path / "production.db")


async def test_a_temporary_database_file_is_removed_afterwards() -> None:
    async def one(ctx: DurableContext, _: Any) -> int:
        return 1

    runner = DurableTestRunner({"one": one}, temp_file=True)
    async with runner:
        path = Path(runner.engine.path)
        assert (await runner.run("one")).result == 1
        assert exists(path)
    assert not exists(path)


async def test_misuse_gets_clear_errors() -> None:
    async def one(ctx: DurableContext, _: Any) -> int:
        return 1

    def not_async(ctx: DurableContext, _: Any) -> int:
        return 2

    runner = DurableTestRunner(one)
    with pytest.raises(RuntimeError, match="async with DurableTestRunner"):
        await runner.run(one)
    async with runner:
        assert (await runner.run(one)).result == 1
        with pytest.raises(TypeError, match="async def"):
            await runner.run(not_async)  # type: ignore[arg-type]
        with pytest.raises(ExecutionNotFound):
            await runner.result("no-such-execution")


async def test_a_child_context_resumed_later_keeps_the_instant_it_began() -> None:
    async def block(ctx: DurableContext) -> int:
        first = await ctx.step(lambda s: 1, name="first")
        await ctx.wait(timedelta(days=1), name="overnight")
        return first + await ctx.step(lambda s: 2, name="second")

    async def nightly(ctx: DurableContext, _: Any) -> int:
        return await ctx.run_in_child_context(block, name="block")

    async with DurableTestRunner(nightly) as runner:
        result = await runner.run(nightly)

    context, first = result.get_context("block"), result.get_step("first")
    assert result.result == 3
    assert context.started_at == first.started_at  # not the instant of the replay
    assert context.ended_at is not None and context.started_at is not None
    assert context.ended_at - context.started_at >= timedelta(days=1)


async def test_an_unfinished_map_shows_with_its_items_under_it_and_keeps_its_start() -> None:
    """A batch (and each item) is recorded as it begins: a history taken while it waits
    shows where the waits belong, and its duration counts from its real start."""

    async def flow(ctx: DurableContext, _: Any) -> list[int]:
        async def item(c: DurableContext, x: int, index: int, items: Any) -> int:
            await c.wait(timedelta(hours=1), name="nap")
            return x

        return (await ctx.map([1, 2], item, name="items")).get_results()

    async with DurableTestRunner([flow], skip_time=False, start=START) as runner:
        handle = await runner.start(flow)
        await runner.advance(timedelta(minutes=10))
        waiting = await runner.snapshot(handle)
        (batch,) = waiting.operations
        assert (batch.type, batch.name, batch.status) == ("MAP", "items", "STARTED")
        assert [(op.type, op.status) for op in batch.children] == [("CONTEXT", "STARTED")] * 2
        assert batch.children[1].get_wait("nap").status == "STARTED"
        await runner.advance(timedelta(hours=1))
        done = await runner.snapshot(handle)
    assert done.result == [1, 2]
    (batch,) = done.operations
    assert (batch.status, batch.started_at, batch.duration) == ("SUCCEEDED", START, 3600.0)


@pytest.mark.timeout(60)  # the failure this guards against is a hang
async def test_concurrent_calls_and_a_busy_loop_do_not_keep_the_runner_from_settling() -> None:
    """Two runs at once on one runner, two runners at once, and a task polling with
    sleep(0): the loop's ready queue never empties, yet each run ends."""

    async def nap(ctx: DurableContext, days: int) -> int:
        await ctx.wait(timedelta(days=days), name="nap")
        return days

    async def other(ctx: DurableContext, _: Any) -> str:
        await ctx.wait(timedelta(hours=1), name="nap")
        return "other"

    async with DurableTestRunner([nap]) as runner, DurableTestRunner([other]) as second:
        both = await asyncio.gather(runner.run(nap, 1), runner.run(nap, 2))
        assert [r.result for r in both] == [1, 2]
        mine, theirs = await asyncio.gather(runner.run(nap, 3), second.run(other))
        assert (mine.result, theirs.result) == (3, "other")
        polling = True

        async def poll() -> None:
            while polling:  # noqa: ASYNC110 - a task that keeps the loop busy is the point
                await asyncio.sleep(0)

        poller = asyncio.create_task(poll())
        try:
            assert (await runner.run(nap, 4)).result == 4
        finally:
            polling = False
            await poller


async def test_a_runner_used_outside_its_block_says_so() -> None:
    async def nap(ctx: DurableContext, _: Any) -> str:
        await ctx.wait(timedelta(days=1), name="nap")
        return "rested"

    runner = DurableTestRunner([nap])
    with pytest.raises(RuntimeError, match="runner is not open"):
        await runner.run(nap)
    async with runner:
        finished = await runner.run(nap)
    before = runner.clock.elapsed
    for late in (
        runner.run(nap),
        runner.result(finished.execution_id),
        runner.snapshot(finished.execution_id),
        runner.replay(finished.execution_id),
        runner.advance(timedelta(seconds=10)),
        runner.send_callback_success("cb-1"),
    ):
        with pytest.raises(RuntimeError, match="runner is not open"):
            await late
    assert runner.clock.elapsed == before  # a refused advance moved no time


async def test_waiting_again_for_an_answered_callback_says_it_was_answered() -> None:
    async def approval(ctx: DurableContext, _: Any) -> Any:
        answer = await ctx.wait_for_callback(lambda callback_id, step: None, name="first")
        await ctx.wait(timedelta(days=1), name="later")
        return answer

    async with DurableTestRunner([approval]) as runner:
        handle = await runner.start(approval)
        callback = await runner.wait_for_callback(handle, "first")
        await runner.send_callback_success(callback.callback_id, "yes")
        with pytest.raises(ExecutionStuck, match="answered or not: 'first' SUCCEEDED"):
            await runner.wait_for_callback(handle, "first")
