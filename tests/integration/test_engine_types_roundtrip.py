"""The engine's own public types can be returned from a workflow and stored by serdes.

They are registered in serdes' default registry (the one `MsgpackSerDes()` and
`JsonSerDes()` use unless given another) under tags naming the public module,
`durable_engine.<Name>`. A `BatchItem`'s error is stored as the engine stores every
error, and comes back as the exception a replay of the batch would raise.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import serdes
from durable_engine import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    ChildContextError,
    CompletionConfig,
    CompletionReason,
    DurableContext,
    Engine,
    ExecutionFailedError,
    ExecutionStatus,
    MapConfig,
    OperationStatus,
    OperationType,
    SerDesError,
)

ENUMS: list[type[enum.Enum]] = [
    ExecutionStatus,
    OperationStatus,
    OperationType,
    CompletionReason,
    BatchItemStatus,
]
CODECS: dict[str, serdes.SerDes] = {
    "msgpack": serdes.MsgpackSerDes(),
    "json": serdes.JsonSerDes(),
    "zstd": serdes.ZstdSerDes(threshold=0),
}
MEMBERS = [member for cls in ENUMS for member in cls]


@pytest.fixture(params=list(CODECS))
def codec(request: pytest.FixtureRequest) -> serdes.SerDes:
    return CODECS[request.param]


def back(codec: serdes.SerDes, value: Any) -> Any:
    data = codec.serialize(value)
    restored = codec.deserialize(data)
    assert serdes.loads(data) == restored
    return restored


@pytest.mark.parametrize("member", MEMBERS, ids=[f"{type(m).__name__}.{m.name}" for m in MEMBERS])
def test_every_member_of_the_engine_enums_comes_back_as_itself(
    codec: serdes.SerDes, member: enum.Enum
) -> None:
    restored = back(codec, {"m": member, "in": [member], member: 1})
    assert restored == {"m": member, "in": [member], member: 1}
    assert restored["m"] is member and restored["in"][0] is member
    assert [type(k) for k in restored] == [str, str, type(member)]


def test_the_tags_name_the_public_module() -> None:
    for cls in [*ENUMS, BatchItem, BatchResult]:
        codec = serdes.DEFAULT_REGISTRY.for_type(cls)
        assert codec is not None and codec.tag == f"durable_engine.{cls.__name__}"
    data = serdes.JsonSerDes().serialize(CompletionReason.ALL_COMPLETED)
    tagged = {"$type": "object", "class": "durable_engine.CompletionReason", "v": "ALL_COMPLETED"}
    assert json.loads(data[4:]) == tagged


def test_a_value_stored_under_the_module_path_tag_still_reads() -> None:
    """`serdes.register(CompletionReason)` was the way before these types were known: its
    tag is the module path. Registering so again keeps what was stored readable."""
    registry = serdes.TypeRegistry()
    registry.register(CompletionReason)
    old = serdes.MsgpackSerDes(registry).serialize(CompletionReason.ALL_COMPLETED)
    assert b"durable_engine._batch_config.CompletionReason" in old
    with pytest.raises(serdes.SerDesError, match="not registered"):
        serdes.loads(old)  # the default registry knows the public tag only
    serdes.register(CompletionReason)  # what a program written before did
    try:
        assert serdes.loads(old) is CompletionReason.ALL_COMPLETED
        assert serdes.loads(serdes.dumps(CompletionReason.ALL_COMPLETED)) is (
            CompletionReason.ALL_COMPLETED
        )
    finally:  # leave the default registry as the engine registers it
        serdes.register(CompletionReason, name="durable_engine.CompletionReason")


def test_a_batch_result_without_errors_comes_back_equal(codec: serdes.SerDes) -> None:
    result = BatchResult(
        [
            BatchItem(0, "a", BatchItemStatus.SUCCEEDED, {"n": 1}),
            BatchItem(1, None, BatchItemStatus.CANCELLED),
            BatchItem(2, "c", BatchItemStatus.NOT_STARTED),
        ],
        CompletionReason.MIN_SUCCESSFUL_REACHED,
    )
    restored = back(codec, result)
    assert restored == result
    assert type(restored) is BatchResult
    assert all(type(i) is BatchItem for i in restored.all)
    assert restored.all[0].status is BatchItemStatus.SUCCEEDED
    assert restored.completion_reason is CompletionReason.MIN_SUCCESSFUL_REACHED
    assert restored.get_results() == [{"n": 1}]


def test_a_failed_items_error_comes_back_as_the_engine_rebuilds_errors(
    codec: serdes.SerDes,
) -> None:
    failure = ChildContextError("no stock", error_type="ValueError", data={"sku": "A1"})
    result = BatchResult(
        [
            BatchItem(0, "ok", BatchItemStatus.SUCCEEDED, 5),
            BatchItem(1, "bad", BatchItemStatus.FAILED, None, failure),
            BatchItem(2, "own", BatchItemStatus.FAILED, None, KeyError("k")),
        ],
        CompletionReason.ALL_COMPLETED,
    )
    data = codec.serialize(result)
    restored: Any = codec.deserialize(data)
    assert type(serdes.loads(data)) is BatchResult
    assert [(i.index, i.name, i.status, i.result) for i in restored.all] == [
        (i.index, i.name, i.status, i.result) for i in result.all
    ]
    ok, bad, own = (i.error for i in restored.all)
    assert ok is None
    assert type(bad) is ChildContextError
    assert (bad.message, bad.error_type, bad.data) == ("no stock", "ValueError", {"sku": "A1"})
    # Not an error of the engine's: kept as its type's name and message, as a stored
    # execution error is.
    assert type(own) is ExecutionFailedError
    assert (own.error_type, own.message) == ("KeyError", "'k'")
    with pytest.raises(ChildContextError, match="no stock"):
        restored.throw_if_error()


def test_what_cannot_be_stored_in_a_batch_result_is_named(codec: serdes.SerDes) -> None:
    result = BatchResult(
        [BatchItem(0, "x", BatchItemStatus.SUCCEEDED, object())], CompletionReason.ALL_COMPLETED
    )
    with pytest.raises(serdes.SerDesError, match=r"builtins\.object at \$\.all\[0\]\.result"):
        codec.serialize(result)


@pytest.mark.parametrize("codec_name", ["default", "json"])
async def test_a_workflow_returns_the_engine_types(tmp_path: Path, codec_name: str) -> None:
    codec = None if codec_name == "default" else serdes.JsonSerDes()
    engine = Engine(tmp_path / "x.db", serdes=codec, in_memory_wait=0)

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        if n < 0:
            raise ValueError(f"negative: {n}")
        return await ctx.step(lambda s: n * 2, name="double")

    @engine.durable_function
    async def statuses(ctx: DurableContext, _: None) -> dict[str, Any]:
        return {"reason": CompletionReason.ALL_COMPLETED, "status": ExecutionStatus.SUCCEEDED}

    @engine.durable_function
    async def mapped(ctx: DurableContext, items: list[int]) -> BatchResult[int]:
        config = MapConfig(completion_config=CompletionConfig.all_completed())
        return await ctx.map(items, item, name="items", config=config)

    @engine.durable_function
    async def from_a_step(ctx: DurableContext, _: None) -> list[object]:
        status = await ctx.step(lambda s: OperationStatus.PENDING, name="status")
        assert type(status) is OperationStatus  # the first run reads back what replay will
        return [status, OperationType.MAP, BatchItemStatus.NOT_STARTED]

    try:
        async with engine:
            got = await engine.run(statuses)
            assert got == {
                "reason": CompletionReason.ALL_COMPLETED,
                "status": ExecutionStatus.SUCCEEDED,
            }
            assert type(got["reason"]) is CompletionReason
            assert type(got["status"]) is ExecutionStatus

            batch = await engine.run(mapped, [1, 2, 3])
            assert type(batch) is BatchResult
            assert batch.completion_reason is CompletionReason.ALL_COMPLETED
            assert batch.get_results() == [2, 4, 6]
            assert [i.status for i in batch.all] == [BatchItemStatus.SUCCEEDED] * 3

            failed = await engine.run(mapped, [1, -1])
            assert [i.status for i in failed.all] == [
                BatchItemStatus.SUCCEEDED,
                BatchItemStatus.FAILED,
            ]
            [error] = failed.get_errors()
            assert isinstance(error, ChildContextError)
            assert error.error_type == "ValueError" and "negative: -1" in str(error)

            listed = await engine.run(from_a_step)
            assert listed == [
                OperationStatus.PENDING,
                OperationType.MAP,
                BatchItemStatus.NOT_STARTED,
            ]
            assert [type(x) for x in listed] == [OperationStatus, OperationType, BatchItemStatus]
    finally:
        await engine.close()


async def test_with_a_registry_of_its_own_the_engine_types_must_be_registered_there(
    tmp_path: Path,
) -> None:
    own = Engine(tmp_path / "own.db", serdes=serdes.MsgpackSerDes(serdes.TypeRegistry()))

    @own.durable_function
    async def reason(ctx: DurableContext, _: None) -> CompletionReason:
        return CompletionReason.ALL_COMPLETED

    try:
        async with own:
            with pytest.raises(SerDesError, match="CompletionReason"):
                await own.run(reason)
    finally:
        await own.close()
