"""`ctx.set_custom_status`: read from outside, committed with the run's writes, and
never set back to an older value by a replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from durable_engine import CallbackConfig, DurableContext, Engine, ExecutionStatus, SerDesError
from durable_engine._store import Fence, Mutation, SetCustomStatus, SqliteStore


class SpyStore(SqliteStore):
    """Records every custom status committed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.statuses: list[bytes] = []

    def commit(self, fence: Fence, mutation: Mutation) -> Any:
        if isinstance(mutation, SetCustomStatus):
            self.statuses.append(mutation.value)
        return super().commit(fence, mutation)


def _engine(path: Path, store: SqliteStore | None = None) -> Engine:
    engine = Engine(path, in_memory_wait=0, store=store)

    @engine.durable_function(name="approvals")
    async def approvals(ctx: DurableContext, _: None) -> str:
        ctx.set_custom_status({"done": 0, "total": 2})
        first = await ctx.create_callback(name="a", config=CallbackConfig(timeout=600))
        await first.result()
        ctx.set_custom_status({"done": 1, "total": 2})
        second = await ctx.create_callback(name="b", config=CallbackConfig(timeout=600))
        await second.result()
        ctx.set_custom_status("all approved")
        return "ok"

    @engine.durable_function(name="bad_status")
    async def bad_status(ctx: DurableContext, _: None) -> str:
        try:
            ctx.set_custom_status(object())
        except SerDesError as exc:
            return f"refused: {type(exc).__name__}"
        return "taken"

    return engine


async def _callback_of(engine: Engine, execution_id: str, name: str) -> str:
    for op in await engine.get_operations(execution_id):
        if op.name == name and op.status == "STARTED":
            assert op.ref is not None
            return op.ref
    raise AssertionError(f"no pending callback {name}")


async def _suspended(engine: Engine, execution_id: str, status: Any = None) -> None:
    """Wait until the execution is SUSPENDED (with this custom status, if given)."""
    for _ in range(2000):
        info = await engine.get_execution(execution_id)
        if info.status is ExecutionStatus.SUSPENDED and status in (None, info.custom_status):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never suspended: {info}")


async def test_custom_status_across_restarts_is_never_set_back(tmp_path: Path) -> None:
    path = tmp_path / "cs.db"
    async with _engine(path) as engine:
        handle = await engine.start("approvals", None)
        await _suspended(engine, handle.execution_id)
        info = await engine.get_execution(handle.execution_id)
        assert info.custom_status == {"done": 0, "total": 2}  # committed as it suspended
        first = await _callback_of(engine, handle.execution_id, "a")
    spy = SpyStore(path)
    async with _engine(path, spy) as engine:  # a restart: resumed by replay
        await engine.send_callback_success(first, None)
        await _suspended(engine, handle.execution_id, {"done": 1, "total": 2})
        second = await _callback_of(engine, handle.execution_id, "b")
        await engine.send_callback_success(second, None)
        info = await engine.wait_for(handle.execution_id)
        assert info.result == "ok"
        assert info.custom_status == "all approved"
    # The replays re-set {"done": 0} and {"done": 1}; only newer values were written.
    decoded = [engine.values.decode(b) for b in spy.statuses]
    assert decoded == [{"done": 1, "total": 2}, "all approved"]


async def test_a_value_the_codec_cannot_take_raises_at_the_call(tmp_path: Path) -> None:
    async with _engine(tmp_path / "bad.db") as engine:
        assert await engine.run("bad_status", None) == "refused: SerDesError"
        [info] = await engine.list_executions()
        assert info.custom_status is None


async def test_set_custom_status_outside_a_run_is_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "late.db")
    kept: list[DurableContext] = []

    @engine.durable_function(name="keeps")
    async def keeps(ctx: DurableContext, _: None) -> None:
        kept.append(ctx)

    async with engine:
        await engine.run("keeps", None)
        with pytest.raises(Exception, match="is over"):
            kept[0].set_custom_status("late")
