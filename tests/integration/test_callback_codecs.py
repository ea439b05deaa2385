"""A callback's answer reaches the workflow whatever codecs the workflow uses, sent
from a process that registers nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import serdes
from durable_engine import (
    CallbackConfig,
    DurableContext,
    Engine,
    ExecutionStatus,
    OperationInfo,
    OperationType,
    WaitForCallbackConfig,
)
from tests.conftest import wait_for_status


class Reversed:
    """A codec of the user's own: JSON, written backwards."""

    def serialize(self, value: object, ctx: serdes.SerDesContext | None = None) -> bytes:
        return json.dumps(value).encode()[::-1]

    def deserialize(self, data: bytes, ctx: serdes.SerDesContext | None = None) -> object:
        return json.loads(data[::-1])


CODECS: dict[str, dict[str, Any]] = {
    "callback codec of the user's own": {"callback": Reversed()},
    "callback codec with a private registry": {
        "callback": serdes.MsgpackSerDes(serdes.TypeRegistry())
    },
    "function codec JSON": {"function": serdes.JsonSerDes()},
    "function codec of the user's own": {"function": Reversed()},
}


@pytest.mark.parametrize("codecs", CODECS.values(), ids=CODECS.keys())
@pytest.mark.parametrize("how", ["create_callback", "wait_for_callback"])
async def test_an_answer_from_a_process_that_registers_nothing_reaches_the_workflow(
    db_path: Path, codecs: dict[str, Any], how: str
) -> None:
    engine = Engine(db_path)
    callback_codec = codecs.get("callback")

    @engine.durable_function(name="ask", serdes=codecs.get("function"))
    async def ask(ctx: DurableContext, _: None) -> Any:
        if how == "create_callback":
            cb = await ctx.create_callback(
                name="answer", config=CallbackConfig(serdes=callback_codec)
            )
            return await cb.result()
        return await ctx.wait_for_callback(
            lambda callback_id, step: None,
            name="answer",
            config=WaitForCallbackConfig(serdes=callback_codec),
        )

    sender = Engine(db_path)  # another part of the service: it registers nothing
    async with engine, sender:
        handle = await engine.start(ask)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        ops = await engine.get_operations(handle.execution_id)
        [callback_id] = [o.ref for o in _walk(ops) if o.type is OperationType.CALLBACK]
        assert callback_id is not None
        await sender.send_callback_success(callback_id, {"approved": True, "by": ["ana"]})
        assert await handle.result() == {"approved": True, "by": ["ana"]}


def _walk(ops: list[OperationInfo]) -> list[OperationInfo]:
    return [node for op in ops for node in (op, *_walk(op.children))]
