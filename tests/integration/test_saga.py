"""ctx.saga: compensations run durably, in reverse, once each, across crashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from durable_engine import (
    CompensationError,
    DurableContext,
    ExecutionStatus,
    OperationType,
    RetryPresets,
    Saga,
    StepConfig,
    StepContext,
    StepError,
)
from durable_engine.testing import DurableTestRunner
from tests.conftest import Effects
from tests.crash.harness import finish, integrity, kill, lines, operation_rows, spawn, wait_until

ONCE = StepConfig(retry_strategy=RetryPresets.none())
APP = "tests.crash.blocks_app"


def effect(effects: Effects, line: str) -> Callable[[StepContext], str]:
    def body(s: StepContext) -> str:
        effects.record(line)
        return line

    return body


def failing(effects: Effects, line: str) -> Callable[[StepContext], None]:
    def body(s: StepContext) -> None:
        effects.record(line)
        raise RuntimeError(f"{line} failed")

    return body


async def test_a_failing_block_is_undone_in_reverse_then_its_error_goes_on(
    effects: Effects,
) -> None:
    async def checkout(ctx: DurableContext, _: None) -> None:
        async with ctx.saga(name="checkout") as saga:
            assert isinstance(saga, Saga)
            await ctx.step(effect(effects, "reserve"), name="reserve")
            saga.add_compensation(effect(effects, "release"), name="release")
            await ctx.step(effect(effects, "charge"), name="charge")
            saga.add_compensation(effect(effects, "refund"), name="refund")
            await ctx.step(failing(effects, "ship"), name="ship", config=ONCE)
            await ctx.step(effect(effects, "never"), name="never")

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        # The block's own error, as if there were no saga.
        assert result.status is ExecutionStatus.FAILED
        assert isinstance(result.error, StepError)
        assert (result.error.error_type, result.error.message) == ("RuntimeError", "ship failed")
        assert effects.lines() == ["reserve", "charge", "ship", "refund", "release"]
        undo = result.get_context("compensate-checkout")
        assert [
            (op.operation_id, op.type, op.name, op.status.value, op.attempt) for op in undo.walk()
        ] == [
            ("4", OperationType.CONTEXT, "compensate-checkout", "SUCCEEDED", 1),
            ("4/1", OperationType.STEP, "refund", "SUCCEEDED", 1),
            ("4/2", OperationType.STEP, "release", "SUCCEEDED", 1),
        ]
        # A replay reads the compensations from the history: none runs again.
        with pytest.raises(StepError, match="ship failed"):
            await runner.replay(result.execution_id)
        assert len(effects.lines()) == 5


async def test_a_block_that_succeeds_compensates_nothing(effects: Effects) -> None:
    async def checkout(ctx: DurableContext, _: None) -> str:
        async with ctx.saga(name="checkout") as saga:
            await ctx.step(effect(effects, "charge"), name="charge")
            saga.add_compensation(effect(effects, "refund"), name="refund")
        return "done"

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert result.result == "done"
        assert effects.lines() == ["charge"]
        assert [op.name for op in result.all_operations()] == ["charge"]


async def test_an_error_before_any_registration_records_no_compensation(
    effects: Effects,
) -> None:
    async def checkout(ctx: DurableContext, _: None) -> str:
        try:
            async with ctx.saga(name="checkout"):
                await ctx.step(failing(effects, "charge"), name="charge", config=ONCE)
        except StepError:
            return "failed"
        return "done"

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert result.result == "failed"
        assert [op.name for op in result.all_operations()] == ["charge"]


async def test_compensate_runs_them_explicitly_once(effects: Effects) -> None:
    async def checkout(ctx: DurableContext, _: None) -> dict[str, object]:
        async with ctx.saga(name="checkout") as saga:
            await ctx.step(effect(effects, "reserve"), name="reserve")
            saga.add_compensation(effect(effects, "release"), name="release")
            await ctx.step(effect(effects, "hold"), name="hold")
            saga.add_compensation(effect(effects, "unhold"), name="unhold")
            pending = saga.compensations
            declined = await ctx.step(lambda s: True, name="declined")
            if declined:  # no error: the workflow decides to undo
                await saga.compensate()
                await saga.compensate()  # nothing left: records nothing
        return {"pending": pending, "left": saga.compensations}

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert result.result == {"pending": ["release", "unhold"], "left": []}
        assert effects.lines() == ["reserve", "hold", "unhold", "release"]
        assert [op.name for op in result.operations] == [
            "reserve",
            "hold",
            "declined",
            "compensate-checkout",
        ]


async def test_the_default_strategy_retries_a_compensation_without_an_attempt_limit(
    effects: Effects,
) -> None:
    def refund(s: StepContext) -> int:
        effects.record(f"refund {s.attempt}")
        if s.attempt < 9:  # more attempts than any preset allows
            raise ConnectionError("the bank is down")
        return s.attempt

    async def checkout(ctx: DurableContext, _: None) -> str:
        try:
            async with ctx.saga(name="checkout") as saga:
                await ctx.step(effect(effects, "charge"), name="charge")
                saga.add_compensation(refund)
                raise ValueError("out of stock")
        except ValueError as exc:
            return str(exc)
        return "done"

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert result.result == "out of stock"
        assert effects.lines()[1:] == [f"refund {n}" for n in range(1, 10)]
        step = result.get_context("compensate-checkout").get_step("refund")
        assert (step.attempt, step.result) == (9, 9)


async def test_a_compensation_that_gives_up_still_lets_the_others_run(
    effects: Effects,
) -> None:
    async def checkout(ctx: DurableContext, _: None) -> None:
        async with ctx.saga(name="trip") as saga:
            saga.add_compensation(effect(effects, "cancel hotel"), name="cancel-hotel")
            saga.add_compensation(
                failing(effects, "cancel flight"),
                name="cancel-flight",
                retry_strategy=RetryPresets.fixed(1, max_attempts=2),
            )
            saga.add_compensation(effect(effects, "cancel car"), name="cancel-car")
            raise LookupError("no seats")

    async with DurableTestRunner(checkout) as runner:
        result = await runner.run(checkout)
        assert effects.lines() == ["cancel car", "cancel flight", "cancel flight", "cancel hotel"]
        error = result.error
        assert isinstance(error, CompensationError)
        assert error.data == {"failed": ["cancel-flight"]}
        assert error.message == (
            "saga trip: 1 compensation(s) did not finish: cancel-flight (RuntimeError: "
            "cancel flight failed), after the block raised LookupError: no seats"
        )
        with pytest.raises(CompensationError):
            await runner.replay(result.execution_id)
        assert len(effects.lines()) == 4


async def test_bad_arguments_are_refused_with_type_errors() -> None:
    async def workflow(ctx: DurableContext, what: str) -> str:
        saga = ctx.saga(name="s")
        calls: dict[str, Callable[[], object]] = {
            "name": lambda: ctx.saga(name=3),  # type: ignore[arg-type]
            "fn": lambda: saga.add_compensation("refund"),  # type: ignore[arg-type]
            "strategy": lambda: saga.add_compensation(
                lambda s: None,
                retry_strategy=5,  # type: ignore[arg-type]
            ),
        }
        try:
            calls[what]()
        except TypeError as exc:
            return str(exc)
        return "accepted"

    async with DurableTestRunner(workflow) as runner:
        assert (
            await runner.run(workflow, "name")
        ).result == "name must be a str or None, not int 3"
        assert (await runner.run(workflow, "fn")).result == "fn must be callable, not str 'refund'"
        assert (await runner.run(workflow, "strategy")).result.startswith(
            "retry_strategy must be None or a callable"
        )


def test_killed_mid_compensation_resumes_with_the_next_one_not_done(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "saga_slow", "trip", module=APP)
    wait_until(lambda: "cancel flight start 1" in lines(effects), "the second undo", first)
    kill(first)
    assert lines(effects)[1:] == [
        "book hotel",
        "book flight",
        "book car",
        "pay",
        "cancel car start 1",
        "cancel car done",
        "cancel flight start 1",
    ]
    second = spawn(db, effects, "resume", "trip", module=APP)
    assert finish(second) == {"result": {"error": "RuntimeError", "message": "card declined"}}
    effects_after = [line for line in lines(effects) if not line.startswith("process")]
    # The car's compensation had succeeded: it never runs again. The flight's body was
    # cut off before its outcome was recorded, so it runs again (at least once).
    assert effects_after[7:] == [
        "cancel flight start 1",
        "cancel flight done",
        "cancel hotel start 1",
        "cancel hotel done",
    ]
    assert effects_after.count("cancel car done") == 1
    assert effects_after.count("pay") == 1
    assert integrity(db) == "ok"


def test_killed_in_a_compensations_retry_delay_resumes_its_next_attempt(
    tmp_path: Path,
) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "saga_flaky", "trip", module=APP)
    wait_until(
        lambda: any(s == "PENDING" for _, _, s, _ in operation_rows(db)),
        "the flight's compensation to wait for its retry",
        first,
    )
    kill(first)
    second = spawn(db, effects, "resume", "trip", module=APP)
    assert finish(second) == {"result": {"error": "RuntimeError", "message": "card declined"}}
    effects_after = [line for line in lines(effects) if not line.startswith("process")]
    assert effects_after[4:] == [
        "cancel car start 1",
        "cancel car done",
        "cancel flight start 1",
        "cancel flight start 2",
        "cancel flight done",
        "cancel hotel start 1",
        "cancel hotel done",
    ]
    rows = {op: (s, attempt) for op, _, s, attempt in operation_rows(db)}
    assert rows["5/2"] == ("SUCCEEDED", 2)
