"""Stored values keep their types across restarts; codecs are chosen per engine, function, step."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import serdes
from durable_engine import DurableContext, Engine, ExecutionStatus, SerDesError, StepConfig
from tests.conftest import wait_for_status


@serdes.register
@dataclass(frozen=True)
class Quote:
    price: Decimal
    valid_until: dt.datetime


async def test_a_registered_class_survives_restart_and_replay(db_path: Path) -> None:
    seen: list[object] = []

    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        @engine.durable_function(name="quote")
        async def quote(ctx: DurableContext, _: None) -> Quote:
            q = await ctx.step(
                lambda s: Quote(
                    Decimal("19.990"),
                    dt.datetime(2026, 12, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris")),
                ),
                name="price",
            )
            seen.append(q)
            await ctx.wait(0.2, name="hold")
            return q

        return engine

    first = build()
    async with first:
        handle = await first.start("quote")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    second = build()
    async with second:
        info = await second.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.SUCCEEDED
    first_run, replayed = seen
    for value in (first_run, replayed, info.result):
        assert type(value) is Quote
        assert value == first_run
        assert value.valid_until.tzinfo == ZoneInfo("Europe/Paris")
        assert str(value.price) == "19.990"


async def test_codec_per_function_and_per_step(db_path: Path) -> None:
    engine = Engine(db_path)

    @engine.durable_function(serdes=serdes.JsonSerDes())
    async def readable(ctx: DurableContext, order: dict[str, int]) -> dict[str, int]:
        big = await ctx.step(
            lambda s: "x" * 5000,
            name="compressed",
            config=StepConfig(serdes=serdes.ZstdSerDes(threshold=100)),
        )
        small = await ctx.step(lambda s: {"n": order["n"] + 1}, name="plain")
        return {"len": len(big), **small}

    async with engine:
        assert await engine.run(readable, {"n": 1}) == {"len": 5000, "n": 2}
    conn = sqlite3.connect(db_path)
    try:
        (raw_input,) = conn.execute("SELECT input FROM executions").fetchone()
        rows = dict(conn.execute("SELECT name, result FROM operations").fetchall())
        (n,) = conn.execute("SELECT json_extract(substr(input, 11), '$.n') FROM executions")
    finally:
        conn.close()
    # JSON, readable with sqlite3 past the checksum frame (6 bytes) and the header (4)
    assert raw_input[10:] == b'{"n":1}' and n == (1,)
    assert rows["plain"][10:] == b'{"n":2}'
    assert rows["compressed"][9] == 1 and len(rows["compressed"]) < 200  # zstd


async def test_a_value_that_cannot_be_stored_is_a_typed_error(db_path: Path) -> None:
    class Opaque:
        pass

    engine = Engine(db_path)

    @engine.durable_function
    async def flow(ctx: DurableContext, _: object) -> None:
        await ctx.step(lambda s: {"thing": Opaque()}, name="leaks")

    async with engine:
        with pytest.raises(SerDesError, match="Opaque"):
            await engine.start(flow, Opaque())
        assert await engine.list_executions() == []
        handle = await engine.start(flow)
        with pytest.raises(SerDesError, match=r"result of step leaks cannot be .*\$\.thing"):
            await handle.result()


class Shouting(serdes.MsgpackSerDes):
    """Reads strings back in capitals: a codec whose round trip changes a value."""

    def deserialize(self, data: bytes, ctx: serdes.SerDesContext | None = None) -> object:
        value = super().deserialize(data, ctx)
        return value.upper() if isinstance(value, str) else value


async def test_a_first_run_returns_what_replay_reads_back(db_path: Path) -> None:
    seen: list[object] = []
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function(name="shout")
    async def shout(ctx: DurableContext, _: None) -> list[object]:
        word = await ctx.step(lambda s: "hello", name="word", config=StepConfig(serdes=Shouting()))
        plain = await ctx.step(lambda s: "hello", name="plain")
        seen.append((word, plain))
        await ctx.wait(0.05, name="pause")
        return [word, plain]

    async with engine:
        assert await engine.run("shout") == ["HELLO", "hello"]
    assert seen == [("HELLO", "hello"), ("HELLO", "hello")]  # first run, then the replay


class Recording(serdes.MsgpackSerDes):
    """Codes like msgpack, and remembers the context of every value it is given (a value
    coded outside a run, such as a start's input, comes with none)."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[tuple[str, str | None, str | None]] = []

    def _seen(self, kind: str, ctx: serdes.SerDesContext | None) -> None:
        self.contexts.append(
            (kind, *((ctx.execution_id, ctx.operation_id) if ctx else (None,) * 2))
        )

    def serialize(self, value: object, ctx: serdes.SerDesContext | None = None) -> bytes:
        self._seen("serialize", ctx)
        return super().serialize(value, ctx)

    def deserialize(self, data: bytes, ctx: serdes.SerDesContext | None = None) -> object:
        self._seen("deserialize", ctx)
        return super().deserialize(data, ctx)


async def test_a_codec_is_told_which_execution_and_operation_a_value_belongs_to(
    db_path: Path,
) -> None:
    engine_codec, step_codec = Recording(), Recording()
    engine = Engine(db_path, serdes=engine_codec, in_memory_wait=0)

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        first = await ctx.step(lambda s: "a", name="first")
        second = await ctx.step(lambda s: "b", name="second", config=StepConfig(serdes=step_codec))
        await ctx.wait(0.05, name="pause")  # suspends: the rest is a replay
        return first + second

    async with engine:
        handle = await engine.start("flow")
        assert await handle.result() == "ab"
    eid = handle.execution_id
    assert ("serialize", eid, "1") in engine_codec.contexts
    assert ("deserialize", eid, "1") in engine_codec.contexts  # the replay reads it back
    assert ("serialize", eid, None) in engine_codec.contexts  # the execution's result
    # written, read back on the first run (this codec promises no exact types), replayed
    assert step_codec.contexts == [("serialize", eid, "2")] + [("deserialize", eid, "2")] * 2


async def test_a_bytearray_from_a_step_is_a_bytearray_on_the_first_run_and_on_replay(
    db_path: Path,
) -> None:
    seen: list[object] = []

    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        @engine.durable_function(name="frame")
        async def frame(ctx: DurableContext, _: None) -> list[object]:
            buf = await ctx.step(lambda s: bytearray(b"\x01\x02"), name="read")
            seen.append(buf)
            await ctx.wait(0.2, name="hold")
            return [buf, b"\x03"]

        return engine

    first = build()
    async with first:
        handle = await first.start("frame")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    second = build()
    async with second:
        info = await second.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.SUCCEEDED
    assert [type(v) for v in seen] == [bytearray, bytearray]
    assert info.result == [bytearray(b"\x01\x02"), b"\x03"]
    assert [type(v) for v in info.result] == [bytearray, bytes]
