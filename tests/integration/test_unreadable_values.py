"""A worker whose app cannot read a stored value leaves the execution to one that can.

The class a value holds is registered in one app and not in another (a private
registry, a deploy that dropped a registration). The worker that cannot read it
neither fails the execution for good nor keeps it: it hands it back, due again later,
and a worker that can read it finishes it.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

import pytest

import serdes
from durable_engine import DurableContext, Engine, ExecutionStatus, StepContext
from tests.conftest import Effects, rows, until, wait_for_status


@dataclasses.dataclass
class Point:
    x: int
    y: int


def _registry() -> serdes.TypeRegistry:
    registry = serdes.TypeRegistry()
    registry.register(Point, name="tests.Point")
    return registry


def _engine(db: Path, effects: Effects, *, knows_points: bool) -> Engine:
    codec = serdes.MsgpackSerDes(_registry()) if knows_points else serdes.MsgpackSerDes()
    engine = Engine(db, in_memory_wait=0)

    def where(step: StepContext) -> Point:
        effects.record("where")
        return Point(1, 2)

    @engine.durable_function(name="walk", serdes=codec)
    async def walk(ctx: DurableContext, start: Point | list[int]) -> list[int]:
        x, y = (start.x, start.y) if isinstance(start, Point) else start
        here = await ctx.step(where, name="where")
        await ctx.wait(0.05, name="rest")
        return [x + here.x, y + here.y]

    return engine


def _handed_back(db: Path, *, after_a_run: bool = False) -> bool:
    """Whether the execution is unowned again, due later (or has ended)."""
    [(status, owner, wake_at)] = rows(db, "SELECT status, owner, wake_at FROM executions")
    if status in ("FAILED", "SUCCEEDED"):
        return True  # the test's assertions say what is wrong with that
    due_later = isinstance(wake_at, float) and (not after_a_run or wake_at > 0)
    return owner is None and due_later


def _due_now(db: Path) -> None:
    """As if the hand-back's delay had passed."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE executions SET wake_at = 0 WHERE owner IS NULL")
    conn.close()


async def test_an_input_this_app_cannot_read_is_handed_back_not_stranded(
    db_path: Path, effects: Effects, caplog: pytest.LogCaptureFixture
) -> None:
    knows = _engine(db_path, effects, knows_points=True)
    async with knows:
        handle = await knows.start("walk", Point(10, 20), run_here=False)
    caplog.set_level(logging.ERROR, logger="durable_engine")
    blind = _engine(db_path, effects, knows_points=False)
    async with blind:  # it claims the execution as it opens, and cannot read the input
        await until(lambda: _handed_back(db_path))  # while it is open: not held
    assert f"execution {handle.execution_id} cannot run here" in caplog.text
    assert "tests.Point" in caplog.text
    _due_now(db_path)
    async with knows:
        assert await handle.result() == [11, 22]
    assert effects.lines() == ["where"]


async def test_a_result_this_app_cannot_read_is_handed_back_not_failed(
    db_path: Path, effects: Effects, caplog: pytest.LogCaptureFixture
) -> None:
    knows = _engine(db_path, effects, knows_points=True)
    async with knows:  # runs until the rest: its step's Point is stored
        handle = await knows.start("walk", [10, 20])  # an input any app can read
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    _due_now(db_path)
    caplog.set_level(logging.ERROR, logger="durable_engine")
    blind = _engine(db_path, effects, knows_points=False)
    async with blind:  # it resumes the execution, and cannot read the step's result
        await until(lambda: _handed_back(db_path, after_a_run=True))
    [(status,)] = rows(db_path, "SELECT status FROM executions")
    assert status == "SUSPENDED"  # not FAILED for good
    assert f"execution {handle.execution_id} cannot run here" in caplog.text
    _due_now(db_path)
    async with knows:
        assert await handle.result() == [11, 22]
    assert effects.lines() == ["where"]
