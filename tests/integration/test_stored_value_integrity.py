"""Stored values carry a checksum: a byte changed in the database is `DatabaseCorrupt`
naming the execution and operation, never another value; values stored before the
checksum existed still read; values deeper than the depth limit are refused when
written and shown with a marker when an older version stored one.

These tests plant bytes in the database directly, on the store the `engine` fixture
runs on (a file, or PostgreSQL with DURABLE_TEST_STORE=postgres)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

import serdes
from durable_engine import (
    DatabaseCorrupt,
    DurableContext,
    Engine,
    ExecutionStatus,
    PostgresStore,
    RetryPresets,
    SerDesError,
    SqliteStore,
    StepConfig,
    StepError,
)
from tests.conftest import Effects, recorded


async def _sql(engine: Engine, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run `sql` (with `?` placeholders) on the engine's database, outside the engine."""
    store = engine.store
    if isinstance(store, PostgresStore):
        for n in range(1, len(args) + 1):
            sql = sql.replace("?", f"${n}", 1)
        conn = await store.connect()
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()
    assert isinstance(store, SqliteStore)
    conn_ = sqlite3.connect(str(store.path))
    try:
        found = conn_.execute(sql, args).fetchall()
        conn_.commit()
        return found
    finally:
        conn_.close()


def _flip_last(data: bytes, to: int) -> bytes:
    """`data` with its last byte replaced: the msgpack of `{'a': 3}` then says 123."""
    return data[:-1] + bytes([to])


async def test_a_changed_byte_in_a_step_result_is_database_corrupt_not_another_value(
    engine: Engine, effects: Effects
) -> None:
    @engine.durable_function(name="twice")
    async def twice(ctx: DurableContext, _: None) -> dict[str, int]:
        found = await ctx.step(lambda s: recorded(effects, "step", {"a": 3}), name="find")
        await (await ctx.create_callback(name="go")).result()
        return found

    async with engine:
        handle = await engine.start(twice, None)
        eid = handle.execution_id
        await _suspended(engine, eid)
        [(data,)] = await _sql(
            engine, "SELECT result FROM operations WHERE execution_id = ? AND op_id = '1'", eid
        )
        damaged = _flip_last(bytes(data), 123)
        await _sql(
            engine,
            "UPDATE operations SET result = ? WHERE execution_id = ? AND op_id = '1'",
            damaged,
            eid,
        )
        # Read from outside: the damaged value's place holds the error, naming it.
        ops = await engine.get_operations(eid)
        shown = ops[0].result
        assert isinstance(shown, DatabaseCorrupt)
        assert (shown.execution_id, shown.operation_id) == (eid, "1")
        assert eid in str(shown) and "operation 1" in str(shown)
        # The run that resumes reads it on replay: it stops, and result() says why.
        [callback] = [o for o in ops if o.name == "go"]
        assert callback.ref is not None
        await engine.send_callback_success(callback.ref, None)
        with pytest.raises(DatabaseCorrupt, match=f"operation 1 of execution {eid}"):
            await handle.result()
        # Handed back, due again in a minute (not every second: it will not pass alone).
        [(status, wake_at)] = await _sql(
            engine, "SELECT status, wake_at FROM executions WHERE execution_id = ?", eid
        )
        assert status == "SUSPENDED" and wake_at >= engine.clock.now() + 30
    assert effects.lines() == ["step"]  # the body never ran again for it


async def test_a_value_stored_without_a_checksum_still_reads(engine: Engine) -> None:
    @engine.durable_function(name="legacy")
    async def legacy(ctx: DurableContext, _: None) -> object:
        found = await ctx.step(lambda s: {"a": 3}, name="find")
        await (await ctx.create_callback(name="go")).result()
        return found

    async with engine:
        handle = await engine.start(legacy, None)
        eid = handle.execution_id
        await _suspended(engine, eid)
        # As a version before checksums wrote it: the codec's bytes alone.
        await _sql(
            engine,
            "UPDATE operations SET result = ? WHERE execution_id = ? AND op_id = '1'",
            serdes.dumps({"a": 4}),
            eid,
        )
        ops = await engine.get_operations(eid)
        assert ops[0].result == {"a": 4}
        [callback] = [o for o in ops if o.name == "go"]
        assert callback.ref is not None
        await engine.send_callback_success(callback.ref, None)
        assert await handle.result() == {"a": 4}


async def test_every_kind_of_stored_value_is_checked(engine: Engine) -> None:
    """Input, result, error, custom status, callback answer, event payload: each changed
    byte is found; the other executions read as before."""

    @engine.durable_function(name="kinds")
    async def kinds(ctx: DurableContext, n: int) -> int:
        ctx.set_custom_status({"at": n})
        answer = await (await ctx.create_callback(name="ask")).result()
        payload = await ctx.wait_for_event("poke")
        if n < 0:
            raise ValueError("negative")
        return int(answer) + int(payload) + n

    async with engine:
        good = await engine.start(kinds, 1)
        handle = await engine.start(kinds, 2)
        eid = handle.execution_id
        for h in (good, handle):
            await _suspended(engine, h.execution_id)
            [cb] = [o for o in await engine.get_operations(h.execution_id) if o.name == "ask"]
            assert cb.ref is not None
            await engine.send_callback_success(cb.ref, 10)
            await _recorded(engine, h.execution_id, "poke")
            await engine.send_event(h.execution_id, "poke", 100)
        assert await good.result() == 111
        assert await handle.result() == 112

        async def damage(table: str, column: str, where: str = "") -> None:
            [(data,)] = await _sql(
                engine, f"SELECT {column} FROM {table} WHERE execution_id = ?{where}", eid
            )
            changed = bytes(data)[:-1] + bytes([bytes(data)[-1] ^ 0x01])
            await _sql(
                engine,
                f"UPDATE {table} SET {column} = ? WHERE execution_id = ?{where}",
                changed,
                eid,
            )

        await damage("executions", "input")
        await damage("executions", "custom_status")
        await damage("executions", "result")
        info = await engine.get_execution(eid)
        for what, value in (
            ("input", info.input),
            ("custom status", info.custom_status),
            ("result", info.result),
        ):
            assert isinstance(value, DatabaseCorrupt), what
            assert f"stored {what} of execution {eid}" in str(value)
        with pytest.raises(DatabaseCorrupt, match="stored result"):
            await handle.result()
        ops = {o.name: o for o in await engine.get_operations(eid)}
        await damage("operations", "result", f" AND op_id = '{ops['ask'].operation_id}'")
        await damage("operations", "result", f" AND op_id = '{ops['poke'].operation_id}'")
        ops = {o.name: o for o in await engine.get_operations(eid)}
        assert isinstance(ops["ask"].result, DatabaseCorrupt)
        assert ops["ask"].result.operation_id == ops["ask"].operation_id
        assert isinstance(ops["poke"].result, DatabaseCorrupt)
        # Nothing else changed: the other execution and the listing read as before.
        listed = {i.execution_id: i for i in await engine.list_executions()}
        assert listed[good.execution_id].input == 1 and listed[good.execution_id].result == 111
        assert isinstance(listed[eid].input, DatabaseCorrupt)


async def _recorded(engine: Engine, execution_id: str, name: str) -> None:
    """Until the execution has recorded an operation named `name` (in the database)."""
    while not any(o.name == name for o in await engine.get_operations(execution_id)):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def _suspended(engine: Engine, execution_id: str) -> None:
    """Until the execution is SUSPENDED (in the database)."""
    while (await engine.get_execution(execution_id)).status is not ExecutionStatus.SUSPENDED:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_a_changed_byte_in_a_stored_error_is_found(engine: Engine) -> None:
    @engine.durable_function(name="fails")
    async def fails(ctx: DurableContext, _: None) -> None:
        def boom(s: object) -> None:
            raise ValueError("no")

        await ctx.step(boom, name="boom", config=StepConfig(retry_strategy=RetryPresets.none()))

    async with engine:
        handle = await engine.start(fails, None)
        with pytest.raises(StepError):
            await handle.result()
        eid = handle.execution_id
        [(data,)] = await _sql(
            engine, "SELECT error FROM operations WHERE execution_id = ? AND op_id = '1'", eid
        )
        changed = bytes(data)[:-1] + bytes([bytes(data)[-1] ^ 0x20])
        await _sql(
            engine,
            "UPDATE operations SET error = ? WHERE execution_id = ? AND op_id = '1'",
            changed,
            eid,
        )
        [op] = await engine.get_operations(eid)
        assert isinstance(op.error, DatabaseCorrupt) and op.error.operation_id == "1"


def _nest(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_a_value_deeper_than_the_limit_fails_its_step_when_written(
    engine: Engine, effects: Effects
) -> None:
    @engine.durable_function(name="deep")
    async def deep(ctx: DurableContext, depth: int) -> object:
        return await ctx.step(lambda s: recorded(effects, "body", _nest(depth)), name="nest")

    async with engine:
        assert await engine.run(deep, serdes.MAX_DEPTH) == _nest(serdes.MAX_DEPTH)
        handle = await engine.start(deep, serdes.MAX_DEPTH + 1)
        with pytest.raises(SerDesError, match=r"result of step nest cannot be stored.*deeper"):
            await handle.result()
        [op] = await engine.get_operations(handle.execution_id)
        assert isinstance(op.error, SerDesError)
        assert (await engine.get_execution(handle.execution_id)).status is (ExecutionStatus.FAILED)
        with pytest.raises(SerDesError, match="input of 'deep' cannot be stored"):
            await engine.start("deep", _nest(serdes.MAX_DEPTH + 1))
    assert effects.lines() == ["body", "body"]  # refused once, not retried


async def test_a_deep_row_from_an_older_version_is_marked_and_the_listing_is_whole(
    engine: Engine,
) -> None:
    @engine.durable_function(name="plain")
    async def plain(ctx: DurableContext, n: int) -> int:
        return n

    async with engine:
        ids = [(await engine.start(plain, n)).execution_id for n in range(3)]
        for eid in ids:
            await engine.wait_for(eid)
        # msgpack reads 1,000 levels: a version without the limit stored this.
        await _sql(
            engine,
            "UPDATE executions SET input = ? WHERE execution_id = ?",
            serdes.dumps(_nest(900)),
            ids[1],
        )
        listed = {i.execution_id: i for i in await engine.list_executions()}
        assert [listed[ids[0]].input, listed[ids[2]].input] == [0, 2]
        marker = listed[ids[1]].input
        assert isinstance(marker, SerDesError) and "deeper than" in str(marker)


async def test_a_zstd_value_is_read_no_larger_than_the_payload_limit(engine: Engine) -> None:
    @engine.durable_function(name="small")
    async def small(ctx: DurableContext, n: int) -> int:
        return n

    async with engine:
        handle = await engine.start(small, 1)
        await handle.result()
        # 2 MB of zeros in a few hundred bytes: over the 256 KiB payload limit once read.
        bomb = serdes.ZstdSerDes(threshold=0).serialize(b"\0" * 2_000_000)
        assert len(bomb) < 1000
        await _sql(
            engine,
            "UPDATE executions SET input = ? WHERE execution_id = ?",
            bomb,
            handle.execution_id,
        )
        info = await engine.get_execution(handle.execution_id)
        assert isinstance(info.input, SerDesError)
        assert "payload limit" in str(info.input)
