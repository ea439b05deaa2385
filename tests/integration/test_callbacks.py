"""Callbacks and wait_for_condition: answered from outside, timed out durably, bad ids refused."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

import serdes
from durable_engine import (
    CallbackAlreadyResolved,
    CallbackConfig,
    CallbackFailedError,
    CallbackNotFound,
    CallbackNotPending,
    CallbackTimeoutError,
    DurableContext,
    Engine,
    ExecutionHandle,
    ExecutionStatus,
    JitterStrategy,
    OperationStatus,
    OperationType,
    PayloadTooLarge,
    StepContext,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)
from tests.conftest import Effects, db_rows, wait_for_status


def snapshot(db: Path) -> list[Any]:
    conn = sqlite3.connect(db)
    try:
        return [
            conn.execute("SELECT * FROM callbacks ORDER BY callback_id").fetchall(),
            conn.execute("SELECT * FROM operations ORDER BY execution_id, op_id").fetchall(),
            conn.execute("SELECT execution_id, status, result, error FROM executions").fetchall(),
        ]
    finally:
        conn.close()


async def callback_id_of(engine: Engine, handle: ExecutionHandle[Any]) -> str:
    """The callback id the workflow handed out (read from its operation)."""
    while True:
        for op in await engine.get_operations(handle.execution_id):
            for node in op.walk():
                if node.type is OperationType.CALLBACK:
                    stored = await engine.store.load_operation(
                        handle.execution_id, node.operation_id
                    )
                    assert stored is not None and stored.ref is not None
                    return stored.ref
        await asyncio.sleep(0.01)


async def test_approval_answered_in_process(engine: Engine) -> None:
    handed_out: list[str] = []

    @engine.durable_function
    async def approval(ctx: DurableContext, amount: int) -> dict[str, Any]:
        decision = await ctx.wait_for_callback(
            lambda callback_id, step: handed_out.append(callback_id),
            name="manager",
            config=WaitForCallbackConfig(timeout=3600),
        )
        return {"amount": amount, "decision": decision}

    async with engine:
        handle = await engine.start(approval, 500)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)  # no memory held meanwhile
        assert engine.executor.live_run(handle.execution_id) is None
        [callback_id] = handed_out
        assert len(callback_id) >= 43 + 3  # 256 bits, url-safe, after "cb_"
        assert callback_id.startswith("cb_")  # never "-...", which a command line misreads
        await engine.send_callback_success(callback_id, {"approved": True, "by": "ana"})
        assert await handle.result() == {"amount": 500, "decision": {"approved": True, "by": "ana"}}
        assert handed_out == [callback_id]  # the submitter step ran once


class _Response:
    """What a mail or HTTP client returns: nothing a codec knows."""


async def test_what_the_submitter_returns_is_not_stored(engine: Engine) -> None:
    sent: list[str] = []

    def send_email(callback_id: str, step: StepContext) -> _Response:
        sent.append(callback_id)
        return _Response()

    @engine.durable_function
    async def approval(ctx: DurableContext, _: None) -> Any:
        return await ctx.wait_for_callback(send_email, name="manager")

    async with engine:
        handle = await engine.start(approval)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        [callback_id] = sent
        await engine.send_callback_success(callback_id, "approved")
        assert await handle.result() == "approved"
        [manager] = await engine.get_operations(handle.execution_id)
        submit = next(op for op in manager.walk() if op.name == "submit")
        assert submit.status is OperationStatus.SUCCEEDED and submit.result is None
    assert len(sent) == 1


async def test_failure_reaches_the_workflow_with_its_details(engine: Engine) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> list[Any]:
        cb = await ctx.create_callback(name="payment")
        try:
            await cb.result()
        except CallbackFailedError as exc:
            return [exc.error_type, exc.message, exc.data]
        return []

    async with engine:
        handle = await engine.start(flow)
        callback_id = await callback_id_of(engine, handle)
        await engine.send_callback_failure(
            callback_id, error_type="CardDeclined", message="insufficient funds", data={"code": 51}
        )
        assert await handle.result() == ["CardDeclined", "insufficient funds", {"code": 51}]


async def test_bad_callback_ids_raise_and_change_nothing(engine: Engine, db_path: Path) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        cb = await ctx.create_callback(name="once", config=CallbackConfig(timeout=0.3))
        try:
            return await cb.result()
        except CallbackTimeoutError:
            return "timed out"

    async with engine:
        done = await engine.start(flow)
        done_id = await callback_id_of(engine, done)
        await engine.send_callback_success(done_id, 1)
        assert await done.result() == 1
        expired = await engine.start(flow)
        expired_id = await callback_id_of(engine, expired)
        assert await expired.result() == "timed out"
        before = snapshot(db_path)
        with pytest.raises(CallbackNotFound):
            await engine.send_callback_success("no-such-callback", 1)
        with pytest.raises(CallbackAlreadyResolved):
            await engine.send_callback_success(done_id, 2)
        with pytest.raises(CallbackAlreadyResolved):
            await engine.send_callback_failure(done_id, "X")
        with pytest.raises(CallbackNotPending):
            await engine.send_callback_success(expired_id, 3)
        with pytest.raises(CallbackNotPending):
            await engine.send_callback_heartbeat(expired_id)
        assert snapshot(db_path) == before


async def test_an_oversized_or_mistyped_answer_is_refused_and_the_callback_waits_on(
    db_path: Path,
) -> None:
    engine = Engine(db_path, payload_limit=1024)

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        cb = await ctx.create_callback(name="answer")
        try:
            return await cb.result()
        except CallbackFailedError as exc:
            return [exc.error_type, exc.message]

    async with engine:
        handle = await engine.start(flow)
        callback_id = await callback_id_of(engine, handle)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        before = snapshot(db_path)
        big = "x" * 100_000
        with pytest.raises(PayloadTooLarge, match="the callback result"):
            await engine.send_callback_success(callback_id, big)
        with pytest.raises(PayloadTooLarge, match="the callback failure"):
            await engine.send_callback_failure(callback_id, "Declined", big)
        with pytest.raises(PayloadTooLarge, match="the callback failure"):
            await engine.send_callback_failure(callback_id, "Declined", "no", data=big)
        with pytest.raises(TypeError, match="error_type"):
            await engine.send_callback_failure(callback_id, cast(str, 5))
        with pytest.raises(TypeError, match="message"):
            await engine.send_callback_failure(callback_id, "Declined", cast(str, None))
        with pytest.raises(TypeError, match="callback_id"):
            await engine.send_callback_success(cast(str, 42), 1)
        with pytest.raises(TypeError, match="callback_id"):
            await engine.send_callback_heartbeat(cast(str, None))
        assert snapshot(db_path) == before
        await engine.send_callback_failure(callback_id, "Declined", "card expired")
        assert await handle.result() == ["Declined", "card expired"]


async def test_a_callback_of_an_ended_or_stopped_execution_is_not_pending(
    engine: Engine, db_path: Path
) -> None:
    @engine.durable_function
    async def leaves_early(ctx: DurableContext, _: None) -> str:
        await ctx.create_callback(name="ignored")
        return "gone"

    @engine.durable_function
    async def waits(ctx: DurableContext, _: None) -> Any:
        return await (await ctx.create_callback(name="never answered")).result()

    async with engine:
        ended = await engine.start(leaves_early)
        assert await ended.result() == "gone"
        ended_id = await callback_id_of(engine, ended)
        stopped = await engine.start(waits)
        stopped_id = await callback_id_of(engine, stopped)
        await engine.stop(stopped.execution_id)
        before = snapshot(db_path)
        with pytest.raises(CallbackNotPending, match="ended"):
            await engine.send_callback_success(ended_id, 1)
        with pytest.raises(CallbackNotPending, match="ended"):
            await engine.send_callback_heartbeat(ended_id)
        with pytest.raises(CallbackNotPending):
            await engine.send_callback_failure(stopped_id, "Late", "after the stop")
        assert snapshot(db_path) == before
        assert (await engine.get_execution(stopped.execution_id)).status is (
            ExecutionStatus.STOPPED
        )
        [left_open] = await engine.get_operations(ended.execution_id)
    # The callback `leaves_early` never waited for was cancelled as its execution ended.
    assert (left_open.name, left_open.status) == ("ignored", OperationStatus.CANCELLED)
    assert _row(db_path, "SELECT status FROM callbacks WHERE callback_id = ?", ended_id) == (
        "CANCELLED",
    )


async def test_timeout_passes_while_no_process_runs(db_path: Path) -> None:
    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        @engine.durable_function(name="flow")
        async def flow(ctx: DurableContext, _: None) -> str:
            cb = await ctx.create_callback(name="late", config=CallbackConfig(timeout=0.3))
            try:
                await cb.result()
            except CallbackTimeoutError:
                return "timed out"
            return "answered"

        return engine

    first = build()
    async with first:
        handle = await first.start("flow")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        callback_id = await callback_id_of(first, handle)
    await asyncio.sleep(0.4)  # nobody runs while the timeout passes
    second = build()
    async with second:
        info = await second.wait_for(handle.execution_id)
        assert info.result == "timed out"
        with pytest.raises(CallbackNotPending):
            await second.send_callback_success(callback_id, "too late")


async def test_heartbeats_keep_a_callback_alive_and_a_missed_one_times_it_out(
    engine: Engine,
) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        cb = await ctx.create_callback(name="job", config=CallbackConfig(heartbeat_timeout=1.2))
        try:
            return str(await cb.result())
        except CallbackTimeoutError:
            return "heartbeat missed"

    async with engine:
        alive = await engine.start(flow)
        alive_id = await callback_id_of(engine, alive)
        # 1.6 s in all, past the heartbeat timeout; each gap far inside it, so that a
        # busy machine's late wake-ups do not make a heartbeat miss.
        for _ in range(16):
            await asyncio.sleep(0.1)
            await engine.send_callback_heartbeat(alive_id)
        await engine.send_callback_success(alive_id, "done")
        assert await alive.result() == "done"
        silent = await engine.start(flow)
        assert await silent.result() == "heartbeat missed"


async def test_wait_for_condition_finishes_on_the_third_poll_across_a_restart(
    db_path: Path, effects: Effects
) -> None:
    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        def poll(state: dict[str, int], check: StepContext) -> dict[str, int]:
            effects.record(f"poll {state['polls'] + 1}")
            return {"polls": state["polls"] + 1}

        @engine.durable_function(name="job")
        async def job(ctx: DurableContext, _: None) -> dict[str, int]:
            strategy = create_wait_strategy(
                WaitStrategyConfig(
                    should_continue_polling=lambda s: s["polls"] < 3,
                    initial_delay=0.2,
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
            state: dict[str, int] = await ctx.wait_for_condition(
                poll,
                config=WaitForConditionConfig(wait_strategy=strategy, initial_state={"polls": 0}),
                name="until ready",
            )
            return state

        return engine

    first = build()
    async with first:
        handle = await first.start("job")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)  # after the first poll
    second = build()
    async with second:
        info = await second.wait_for(handle.execution_id)
    assert info.result == {"polls": 3}
    assert effects.lines() == ["poll 1", "poll 2", "poll 3"]


async def test_wait_for_condition_gives_up_after_max_attempts(engine: Engine) -> None:
    from durable_engine import WaitForConditionError

    @engine.durable_function
    async def never(ctx: DurableContext, _: None) -> str:
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: True, max_attempts=3, initial_delay=0.01
            )
        )
        try:
            await ctx.wait_for_condition(
                lambda state, c: state, config=WaitForConditionConfig(wait_strategy=strategy)
            )
        except WaitForConditionError as exc:
            return exc.message
        return "met"

    async with engine:
        assert await engine.run(never) == "condition not met after 3 attempts"


async def test_callbacks_inside_a_child_context(engine: Engine) -> None:
    async def block(child: DurableContext) -> Any:
        return await child.wait_for_callback(lambda cid, s: None, name="inner")

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        return await ctx.run_in_child_context(block, name="outer")

    async with engine:
        handle = await engine.start(flow)
        callback_id = await callback_id_of(engine, handle)
        await engine.send_callback_success(callback_id, "inside")
        assert await handle.result() == "inside"


def _row(db: str | Path, sql: str, *args: object) -> Any:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()
    finally:
        conn.close()


async def test_a_heartbeat_moves_the_suspended_execution_wake_up(engine: Engine) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        cb = await ctx.create_callback(name="job", config=CallbackConfig(heartbeat_timeout=30))
        return await cb.result()

    async with engine:
        handle = await engine.start(flow)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        callback_id = await callback_id_of(engine, handle)
        wake_sql = "SELECT wake_at FROM executions WHERE execution_id = ?"
        op_sql = "SELECT wake_at FROM operations WHERE execution_id = ? AND type = 'CALLBACK'"
        [(first,)] = await db_rows(engine, wake_sql, handle.execution_id)
        assert [(first,)] == await db_rows(engine, op_sql, handle.execution_id)
        await asyncio.sleep(0.05)
        await engine.send_callback_heartbeat(callback_id)
        [(moved,)] = await db_rows(engine, wake_sql, handle.execution_id)
        assert moved > first  # type: ignore[operator]  # now due at the new deadline
        assert [(moved,)] == await db_rows(engine, op_sql, handle.execution_id)
        await engine.send_callback_success(callback_id, "done")
        assert await handle.result() == "done"


@dataclass(frozen=True)
class Verdict:
    approved: bool
    by: str


async def test_the_sender_writes_with_the_serdes_of_the_callback_function(db_path: Path) -> None:
    registry = serdes.TypeRegistry()
    registry.register(Verdict)
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function(name="review", serdes=serdes.MsgpackSerDes(registry))
    async def review(ctx: DurableContext, _: None) -> bool:
        verdict = await ctx.wait_for_callback(lambda cid, s: None, name="reviewer")
        assert type(verdict) is Verdict
        return verdict.approved

    async with engine:
        handle = await engine.start("review")
        callback_id = await callback_id_of(engine, handle)
        await engine.send_callback_success(callback_id, Verdict(approved=True, by="ana"))
        assert await handle.result() is True


async def test_wait_for_condition_inside_a_child_context_across_a_restart(
    db_path: Path, effects: Effects
) -> None:
    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        def poll(state: int, check: StepContext) -> int:
            effects.record(f"poll {state + 1} at {check.operation_id}")
            return state + 1

        async def block(child: DurableContext) -> int:
            strategy = create_wait_strategy(
                WaitStrategyConfig(
                    should_continue_polling=lambda n: n < 2,
                    initial_delay=0.1,
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
            return int(
                await child.wait_for_condition(
                    poll, config=WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
                )
            )

        @engine.durable_function(name="nested")
        async def nested(ctx: DurableContext, _: None) -> int:
            return await ctx.run_in_child_context(block, name="outer") * 10

        return engine

    first = build()
    async with first:
        handle = await first.start("nested")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    second = build()
    async with second:
        assert (await second.wait_for(handle.execution_id)).result == 20
    assert effects.lines() == ["poll 1 at 1/1", "poll 2 at 1/1"]


async def test_an_answer_sent_by_the_submitter_itself_is_seen(engine: Engine) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        async def submit(callback_id: str, step: StepContext) -> None:
            await engine.send_callback_success(callback_id, "answered at once")

        return await ctx.wait_for_callback(submit, name="instant")

    async with engine:
        assert await engine.run(flow) == "answered at once"
