"""`StepConfig(defer_commit=True)`: the workflow goes on before the step's checkpoint is
committed; the checkpoints land in order, all of them before every barrier, and a
failed one leaves no later one behind it."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import serdes
from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    MapConfig,
    SqliteStore,
    StepConfig,
    StepContext,
    StepSemantics,
)
from tests.conftest import Effects, rows

DEFER = StepConfig(defer_commit=True)
_codec = serdes.MsgpackSerDes()


def value(_: StepContext, i: int) -> int:
    return i


def committed_steps(db: Path) -> dict[str, object]:
    """Each committed SUCCEEDED step's name and result, read on a connection of its own."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        found = conn.execute(
            "SELECT name, result FROM operations WHERE type = 'STEP' AND status = 'SUCCEEDED'"
        ).fetchall()
    finally:
        conn.close()
    return {name: _codec.deserialize(result) for name, result in found}


@pytest.fixture
def hook() -> Iterator[list[object]]:
    """Install a store persistence hook for the test (append it to the list)."""
    installed: list[object] = []

    def call(where: str) -> None:
        for fn in installed:
            fn(where)  # type: ignore[operator]

    previous = SqliteStore.set_persistence_hook(call)
    try:
        yield installed
    finally:
        SqliteStore.set_persistence_hook(previous)


def test_defer_commit_is_refused_with_at_most_once_semantics() -> None:
    with pytest.raises(ValueError, match="defer_commit=True needs step_semantics="):
        StepConfig(defer_commit=True, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    with pytest.raises(TypeError, match="defer_commit must be a bool"):
        StepConfig(defer_commit="yes")  # type: ignore[arg-type]
    assert StepConfig().defer_commit is False


async def test_deferred_steps_give_their_values_and_all_land(engine: Engine, db_path: Path) -> None:
    count = 600  # past the point where a run lets the writer catch up, twice

    async def body(s: StepContext, i: int) -> tuple[int, str]:
        return (i, f"v{i}")

    @engine.durable_function(name="many")
    async def many(ctx: DurableContext, n: int) -> list[tuple[int, str]]:
        return [
            await ctx.step(functools.partial(body, i=i), name=f"d{i}", config=DEFER)
            for i in range(n)
        ]

    async with engine:
        result = await engine.run(many, count)
    assert result == [(i, f"v{i}") for i in range(count)]  # tuples come back as tuples
    stored = committed_steps(db_path)
    assert stored == {f"d{i}": (i, f"v{i}") for i in range(count)}


async def test_the_workflow_goes_on_before_a_deferred_step_is_committed(
    engine: Engine, db_path: Path, hook: list[object]
) -> None:
    """The writer is held before the commit that holds the first step's checkpoint;
    the second step's body runs meanwhile and sees no row for the first."""
    held, release = threading.Event(), threading.Event()
    seen: list[dict[str, object]] = []

    def hold(where: str) -> None:
        if where == "before commit" and not held.is_set() and armed.is_set():
            held.set()
            release.wait(30)

    armed = threading.Event()
    hook.append(hold)

    async def first(s: StepContext) -> str:
        armed.set()
        await asyncio.sleep(0)  # the writer takes this step's checkpoint and is held
        return "one"

    async def second(s: StepContext) -> str:
        while not held.is_set():  # noqa: ASYNC110 - set on the database thread
            await asyncio.sleep(0.001)
        seen.append(committed_steps(db_path))
        release.set()
        return "two"

    @engine.durable_function(name="two")
    async def two(ctx: DurableContext, _: None) -> list[str]:
        a = await ctx.step(first, name="first", config=DEFER)
        b = await ctx.step(second, name="second", config=DEFER)
        return [a, b]

    async with engine:
        assert await engine.run(two) == ["one", "two"]
    assert seen == [{}]  # the second body ran while nothing of the first was committed
    assert committed_steps(db_path) == {"first": "one", "second": "two"}


_BARRIERS = ("at_most_once", "wait", "callback", "invoke", "batch_end", "end")


@pytest.mark.parametrize("barrier", _BARRIERS)
async def test_every_deferred_commit_lands_before_a_barrier(
    engine: Engine, db_path: Path, barrier: str
) -> None:
    """Three deferred steps, then the barrier; what comes after it (a body, a callback's
    submitter, the invoked execution's step, the caller) finds all three committed."""
    looked: list[set[str]] = []

    def look(*_: object) -> None:
        looked.append({n for n in committed_steps(db_path) if n.startswith("d")})

    async def deferred(ctx: DurableContext, prefix: str = "d") -> None:
        for i in range(3):
            await ctx.step(functools.partial(value, i=i), name=f"{prefix}{i}", config=DEFER)

    @engine.durable_function(name="child")
    async def child(ctx: DurableContext, _: None) -> None:
        await ctx.step(look, name="child_look")

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        await deferred(ctx)
        if barrier == "at_most_once":
            amo = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
            await ctx.step(look, name="look", config=amo)
        elif barrier == "wait":
            await ctx.wait(0.05, name="pause")
            look()
        elif barrier == "callback":
            cb = await ctx.create_callback(name="answer")
            look()
            await engine.send_callback_success(cb.callback_id, "yes")
            await cb.result()
        elif barrier == "invoke":
            await ctx.invoke("child", None, name="invoke")
        elif barrier == "batch_end":

            async def item(c: DurableContext, x: int, i: int, items: Sequence[int]) -> int:
                await c.step(lambda s: x, name=f"b{x}", config=DEFER)
                return x

            await ctx.map([0, 1], item, name="batch", config=MapConfig(max_concurrency=2))
            looked.append(set(committed_steps(db_path)) & {"b0", "b1"})
        return "done"

    async with engine:
        assert await engine.run(flow) == "done"
        look()  # after the execution's end
    expected = {"d0", "d1", "d2"}
    if barrier == "batch_end":
        assert looked[0] == {"b0", "b1"}
    else:
        assert looked[0] == expected
    assert looked[-1] == expected


async def test_deferred_steps_committed_before_a_suspension_are_replayed_not_run(
    engine: Engine, db_path: Path, effects: Effects
) -> None:
    def noted(_: StepContext, i: int) -> int:
        effects.record(f"d{i}")
        return i

    @engine.durable_function(name="nap")
    async def nap(ctx: DurableContext, _: None) -> list[int]:
        values = [
            await ctx.step(functools.partial(noted, i=i), name=f"d{i}", config=DEFER)
            for i in range(3)
        ]
        await ctx.wait(0.3, name="nap")  # the engine's in_memory_wait is 0: it suspends
        return values

    async with engine:
        handle = await engine.start(nap)
        assert await handle.result() == [0, 1, 2]
    assert effects.lines() == ["d0", "d1", "d2"]
    assert rows(db_path, "SELECT count(*) FROM operations WHERE type = 'STEP'") == [(3,)]


async def test_a_failed_deferred_commit_leaves_no_gap_and_the_steps_run_again(
    db_path: Path, effects: Effects, hook: list[object]
) -> None:
    """The transaction holding the first deferred checkpoint fails while later ones are
    queued: none of the later ones lands without it. The run stops, the execution is
    handed back, and every step runs again from the first."""
    engine = Engine(db_path, in_memory_wait=0)
    armed, fourth_ran, failed = threading.Event(), threading.Event(), threading.Event()
    first_runs: list[dict[str, object]] = []

    def fail_once(where: str) -> None:
        if where == "before commit" and armed.is_set() and not failed.is_set():
            fourth_ran.wait(30)
            failed.set()
            raise OSError("the disk is full")

    hook.append(fail_once)

    async def body(s: StepContext, i: int) -> int:
        effects.record(f"s{i}")
        if i == 0:
            first_runs.append(committed_steps(db_path))
            armed.set()
        if i == 3:
            fourth_ran.set()
        await asyncio.sleep(0)  # the writer gets a turn after every body
        return i * 10

    @engine.durable_function(name="chain")
    async def chain(ctx: DurableContext, n: int) -> list[int]:
        return [
            await ctx.step(functools.partial(body, i=i), name=f"s{i}", config=DEFER)
            for i in range(n)
        ]

    async with engine:
        handle = await engine.start(chain, 6)
        assert await handle.result() == [0, 10, 20, 30, 40, 50]
        assert (await handle.status()) is ExecutionStatus.SUCCEEDED
    assert failed.is_set()
    # The second run of the first step found nothing committed: no later step's
    # checkpoint landed without the first one's.
    assert first_runs == [{}, {}]
    log = effects.lines()
    assert log.count("s0") == 2 and log.count("s3") == 2
    assert all(1 <= log.count(f"s{i}") <= 2 for i in range(6))
    assert committed_steps(db_path) == {f"s{i}": i * 10 for i in range(6)}


async def test_an_execution_of_deferred_steps_replays_against_its_code(engine: Engine) -> None:
    from durable_engine.testing._replay import replay_execution

    @engine.durable_function(name="sums")
    async def sums(ctx: DurableContext, n: int) -> int:
        total = 0
        for i in range(n):
            total += await ctx.step(functools.partial(value, i=i), name=f"v{i}", config=DEFER)
        return total

    async with engine:
        handle = await engine.start(sums, 10)
        assert await handle.result() == 45
        assert await replay_execution(engine, handle.execution_id) == 45
