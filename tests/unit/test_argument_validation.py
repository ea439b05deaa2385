"""Bad arguments are refused where they are given, with the argument named.

A config with a wrong field raises when it is made; a wrong argument to an operation
raises when the operation is called; nothing is stored and nothing is retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    CallbackConfig,
    CompletionConfig,
    DurableContext,
    Engine,
    ExecutionHandle,
    InvokeConfig,
    ItemBatcher,
    JitterStrategy,
    MapConfig,
    OperationStatus,
    ParallelBranch,
    ParallelConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepError,
    StepSemantics,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)
from durable_engine._retry import create_linear_retry_strategy


def _keep_polling(state: Any) -> bool:
    return True


async def _branch(ctx: Any) -> None:
    return None


def _strategy(state: Any, attempt: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def bad(value: object) -> Any:
    """`value`, hidden from the type checker: these tests pass what the types forbid."""
    return value


def _named(argument: str) -> str:
    """A pattern for an error message that names `argument` as a word."""
    return rf"\b{re.escape(argument)}\b"


# (how the mistake is made, the error it must raise, the argument the message names)
CONFIG_MISTAKES: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: StepConfig(retry_strategy=bad(5)), TypeError, "retry_strategy"),
    (lambda: StepConfig(step_semantics=bad("AT_MOST_ONCE")), TypeError, "step_semantics"),
    (lambda: StepConfig(serdes=bad(42)), TypeError, "serdes"),
    (lambda: RetryStrategyConfig(max_attempts=bad("3")), TypeError, "max_attempts"),
    (lambda: RetryStrategyConfig(max_attempts=bad(2.5)), TypeError, "max_attempts"),
    (lambda: RetryStrategyConfig(max_attempts=True), TypeError, "max_attempts"),
    (lambda: RetryStrategyConfig(backoff_rate=bad("2")), TypeError, "backoff_rate"),
    (lambda: RetryStrategyConfig(backoff_rate=float("nan")), ValueError, "backoff_rate"),
    (lambda: RetryStrategyConfig(jitter_strategy=bad("FULL")), TypeError, "jitter_strategy"),
    (lambda: RetryStrategyConfig(retryable_errors="throttl"), TypeError, "retryable_errors"),
    (lambda: RetryStrategyConfig(retryable_errors=bad([42])), TypeError, "retryable_errors"),
    (lambda: RetryStrategyConfig(retryable_errors=["("]), ValueError, "retryable_errors"),
    (
        lambda: RetryStrategyConfig(retryable_error_types=bad(TimeoutError)),
        TypeError,
        "retryable_error_types",
    ),
    (
        lambda: RetryStrategyConfig(retryable_error_types=bad(["TimeoutError"])),
        TypeError,
        "retryable_error_types",
    ),
    (lambda: create_linear_retry_strategy(max_attempts=bad("3")), TypeError, "max_attempts"),
    (
        lambda: create_linear_retry_strategy(jitter_strategy=bad(None)),
        TypeError,
        "jitter_strategy",
    ),
    (lambda: CompletionConfig(min_successful=bad("1")), TypeError, "min_successful"),
    (lambda: CompletionConfig(min_successful=bad(1.5)), TypeError, "min_successful"),
    (lambda: CompletionConfig(min_successful=0), ValueError, "min_successful"),
    (
        lambda: CompletionConfig(tolerated_failure_count=False),
        TypeError,
        "tolerated_failure_count",
    ),
    (
        lambda: CompletionConfig(tolerated_failure_percentage=bad("5")),
        TypeError,
        "tolerated_failure_percentage",
    ),
    (lambda: ParallelConfig(max_concurrency=bad("2")), TypeError, "max_concurrency"),
    (
        lambda: ParallelConfig(completion_config=bad({"min_successful": 1})),
        TypeError,
        "completion_config",
    ),
    (lambda: MapConfig(max_concurrency=bad("2")), TypeError, "max_concurrency"),
    (lambda: MapConfig(max_concurrency=True), TypeError, "max_concurrency"),
    (lambda: MapConfig(completion_config=bad(None)), TypeError, "completion_config"),
    (lambda: MapConfig(item_batcher=bad(100)), TypeError, "item_batcher"),
    (lambda: MapConfig(item_namer=bad("order")), TypeError, "item_namer"),
    (lambda: ItemBatcher(max_items_per_batch=bad("10")), TypeError, "max_items_per_batch"),
    (
        lambda: ItemBatcher(max_item_bytes_per_batch=bad(64.5)),
        TypeError,
        "max_item_bytes_per_batch",
    ),
    (lambda: ParallelBranch(bad(42)), TypeError, "func"),
    (lambda: ParallelBranch(_branch, bad(7)), TypeError, "name"),
    (lambda: CallbackConfig(timeout=bad("1h")), TypeError, "timeout"),
    (lambda: CallbackConfig(timeout=-1), ValueError, "timeout"),
    (lambda: WaitForCallbackConfig(timeout=bad("abc")), TypeError, "timeout"),
    (lambda: WaitForCallbackConfig(timeout=-5), ValueError, "timeout"),
    (lambda: WaitForCallbackConfig(heartbeat_timeout=-5), ValueError, "heartbeat_timeout"),
    (lambda: WaitForCallbackConfig(retry_strategy=bad(5)), TypeError, "retry_strategy"),
    (lambda: WaitForCallbackConfig(serdes=bad("json")), TypeError, "serdes"),
    (lambda: CallbackConfig(heartbeat_timeout=bad([60])), TypeError, "heartbeat_timeout"),
    (lambda: CallbackConfig(serdes=bad("json")), TypeError, "serdes"),
    (
        lambda: WaitForConditionConfig(wait_strategy=bad(None)),
        TypeError,
        "wait_strategy",
    ),
    (
        lambda: WaitForConditionConfig(wait_strategy=_strategy, serdes=bad(42)),
        TypeError,
        "serdes",
    ),
    (
        lambda: WaitStrategyConfig(should_continue_polling=bad(True)),
        TypeError,
        "should_continue_polling",
    ),
    (
        lambda: WaitStrategyConfig(should_continue_polling=_keep_polling, max_attempts=bad("60")),
        TypeError,
        "max_attempts",
    ),
    (
        lambda: WaitStrategyConfig(should_continue_polling=_keep_polling, max_attempts=0),
        ValueError,
        "max_attempts",
    ),
    (
        lambda: WaitStrategyConfig(should_continue_polling=_keep_polling, initial_delay=bad("5")),
        TypeError,
        "initial_delay",
    ),
    (
        lambda: WaitStrategyConfig(should_continue_polling=_keep_polling, backoff_rate=-1),
        ValueError,
        "backoff_rate",
    ),
    (  # over the default max_delay of 5 minutes: it would be cut short
        lambda: WaitStrategyConfig(
            should_continue_polling=_keep_polling, initial_delay=timedelta(minutes=30)
        ),
        ValueError,
        "initial_delay",
    ),
    (
        lambda: RetryStrategyConfig(initial_delay=timedelta(hours=1), max_delay=10),
        ValueError,
        "max_delay",
    ),
    (
        lambda: create_linear_retry_strategy(initial_delay=600, max_delay=60),
        ValueError,
        "initial_delay",
    ),
    (
        lambda: WaitStrategyConfig(
            should_continue_polling=_keep_polling, jitter_strategy=bad("FULL")
        ),
        TypeError,
        "jitter_strategy",
    ),
    (lambda: InvokeConfig(timeout=bad("1h")), TypeError, "timeout"),
    (lambda: InvokeConfig(timeout=float("inf")), ValueError, "timeout"),
    (lambda: RetryDecision(True, bad(5)), TypeError, "delay"),
    (lambda: WaitForConditionDecision(True, bad(5)), TypeError, "delay"),
    # Longer than 1000 years: an instant past what a date can show.
    (lambda: CallbackConfig(timeout=timedelta.max), ValueError, "timeout"),
    (lambda: CallbackConfig(heartbeat_timeout=1e300), ValueError, "heartbeat_timeout"),
    (lambda: InvokeConfig(timeout=1e12), ValueError, "timeout"),
    (lambda: RetryDecision.retry(timedelta(days=400_000)), ValueError, "delay"),
    (lambda: WaitForConditionDecision.continue_waiting(1e300), ValueError, "delay"),
    (lambda: create_wait_strategy(bad({"max_attempts": 3})), TypeError, "config"),
]


@pytest.mark.parametrize(
    ("make", "error", "argument"),
    CONFIG_MISTAKES,
    ids=[f"{i}-{argument}" for i, (_, _, argument) in enumerate(CONFIG_MISTAKES)],
)
def test_a_config_mistake_is_refused_when_the_config_is_made(
    make: Callable[[], object], error: type[Exception], argument: str
) -> None:
    with pytest.raises(error, match=_named(argument)):
        make()


def test_good_configs_are_still_accepted() -> None:
    StepConfig(
        retry_strategy=lambda error, attempt: RetryDecision.no_retry(),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    RetryStrategyConfig(
        max_attempts=5,
        initial_delay=2,
        max_delay=timedelta(minutes=1),
        backoff_rate=2,
        jitter_strategy=JitterStrategy.NONE,
        retryable_errors=(r"throttl", re.compile("busy")),
        retryable_error_types=[TimeoutError],
    )
    CompletionConfig(min_successful=1, tolerated_failure_percentage=5)
    MapConfig(
        max_concurrency=10,
        item_batcher=ItemBatcher(max_items_per_batch=100),
        item_namer=lambda item, index: str(index),
    )
    CallbackConfig(timeout=timedelta(days=7), heartbeat_timeout=60)
    WaitStrategyConfig(should_continue_polling=_keep_polling, backoff_rate=0.5)
    InvokeConfig(timeout=3600)


async def _type_error_message(handle: ExecutionHandle[Any]) -> str:
    """The message of the TypeError the execution failed with, as a step's error."""
    with pytest.raises(StepError) as caught:
        await handle.result()
    assert caught.value.error_type == "TypeError"
    return caught.value.message


# -- what a custom strategy returns --------------------------------------------------


@pytest.mark.parametrize("answer", [None, False, True, 5])
async def test_a_retry_strategy_that_answers_no_retry_decision_fails_the_step(
    engine: Engine, answer: object
) -> None:
    def sloppy_strategy(error: BaseException, attempt: int) -> Any:
        return answer

    def flaky(step: StepContext) -> None:
        raise ConnectionError("down")

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> None:
        await ctx.step(flaky, config=StepConfig(retry_strategy=sloppy_strategy))

    async with engine:
        handle = await engine.start(flow)
        message = await _type_error_message(handle)
        assert re.search(_named("retry_strategy"), message), message
        assert "sloppy_strategy" in message and repr(answer) in message
        assert "ConnectionError: down" in message  # the step's own error is kept
        [op] = await engine.get_operations(handle.execution_id)
        assert op.status is OperationStatus.FAILED and op.attempt == 1  # not retried


async def test_a_wait_strategy_that_answers_no_decision_fails_the_condition(
    engine: Engine,
) -> None:
    def sloppy_wait(state: Any, attempt: int) -> Any:
        return state < 3

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> Any:
        return await ctx.wait_for_condition(
            lambda state, check: state + 1,
            config=WaitForConditionConfig(wait_strategy=sloppy_wait, initial_state=0),
            name="count",
        )

    async with engine:
        handle = await engine.start(flow)
        message = await _type_error_message(handle)
        assert re.search(_named("wait_strategy"), message), message
        assert "sloppy_wait" in message and "True" in message
        [op] = await engine.get_operations(handle.execution_id)
        assert op.status is OperationStatus.FAILED


# -- operations called with a wrong argument ----------------------------------------


def _body(step: StepContext) -> str:
    return "ok"


async def _child(ctx: DurableContext) -> str:
    return "ok"


async def _each(ctx: DurableContext, item: Any, index: int, items: Any) -> Any:
    return item


def _submit(callback_id: str, step: StepContext) -> None:
    return None


def _check(state: Any, check: StepContext) -> Any:
    return state


_CONDITION = WaitForConditionConfig(wait_strategy=_strategy)

# (the call, the error it must raise at once, the argument the message names)
CALL_MISTAKES: list[tuple[Callable[[DurableContext], object], type[Exception], str]] = [
    (lambda ctx: ctx.step(bad(42)), TypeError, "fn"),
    (lambda ctx: ctx.step(_body, config=bad({"retry_strategy": None})), TypeError, "config"),
    (lambda ctx: ctx.step(_body, config=bad(RetryPresets.none())), TypeError, "config"),
    (lambda ctx: ctx.step(_body, name=bad(5)), TypeError, "name"),
    (lambda ctx: ctx.wait(1, name=bad(5)), TypeError, "name"),
    (lambda ctx: ctx.wait(timedelta(days=20_000 * 365)), ValueError, "duration"),
    (lambda ctx: ctx.run_in_child_context(bad(42)), TypeError, "fn"),
    (lambda ctx: ctx.run_in_child_context(_child, name=bad(["child"])), TypeError, "name"),
    (lambda ctx: ctx.parallel(bad(42)), TypeError, "branches"),
    (lambda ctx: ctx.parallel([_child, bad(42)]), TypeError, "branches"),
    (lambda ctx: ctx.parallel([_child], name=bad(1)), TypeError, "name"),
    (lambda ctx: ctx.parallel([_child], config=bad(MapConfig())), TypeError, "config"),
    (lambda ctx: ctx.map(bad(5), _each), TypeError, "items"),
    (lambda ctx: ctx.map([1, 2], bad(42)), TypeError, "fn"),
    (lambda ctx: ctx.map([1, 2], _each, name=bad(1)), TypeError, "name"),
    (lambda ctx: ctx.map([1, 2], _each, config=bad(ParallelConfig())), TypeError, "config"),
    (lambda ctx: ctx.create_callback(name=bad(5)), TypeError, "name"),
    (lambda ctx: ctx.create_callback(config=bad({"timeout": 5})), TypeError, "config"),
    (lambda ctx: ctx.wait_for_callback(bad(42)), TypeError, "submitter"),
    (lambda ctx: ctx.wait_for_callback(_submit, name=bad(5)), TypeError, "name"),
    (lambda ctx: ctx.wait_for_callback(_submit, config=bad(CallbackConfig())), TypeError, "config"),
    (
        lambda ctx: ctx.wait_for_callback(_submit, config=WaitForCallbackConfig(timeout=bad("1h"))),
        TypeError,
        "timeout",
    ),
    (
        lambda ctx: ctx.wait_for_callback(_submit, config=WaitForCallbackConfig(timeout=1e300)),
        ValueError,
        "timeout",
    ),
    (
        lambda ctx: ctx.wait_for_callback(
            _submit, config=WaitForCallbackConfig(heartbeat_timeout=-1)
        ),
        ValueError,
        "heartbeat_timeout",
    ),
    (
        lambda ctx: ctx.wait_for_callback(
            _submit, config=WaitForCallbackConfig(retry_strategy=bad(5))
        ),
        TypeError,
        "retry_strategy",
    ),
    (
        lambda ctx: ctx.wait_for_callback(_submit, config=WaitForCallbackConfig(serdes=bad(42))),
        TypeError,
        "serdes",
    ),
    (lambda ctx: ctx.wait_for_condition(bad(42), _CONDITION), TypeError, "check"),
    (lambda ctx: ctx.wait_for_condition(_check, bad(None)), TypeError, "config"),
    (
        lambda ctx: ctx.wait_for_condition(_check, bad({"wait_strategy": _strategy})),
        TypeError,
        "config",
    ),
    (lambda ctx: ctx.wait_for_condition(_check, _CONDITION, name=bad(3)), TypeError, "name"),
    (lambda ctx: ctx.invoke(bad(_child)), TypeError, "function_name"),
    (lambda ctx: ctx.invoke("other", name=bad(3)), TypeError, "name"),
    (lambda ctx: ctx.invoke("other", config=bad({"timeout": 5})), TypeError, "config"),
]


@pytest.mark.parametrize(
    ("call", "error", "argument"),
    CALL_MISTAKES,
    ids=[f"{i}-{argument}" for i, (_, _, argument) in enumerate(CALL_MISTAKES)],
)
async def test_an_operation_refuses_a_wrong_argument_when_it_is_called(
    engine: Engine,
    call: Callable[[DurableContext], object],
    error: type[Exception],
    argument: str,
) -> None:
    refused: list[BaseException] = []

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        try:
            operation = call(ctx)
        except Exception as exc:  # at the call: nothing awaited, nothing run
            refused.append(exc)
        else:
            if hasattr(operation, "close"):
                operation.close()
            return "accepted"
        return str(await ctx.step(_body, name="after"))

    async with engine:
        handle = await engine.start(flow)
        assert await handle.result() == "ok", "the mistake was not refused at the call"
        # The refused call took no operation id and stored nothing.
        ops = await engine.get_operations(handle.execution_id)
        assert [(op.operation_id, op.name) for op in ops] == [("1", "after")]
    [exc] = refused
    assert type(exc) is error
    assert re.search(_named(argument), str(exc)), str(exc)


# -- the engine ---------------------------------------------------------------------

ENGINE_MISTAKES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"payload_limit": "x"}, TypeError, "payload_limit"),
    ({"payload_limit": 1.5}, TypeError, "payload_limit"),
    ({"payload_limit": -5}, ValueError, "payload_limit"),
    ({"payload_limit": 0}, ValueError, "payload_limit"),
    ({"serdes": 42}, TypeError, "serdes"),
    ({"serdes": "msgpack"}, TypeError, "serdes"),
    ({"lease": 0}, ValueError, "lease"),
    ({"lease": timedelta(0)}, ValueError, "lease"),
    ({"max_concurrent_executions": "10"}, TypeError, "max_concurrent_executions"),
    ({"max_concurrent_executions": 0}, ValueError, "max_concurrent_executions"),
    ({"max_step_threads": 0}, ValueError, "max_step_threads"),
    ({"max_step_threads": 2.5}, TypeError, "max_step_threads"),
    ({"poll_interval": 0}, ValueError, "poll_interval"),
    ({"poll_interval": -1.0}, ValueError, "poll_interval"),
    ({"poll_interval": "1s"}, TypeError, "poll_interval"),
]


@pytest.mark.parametrize(
    ("arguments", "error", "argument"),
    ENGINE_MISTAKES,
    ids=[f"{i}-{argument}" for i, (_, _, argument) in enumerate(ENGINE_MISTAKES)],
)
def test_an_engine_refuses_a_wrong_argument_when_it_is_made(
    db_path: Path, arguments: dict[str, Any], error: type[Exception], argument: str
) -> None:
    with pytest.raises(error, match=_named(argument)):
        Engine(db_path, **arguments)


async def test_start_refuses_an_execution_name_that_is_not_a_str(engine: Engine) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> None:
        return None

    async with engine:
        with pytest.raises(TypeError, match=_named("execution_name")):
            await engine.start(flow, execution_name=bad(5))
        with pytest.raises(TypeError, match=_named("execution_name")):
            await engine.run(flow, execution_name=bad(b"order-1"))
        with pytest.raises(ValueError, match=_named("execution_name")):
            await engine.start(flow, execution_name="")  # an id from an empty field, say
        with pytest.raises(ValueError, match=_named("timeout")):
            await engine.start(flow, timeout=timedelta(days=500_000))
        assert await engine.list_executions() == []


async def test_list_executions_refuses_a_wrong_filter(engine: Engine) -> None:
    engine.durable_function(_listed)
    async with engine:
        await engine.start(_listed)
        for limit in (0, -1):
            with pytest.raises(ValueError, match=_named("limit")):
                await engine.list_executions(limit=limit)
        with pytest.raises(TypeError, match=_named("limit")):
            await engine.list_executions(limit=bad("2"))
        with pytest.raises(TypeError, match=_named("function")):
            await engine.list_executions(function=bad(_listed))
        with pytest.raises(TypeError, match=_named("name")):
            await engine.list_executions(name=bad(3))
        assert len(await engine.list_executions(limit=1)) == 1


async def _listed(ctx: DurableContext, _: None) -> None:
    return None


def test_registering_refuses_a_wrong_name_or_serdes(db_path: Path) -> None:
    engine = Engine(db_path)

    async def flow(ctx: DurableContext, _: None) -> None:
        return None

    with pytest.raises(TypeError, match=_named("serdes")):
        engine.durable_function(serdes=bad(42))(flow)
    with pytest.raises(TypeError, match=_named("name")):
        engine.durable_function(name=bad(7))(flow)
    assert engine.function_names() == []
