"""The example test module of the docs' "Testing workflows" page, verbatim."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_engine import (
    CallbackTimeoutError,
    DurableContext,
    Engine,
    JitterStrategy,
    NonDeterministicError,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    WaitForCallbackConfig,
    create_retry_strategy,
)
from durable_engine.testing import DurableRunnerFactory, DurableTestRunner

engine = Engine("subscriptions.db")  # the tests below never open this file

HOURLY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=6,
            initial_delay=timedelta(hours=1),
            max_delay=timedelta(hours=1),
            backoff_rate=1.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


def charge_card(step: StepContext, user: str) -> str:
    if step.attempt < 3:  # the payment gateway is down for two hours
        raise ConnectionError("gateway timeout")
    return f"charged {user}"


def email_link(callback_id: str, step: StepContext) -> None:
    print(f"confirm: https://example.com/confirm/{callback_id}")


@engine.durable_function(name="renewal")
async def renewal(ctx: DurableContext, user: str) -> dict[str, object]:
    await ctx.wait(timedelta(days=30), name="trial")
    receipt = await ctx.step(lambda s: charge_card(s, user), name="charge", config=HOURLY)
    try:
        confirmed = await ctx.wait_for_callback(
            email_link, name="confirm", config=WaitForCallbackConfig(timeout=timedelta(days=7))
        )
    except CallbackTimeoutError:
        confirmed = False
    return {"receipt": receipt, "confirmed": confirmed}


@pytest.mark.asyncio
async def test_renewal_confirmed_by_the_user() -> None:
    async with DurableTestRunner(engine) as runner:
        handle = await runner.start("renewal", "ana")
        link = await runner.wait_for_callback(handle, "confirm")  # 30 days + 2 hours later
        await runner.send_callback_success(link.callback_id, True)
        result = await runner.result(handle)

    assert result.result == {"receipt": "charged ana", "confirmed": True}
    assert result.get_wait("trial").duration == timedelta(days=30).total_seconds()
    assert result.get_step("charge").attempt == 3
    assert runner.clock.elapsed == timedelta(days=30, hours=2)


@pytest.mark.asyncio
async def test_renewal_unconfirmed_after_a_week() -> None:
    async with DurableTestRunner(engine) as runner:
        result = await runner.run("renewal", "bo")  # the 7-day timeout is skipped too
        assert result.result == {"receipt": "charged bo", "confirmed": False}
        assert result.get_callback("confirm").status == "TIMED_OUT"

        async def renewal_v2(ctx: DurableContext, user: str) -> None:
            await ctx.step(lambda s: charge_card(s, user), name="charge")  # no trial now

        with pytest.raises(NonDeterministicError):  # v2 cannot resume v1's executions
            await runner.replay(result.execution_id, fn=renewal_v2)


@pytest.mark.asyncio
async def test_with_the_fixture(durable_runner: DurableRunnerFactory) -> None:
    async with durable_runner(engine, skip_time=False) as runner:
        handle = await runner.start("renewal", "cy")
        await runner.advance(timedelta(days=29))
        assert (await runner.snapshot(handle)).status == "SUSPENDED"  # still in its trial


def test_the_docs_show_this_file_verbatim() -> None:
    """The docs' example is this module, from its imports to its last test."""
    from pathlib import Path

    here = Path(__file__)
    page = (here.parents[2] / "docs" / "testing.md").read_text()
    section = page.split("## An example test module", 1)[1]
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    body = here.read_text().split("from __future__ import annotations\n", 1)[1]
    body = body.split("\n\ndef test_the_docs_show_this_file_verbatim", 1)[0]
    assert shown.strip() == body.strip()
