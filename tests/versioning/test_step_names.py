"""A step's default name is its function's qualified name: swapping two classes'
`charge` is caught by replay, and histories named by an older version still replay."""

from __future__ import annotations

from typing import Any

import pytest

from durable_engine import DurableContext, NonDeterministicError, StepContext, durable_step
from durable_engine.testing import DurableTestRunner


class Payments:
    @staticmethod
    def charge(step: StepContext) -> str:
        return "charged"


class Refunds:
    @staticmethod
    def charge(step: StepContext) -> str:
        return "refunded"


@durable_step
def ship(step: StepContext, order: str) -> str:
    return f"shipped {order}"


async def pays(ctx: DurableContext, _: Any) -> list[str]:
    return [await ctx.step(Payments.charge), await ctx.step(ship("o-1"))]


async def refunds(ctx: DurableContext, _: Any) -> list[str]:
    return [await ctx.step(Refunds.charge), await ctx.step(ship("o-1"))]


async def test_default_names_are_qualified_and_a_swap_is_caught() -> None:
    async with DurableTestRunner([pays]) as runner:
        result = await runner.run(pays)
        assert [op.name for op in result.all_operations()] == ["Payments.charge", "ship"]
        with pytest.raises(NonDeterministicError, match=r"'Payments\.charge'.*'Refunds\.charge'"):
            await runner.replay(result.execution_id, fn=refunds)


async def test_a_nested_function_is_named_from_its_enclosing_function_on() -> None:
    async def flow(ctx: DurableContext, _: Any) -> str:
        def reserve(step: StepContext) -> str:
            return "reserved"

        return str(await ctx.step(reserve))

    async with DurableTestRunner([flow]) as runner:
        result = await runner.run(flow)
    assert [op.name for op in result.all_operations()] == ["reserve"]


async def test_a_history_named_by_an_older_version_still_replays() -> None:
    """Versions before qualified names recorded `charge` for `Payments.charge`."""

    async def older(ctx: DurableContext, _: Any) -> list[str]:
        return [await ctx.step(Payments.charge, name="charge"), await ctx.step(ship("o-1"))]

    async with DurableTestRunner([older]) as runner:
        result = await runner.run(older)
        assert await runner.replay(result.execution_id, fn=pays) == ["charged", "shipped o-1"]
