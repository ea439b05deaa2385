"""runner.replay: the stored history against the current code, with no step run again."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from durable_engine import (
    CompletionConfig,
    DurableContext,
    Engine,
    ExecutionStatus,
    NonDeterministicError,
    ParallelBranch,
    ParallelConfig,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
    WaitForCallbackConfig,
)
from durable_engine.testing import DurableTestRunner

runs: list[str] = []


def work(name: str, value: Any) -> Any:
    runs.append(name)
    return value


async def checkout(ctx: DurableContext, cart: list[int]) -> dict[str, Any]:
    total = await ctx.step(lambda s: work("price", sum(cart)), name="price")
    await ctx.wait(timedelta(days=1), name="hold")
    receipt = await ctx.step(lambda s: work("charge", f"paid {total}"), name="charge")
    return {"total": total, "receipt": receipt}


async def checkout_reordered(ctx: DurableContext, cart: list[int]) -> dict[str, Any]:
    total = await ctx.step(lambda s: work("price", sum(cart)), name="price")
    receipt = await ctx.step(lambda s: work("charge", f"paid {total}"), name="charge")
    await ctx.wait(timedelta(days=1), name="hold")
    return {"total": total, "receipt": receipt}


async def checkout_shorter(ctx: DurableContext, cart: list[int]) -> dict[str, Any]:
    total = await ctx.step(lambda s: work("price", sum(cart)), name="price")
    await ctx.wait(timedelta(days=1), name="hold")
    return {"total": total, "receipt": None}


async def checkout_longer(ctx: DurableContext, cart: list[int]) -> dict[str, Any]:
    result = await checkout(ctx, cart)
    await ctx.step(lambda s: work("email", None), name="email")
    return result


async def test_an_unchanged_function_replays_to_the_same_result_running_nothing() -> None:
    async with DurableTestRunner([checkout]) as runner:
        result = await runner.run(checkout, [5, 7])
        runs.clear()
        replayed = await runner.replay(result.execution_id)
    assert replayed == result.result == {"total": 12, "receipt": "paid 12"}
    assert runs == []  # no step body ran


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (checkout_reordered, r"operation 2 was recorded as WAIT 'hold'.*STEP 'charge'"),
        (checkout_shorter, r"no longer asks for: 3 \(STEP 'charge'\)"),
        (checkout_longer, r"asks for operation 4 \(STEP 'email'\), which the execution never"),
    ],
)
async def test_a_changed_function_is_caught(changed: Any, message: str) -> None:
    async with DurableTestRunner([checkout]) as runner:
        result = await runner.run(checkout, [1])
        runs.clear()
        with pytest.raises(NonDeterministicError, match=message):
            await runner.replay(result.execution_id, fn=changed)
    assert runs == []


async def test_a_changed_result_is_caught() -> None:
    async def v1(ctx: DurableContext, _: Any) -> int:
        return int(await ctx.step(lambda s: 2, name="two")) * 10

    async def v2(ctx: DurableContext, _: Any) -> int:
        return int(await ctx.step(lambda s: 2, name="two")) * 100

    async with DurableTestRunner([v1]) as runner:
        result = await runner.run(v1)
        with pytest.raises(NonDeterministicError, match=r"replay returned 200.*returned 20"):
            await runner.replay(result.execution_id, fn=v2)


async def test_a_failed_execution_replays_its_failure() -> None:
    async def fails(ctx: DurableContext, _: Any) -> None:
        await ctx.step(lambda s: work("boom", 1 / 0), name="boom")

    async with DurableTestRunner([fails]) as runner:
        result = await runner.run(fails)
        assert result.status is ExecutionStatus.FAILED
        runs.clear()
        with pytest.raises(StepError, match="ZeroDivisionError"):
            await runner.replay(result.execution_id)
    assert runs == []


@pytest.mark.parametrize("ending", ["stopped", "timed out"])
async def test_a_stopped_or_timed_out_execution_replays_up_to_where_it_was_ended(
    ending: str,
) -> None:
    """The operations the stop or the timeout cancelled had no outcome for the code: the
    replay stops there, rather than run past them to a result the execution never had."""

    async def napping(ctx: DurableContext, _: Any) -> Any:
        await ctx.step(lambda s: work("before", 1), name="before")
        await ctx.wait(timedelta(hours=1), name="nap")
        return "rested"

    async def renamed(ctx: DurableContext, _: Any) -> Any:
        await ctx.step(lambda s: work("before", 1), name="renamed")

    async with DurableTestRunner([napping], skip_time=False) as runner:
        if ending == "stopped":
            handle = await runner.start(napping)
            await runner.advance(timedelta(minutes=1))  # it waits for the rest of its nap
            await runner.engine.stop(handle.execution_id)
            status = ExecutionStatus.STOPPED
        else:
            handle = await runner.start(napping, timeout=timedelta(minutes=5))
            await runner.advance(timedelta(minutes=6))
            status = ExecutionStatus.TIMED_OUT
        assert (await runner.snapshot(handle)).status is status
        runs.clear()
        assert await runner.replay(handle) is None  # stopped where the execution was
        with pytest.raises(NonDeterministicError, match="'before'"):
            await runner.replay(handle, fn=renamed)
    assert runs == []


async def test_an_unfinished_execution_replays_up_to_where_it_waits() -> None:
    async def waiting(ctx: DurableContext, _: Any) -> Any:
        await ctx.step(lambda s: work("before", 1), name="before")
        answer = await ctx.wait_for_callback(
            lambda cid, s: None, name="answer", config=WaitForCallbackConfig(timeout=60)
        )
        return await ctx.step(lambda s: work("after", answer), name="after")

    async def waiting_changed(ctx: DurableContext, _: Any) -> Any:
        await ctx.step(lambda s: work("before", 1), name="renamed")

    async with DurableTestRunner([waiting]) as runner:
        handle = await runner.start(waiting)
        await runner.wait_for_callback(handle)
        runs.clear()
        assert await runner.replay(handle) is None  # clean up to the pending callback
        with pytest.raises(NonDeterministicError, match="'before'"):
            await runner.replay(handle, fn=waiting_changed)
        assert runs == []
        assert (await runner.snapshot(handle)).status is ExecutionStatus.SUSPENDED


async def test_parallel_branches_replay_from_their_checkpoints() -> None:
    async def fan_out(ctx: DurableContext, n: int) -> list[Any]:
        def branch(i: int) -> Any:
            async def run(child: DurableContext) -> Any:
                await child.wait(timedelta(hours=i + 1))
                return await child.step(lambda s: work(f"b{i}", i * i), name=f"sq{i}")

            return run

        batch = await ctx.parallel(
            [branch(i) for i in range(n)], config=ParallelConfig(max_concurrency=2)
        )
        return batch.get_results()

    async with DurableTestRunner([fan_out]) as runner:
        result = await runner.run(fan_out, 4)
        runs.clear()
        assert await runner.replay(result.execution_id) == [0, 1, 4, 9]
    assert result.result == [0, 1, 4, 9]
    assert runs == []


async def test_a_child_result_too_large_to_store_is_rebuilt_from_its_steps() -> None:
    engine = Engine(":memory:", payload_limit=1000)

    @engine.durable_function(name="big")
    async def big(ctx: DurableContext, _: Any) -> int:
        def part(i: int) -> Callable[[StepContext], str]:
            return lambda s: str(work(f"part{i}", str(i) * 400))

        async def parts(child: DurableContext) -> list[str]:
            return [await child.step(part(i), name=f"p{i}") for i in range(3)]

        joined = await ctx.run_in_child_context(parts, name="parts")
        await ctx.wait(timedelta(hours=1))
        return len("".join(joined))

    async with DurableTestRunner(engine) as runner:
        result = await runner.run("big")
        assert result.get_context("parts").result is None  # too large: not stored
        runs.clear()
        assert await runner.replay(result.execution_id) == result.result == 1200
    assert runs == []


def _holder(inner: str) -> Callable[[DurableContext, Any], Any]:
    """A function whose step `inner` sits in a child context, a parallel branch and a
    map item, each waiting a day after it: all three are unfinished while it waits."""

    async def flow(ctx: DurableContext, _: Any) -> Any:
        async def child(c: DurableContext) -> Any:
            value = await c.step(lambda s: work(inner, 1), name=inner)
            await c.wait(timedelta(days=1), name="settle")
            return value

        async def item(c: DurableContext, x: int, index: int, items: Any) -> Any:
            return await child(c)

        a = await ctx.run_in_child_context(child, name="child")
        b = await ctx.parallel([child], name="parallel")
        c = await ctx.map([1], item, name="map")
        return [a, b.get_results(), c.get_results()]

    return flow


@pytest.mark.parametrize("where", ["child", "parallel", "map"])
async def test_a_change_inside_an_unfinished_context_is_caught(where: str) -> None:
    """Renamed inside the context the execution waits in: a resume would fail there, so
    the replay must go in and say so, not stop at the context's door."""
    original = _holder("load")

    async def changed(ctx: DurableContext, _: Any) -> Any:
        if where == "child":
            return await _holder("fetch")(ctx, None)
        done = await ctx.run_in_child_context(_child_done, name="child")
        if where == "parallel":
            return [done, await ctx.parallel([_renamed_child], name="parallel")]
        batch = await ctx.parallel([_loading_child], name="parallel")
        return [done, batch, await ctx.map([1], _renamed_item, name="map")]

    async with DurableTestRunner({"flow": original}, skip_time=False) as runner:
        handle = await runner.start("flow")
        days = {"child": 0, "parallel": 1, "map": 2}[where]
        await runner.advance(timedelta(days=days, hours=1))
        operation = {"child": "1/1", "parallel": "2/1/1", "map": "3/1/1"}[where]
        assert await runner.replay(handle) is None  # unchanged: clean up to the wait
        runs.clear()
        with pytest.raises(
            NonDeterministicError, match=rf"operation {operation} was recorded as STEP 'load'"
        ):
            await runner.replay(handle, fn=changed)
        assert runs == []


async def _child_done(c: DurableContext) -> Any:
    value = await c.step(lambda s: work("load", 1), name="load")
    await c.wait(timedelta(days=1), name="settle")
    return value


async def _loading_child(c: DurableContext) -> Any:
    return await _child_done(c)


async def _renamed_child(c: DurableContext) -> Any:
    return await c.step(lambda s: work("fetch", 1), name="fetch")


async def _renamed_item(c: DurableContext, x: int, index: int, items: Any) -> Any:
    return await _renamed_child(c)


async def test_code_that_ends_without_recorded_operations_is_caught_before_it_ends() -> None:
    """The execution waits at operation 3; the new code returns after operation 1. A
    resume would end it without operations 2 and 3: the replay says so, and the resume
    holds the execution (BLOCKED) instead of returning another result."""

    async def v1(ctx: DurableContext, x: int) -> int:
        a = await ctx.step(lambda s: work("fetch", x + 1), name="fetch")
        b = await ctx.step(lambda s: work("compute", a * 2), name="compute")
        await ctx.wait(timedelta(days=1), name="pause")
        return int(b)

    async def v2(ctx: DurableContext, x: int) -> int:
        return int(await ctx.step(lambda s: work("fetch", x + 1), name="fetch"))

    deployed = [v1]

    async def flow(ctx: DurableContext, x: int) -> int:
        return await deployed[0](ctx, x)

    async with DurableTestRunner({"flow": flow}, skip_time=False) as runner:
        handle = await runner.start("flow", 1)
        await runner.advance(timedelta(hours=1))
        dropped = r"no longer asks for: 2 \(STEP 'compute'\), 3 \(WAIT 'pause'\)"
        with pytest.raises(NonDeterministicError, match=dropped):
            await runner.replay(handle, fn=v2)
        deployed[0] = v2  # deployed anyway
        await runner.advance(timedelta(days=1))
        finished = await runner.snapshot(handle)
    assert finished.status is ExecutionStatus.BLOCKED
    assert isinstance(finished.error, NonDeterministicError)
    assert re.search(dropped, str(finished.error))


async def _child_without_wait(c: DurableContext) -> Any:
    return await c.step(lambda s: work("load", 1), name="load")


async def _item_without_wait(c: DurableContext, x: int, index: int, items: Any) -> Any:
    return await _child_without_wait(c)


@pytest.mark.parametrize("where", ["child", "parallel", "map"])
async def test_a_context_that_ends_without_its_recorded_operations_is_caught(where: str) -> None:
    """The execution waits inside a context; the new code ends that context before the
    wait. A resume must not record the context as finished with another outcome."""
    original = _holder("load")

    async def changed(ctx: DurableContext, _: Any) -> Any:
        if where == "child":
            return await ctx.run_in_child_context(_child_without_wait, name="child")
        done = await ctx.run_in_child_context(_child_done, name="child")
        if where == "parallel":
            return [done, await ctx.parallel([_child_without_wait], name="parallel")]
        batch = await ctx.parallel([_loading_child], name="parallel")
        return [done, batch, await ctx.map([1], _item_without_wait, name="map")]

    deployed = [original]

    async def flow(ctx: DurableContext, _: Any) -> Any:
        return await deployed[0](ctx, _)

    async with DurableTestRunner({"flow": flow}, skip_time=False) as runner:
        handle = await runner.start("flow")
        days = {"child": 0, "parallel": 1, "map": 2}[where]
        await runner.advance(timedelta(days=days, hours=1))
        context = {"child": "1", "parallel": "2/1", "map": "3/1"}[where]
        dropped = rf"in context {context} the code no longer asks for: {context}/2 \(WAIT 'sett"
        runs.clear()
        with pytest.raises(NonDeterministicError, match=dropped):
            await runner.replay(handle, fn=changed)
        deployed[0] = changed  # deployed anyway: the resume holds it rather than go on
        await runner.advance(timedelta(days=1))
        finished = await runner.snapshot(handle)
        assert finished.status is ExecutionStatus.BLOCKED
        assert isinstance(finished.error, NonDeterministicError)
        assert re.search(dropped, str(finished.error))
        # Begun by the first version; the changed code recorded no outcome for it, and
        # a held execution's operations stay open for a deploy that can finish them.
        (begun,) = [op for op in finished.all_operations() if op.operation_id == context]
        assert begun.status == "STARTED"
    assert runs == []


async def test_code_that_drops_an_unfinished_context_is_caught() -> None:
    """A context with no outcome yet, recorded as begun: code that no longer enters it
    has changed."""
    original = _holder("load")
    deployed = [original]

    async def changed(ctx: DurableContext, _: Any) -> Any:
        return "skipped"

    async def flow(ctx: DurableContext, _: Any) -> Any:
        return await deployed[0](ctx, _)

    async with DurableTestRunner({"flow": flow}, skip_time=False) as runner:
        handle = await runner.start("flow")
        await runner.advance(timedelta(hours=1))
        dropped = r"no longer asks for: 1 \(CONTEXT 'child'\)"
        with pytest.raises(NonDeterministicError, match=dropped):
            await runner.replay(handle, fn=changed)
        deployed[0] = changed
        await runner.advance(timedelta(days=1))
        finished = await runner.snapshot(handle)
    assert finished.status is ExecutionStatus.BLOCKED
    assert re.search(dropped, str(finished.error))


@pytest.mark.parametrize("caught_by", ["batch", "code"])
async def test_nothing_new_runs_once_the_code_has_diverged(caught_by: str) -> None:
    """A branch that diverged fails like any branch, and user code may catch the error;
    but the execution is bound to fail, so no new step may run its side effects."""

    async def original(ctx: DurableContext, _: Any) -> Any:
        await ctx.parallel([_child_done], name="parallel")
        return await ctx.step(lambda s: work("after", 1), name="after")

    async def changed(ctx: DurableContext, _: Any) -> Any:
        if caught_by == "batch":
            tolerant = ParallelConfig(completion_config=CompletionConfig.all_completed())
            await ctx.parallel([_child_without_wait], name="parallel", config=tolerant)
        else:
            with contextlib.suppress(NonDeterministicError):
                await ctx.run_in_child_context(_child_without_wait, name="parallel")
        return await ctx.step(lambda s: work("after", 1), name="after")

    deployed = [original]

    async def flow(ctx: DurableContext, _: Any) -> Any:
        return await deployed[0](ctx, _)

    async with DurableTestRunner({"flow": flow}, skip_time=False) as runner:
        handle = await runner.start("flow")
        await runner.advance(timedelta(hours=1))
        runs.clear()
        deployed[0] = changed
        await runner.advance(timedelta(days=1))
        finished = await runner.snapshot(handle)
    assert finished.status is ExecutionStatus.BLOCKED
    assert isinstance(finished.error, NonDeterministicError)
    why = {
        "batch": r"in context 1/1 the code no longer asks for: 1/1/2 \(WAIT 'settle'\)",
        "code": r"operation 1 was recorded as PARALLEL 'parallel' but the code now asks "
        r"for CONTEXT 'parallel'",
    }[caught_by]
    assert re.search(why, str(finished.error))
    (batch,) = finished.find_operations("parallel")
    assert batch.status == "STARTED"  # begun, and held open with the execution: no outcome
    assert runs == []


def _branches(*names: str) -> list[ParallelBranch[Any]]:
    return [ParallelBranch(_child_done, name) for name in names]


@pytest.mark.parametrize(
    ("branches", "message"),
    [
        (("a", "b"), "batch operation 1 was recorded with 3 branches but the code now gives it 2"),
        (("a", "b", "c", "d"), "recorded with 3 branches but the code now gives it 4"),
        (("a", "b2", "c"), "operation 1/2 was recorded as CONTEXT 'b' but the code now asks for"),
    ],
    ids=["dropped", "added", "renamed"],
)
async def test_an_unfinished_batch_given_other_branches_is_caught(
    branches: tuple[str, ...], message: str
) -> None:
    """While every branch waits, the code gives the parallel other branches: the resume
    holds the execution rather than run a new set of branches against the old records."""
    deployed = [_branches("a", "b", "c")]

    async def flow(ctx: DurableContext, _: Any) -> Any:
        return (await ctx.parallel(deployed[0], name="parallel")).get_results()

    async def changed(ctx: DurableContext, _: Any) -> Any:
        return (await ctx.parallel(_branches(*branches), name="parallel")).get_results()

    async with DurableTestRunner({"flow": flow}, skip_time=False) as runner:
        handle = await runner.start("flow")
        await runner.advance(timedelta(hours=1))
        runs.clear()
        with pytest.raises(NonDeterministicError, match=message):
            await runner.replay(handle, fn=changed)
        deployed[0] = _branches(*branches)
        await runner.advance(timedelta(days=1))
        finished = await runner.snapshot(handle)
    assert finished.status is ExecutionStatus.BLOCKED
    assert re.search(message, str(finished.error))
    assert runs == []


async def test_an_error_replayed_before_a_task_calls_its_operation_is_no_divergence() -> None:
    """A recorded failure is raised again at once on replay, before a task the code
    started gets to its operation: unchanged code, so the replay matches."""

    def declined(s: StepContext) -> None:
        raise ValueError("card declined")

    no_retry = StepConfig(retry_strategy=RetryPresets.none())

    async def checkout(ctx: DurableContext, _: Any) -> Any:
        audit = asyncio.create_task(ctx.step(lambda s: work("audit", 1), name="audit"))

        async def decline_after_the_audit(s: StepContext) -> None:
            # A step returns once its outcome is committed: the audit is then in the
            # history, whichever of the two would otherwise have landed first.
            await asyncio.wait({audit})
            declined(s)

        await ctx.step(decline_after_the_audit, name="charge", config=no_retry)
        return await audit

    async def in_a_child(ctx: DurableContext, _: Any) -> Any:
        async def child(c: DurableContext) -> Any:
            later = asyncio.create_task(_after_a_wait(c))
            await c.step(declined, name="charge", config=no_retry)
            return await later

        try:
            return await ctx.run_in_child_context(child, name="child")
        except StepError as exc:
            return f"caught {exc.message}"

    async with DurableTestRunner([checkout, in_a_child]) as runner:
        failed = await runner.run(checkout)
        assert [op.name for op in failed.all_operations()] == ["audit", "charge"]
        with pytest.raises(StepError, match="card declined"):
            await runner.replay(failed.execution_id)
        caught = await runner.run(in_a_child)
        assert caught.result == "caught card declined"
        assert await runner.replay(caught.execution_id) == "caught card declined"


async def _after_a_wait(c: DurableContext) -> Any:
    await c.wait(timedelta(seconds=1), name="pause")
    return await c.step(lambda s: work("after", 1), name="after")
