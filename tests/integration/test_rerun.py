"""`engine.rerun`: a new execution of the same function version and input, linked to
the first, for one that ended FAILED, TIMED_OUT or STOPPED."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionNotFound,
    ExecutionNotRerunnable,
    ExecutionStatus,
)


def _engine(path: Path, fixed: bool = False) -> Engine:
    engine = Engine(path, in_memory_wait=0)

    @engine.durable_function(name="charge", version=2)
    async def charge(ctx: DurableContext, order: dict[str, int]) -> int:
        amount = await ctx.step(lambda s: order["amount"], name="read")
        if not fixed:
            raise RuntimeError("card declined")
        return amount

    @engine.durable_function(name="slow")
    async def slow(ctx: DurableContext, _: None) -> None:
        await ctx.wait(timedelta(hours=1), name="long")

    return engine


async def test_a_failed_execution_is_rerun_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "rerun.db"
    async with _engine(path) as engine:
        first = await engine.start("charge", {"amount": 5}, execution_name="order-5")
        with pytest.raises(Exception, match="card declined"):
            await first.result()
    async with _engine(path, fixed=True) as engine:  # the fix deployed, a restart
        again = await engine.rerun(first.execution_id)
        assert await again.result() == 5
        info = await engine.get_execution(again.execution_id)
        assert (info.rerun_of, info.function, info.version) == (first.execution_id, "charge", 2)
        assert info.input == {"amount": 5} and info.name is None
        assert (await engine.get_execution(first.execution_id)).rerun_of is None
        # A succeeded one, a running one, an unknown one: refused, nothing started.
        with pytest.raises(ExecutionNotRerunnable) as refused:
            await engine.rerun(again.execution_id)
        assert refused.value.status == "SUCCEEDED"
        running = await engine.start("slow", None)
        with pytest.raises(ExecutionNotRerunnable, match="only one that ended"):
            await engine.rerun(running.execution_id)
        with pytest.raises(ExecutionNotFound):
            await engine.rerun("no-such-id")
        # Stopped and timed out ones may be rerun.
        await engine.stop(running.execution_id)
        stopped_again = await engine.rerun(running.execution_id)
        assert (await stopped_again.status()) in (
            ExecutionStatus.RUNNING,
            ExecutionStatus.SUSPENDED,
        )
        timed = await engine.start("slow", None, timeout=0.05)
        assert (await engine.wait_for(timed.execution_id)).status is ExecutionStatus.TIMED_OUT
        rerun_timed = await engine.rerun(timed.execution_id)
        ended = await engine.wait_for(rerun_timed.execution_id)
        assert (ended.status, ended.rerun_of) == (ExecutionStatus.TIMED_OUT, timed.execution_id)
        assert len(await engine.list_executions()) == 6
