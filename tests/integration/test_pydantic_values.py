"""A workflow sees the pydantic model a step returned, on the first run and on replay:
the subclass it was, with its validators not run again."""

from __future__ import annotations

import pydantic

import serdes
from durable_engine import DurableContext, Engine


@serdes.register
class Part(pydantic.BaseModel):
    a: int


@serdes.register
class SubPart(Part):
    b: int


@serdes.register
class Box(pydantic.BaseModel):
    part: Part
    label: str

    @pydantic.field_validator("label")
    @classmethod
    def exclaim(cls, value: str) -> str:
        return value + "!"


async def test_the_workflow_sees_the_model_the_step_returned_on_every_run(
    engine: Engine,
) -> None:
    seen: list[tuple[str, str]] = []

    @engine.durable_function
    async def pack(ctx: DurableContext, _: None) -> Box:
        box = await ctx.step(lambda _: Box(part=SubPart(a=1, b=2), label="hi"), name="make")
        seen.append((type(box.part).__name__, box.label))
        await ctx.wait(0.5, name="pause")  # leaves memory: the resume replays `make`
        return box

    async with engine:
        result = await engine.run(pack, None)
    assert seen == [("SubPart", "hi!"), ("SubPart", "hi!")]
    assert result == Box(part=SubPart(a=1, b=2), label="hi")
    assert type(result.part) is SubPart and result.label == "hi!"
