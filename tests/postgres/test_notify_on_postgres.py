"""A worker process on PostgreSQL hears of new work at once (LISTEN/NOTIFY), not at its
next poll: with its poll interval and its lease an hour long, it still runs a new
execution, resumes one whose callback was answered or which was sent an event, and
unwinds one that was stopped, each from another process; and it survives losing its
listening connection.

The 60 s each test waits is a liveness bound, not a timing assertion: without the
notifications, each would wait for the hour.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from durable_engine import DurableContext, Engine, ExecutionStatus
from durable_engine._store.pg_notify import channel_for, parse, payloads
from durable_engine._store.postgres import DEFAULT_SCHEMA
from tests.cli.helpers import ROOT

LIVENESS = 60.0
"""How long a test waits for the worker before it fails (a bound, never a measure)."""

APP = """
import asyncio
import os

from durable_engine import DurableContext, Engine

EFFECTS = os.environ["EFFECTS"]

engine = Engine(
    os.environ["DURABLE_ENGINE_DB"], in_memory_wait=0, poll_interval=3600, lease=3600
)


def record(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\\n")


@engine.durable_function(name="hello")
async def hello(ctx: DurableContext, who: str) -> str:
    return await ctx.step(lambda s: f"hello {who}", name="say")


@engine.durable_function(name="approve")
async def approve(ctx: DurableContext, _: None) -> object:
    return await ctx.wait_for_callback(lambda cid, s: record(f"callback {cid}"), name="boss")


@engine.durable_function(name="await_go")
async def await_go(ctx: DurableContext, _: None) -> object:
    return await ctx.wait_for_event("go")


@engine.durable_function(name="busy")
async def busy(ctx: DurableContext, _: None) -> str:
    async def body(s):
        record("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            record("unwound")
            raise
        return "slept"

    return await ctx.step(body, name="long")
"""


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, effects: Path) -> None:
        self.process = process
        self.log = log
        self.effects = effects

    def lines(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []


@pytest.fixture
def worker(postgres_url: str, tmp_path: Path) -> Iterator[Worker]:
    """A worker process on `postgres_url` that polls and sweeps once an hour."""
    (tmp_path / "notified_app.py").write_text(APP)
    effects, log = tmp_path / "effects.log", tmp_path / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DURABLE_ENGINE_DB": postgres_url,
        "EFFECTS": str(effects),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "durable_engine", "worker", "--app", "notified_app:engine"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process, log, effects)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _client(url: str) -> Engine:
    """An engine that starts, answers and stops, but runs nothing and polls once an hour."""
    engine = Engine(url, in_memory_wait=0, poll_interval=3600, lease=3600)

    @engine.durable_function(name="hello")
    async def hello(ctx: DurableContext, who: str) -> str:
        raise AssertionError("runs in the worker")

    for name in ("approve", "await_go", "busy"):

        async def other(ctx: DurableContext, _: None) -> object:
            raise AssertionError("runs in the worker")

        engine.durable_function(name=name)(other)
    engine.serve = False
    return engine


@pytest.fixture
async def client(postgres_url: str) -> AsyncIterator[Engine]:
    async with _client(postgres_url) as engine:
        yield engine


async def _eventually(condition: Callable[[], Any], what: str, worker: Worker) -> Any:
    """Wait for `condition` (sync or async) to give something true, up to LIVENESS."""
    loop = asyncio.get_running_loop()
    end = loop.time() + LIVENESS
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if worker.process.poll() is not None:
            raise AssertionError(f"the worker exited: {worker.log.read_text()}")
        if loop.time() > end:
            raise AssertionError(f"no {what} within {LIVENESS:.0f} s: {worker.log.read_text()}")
        await asyncio.sleep(0.05)


async def _listeners(url: str) -> list[int]:
    """The server pids of the connections listening for the engine's notifications."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'durable_engine listen'"
            " AND datname = current_database()"
        )
        return [int(r[0]) for r in rows]
    finally:
        await conn.close()


async def _listening(url: str, worker: Worker) -> list[int]:
    pids: list[int] = await _eventually(lambda: _listeners(url), "listening connection", worker)
    return pids


async def _status(engine: Engine, execution_id: str) -> ExecutionStatus:
    return (await engine.get_execution(execution_id)).status


async def _ended(engine: Engine, execution_id: str, worker: Worker) -> Any:
    async def ended() -> bool:
        return (await _status(engine, execution_id)).is_terminal

    await _eventually(ended, f"end of {execution_id}", worker)
    return await engine.get_execution(execution_id)


async def test_a_new_execution_is_picked_up_at_once(
    postgres_url: str, worker: Worker, client: Engine
) -> None:
    await _listening(postgres_url, worker)
    handle = await client.start("hello", "ann", run_here=False)
    info = await _ended(client, handle.execution_id, worker)
    assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, "hello ann")


async def test_an_answered_callback_resumes_at_once(
    postgres_url: str, worker: Worker, client: Engine
) -> None:
    await _listening(postgres_url, worker)
    handle = await client.start("approve", None, run_here=False)
    line = await _eventually(
        lambda: [x for x in worker.lines() if x.startswith("callback ")], "callback", worker
    )

    async def suspended() -> bool:
        return await _status(client, handle.execution_id) is ExecutionStatus.SUSPENDED

    await _eventually(suspended, "suspension", worker)
    await client.send_callback_success(line[0].split()[1], {"ok": True})
    info = await _ended(client, handle.execution_id, worker)
    assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, {"ok": True})


async def test_an_event_resumes_at_once(postgres_url: str, worker: Worker, client: Engine) -> None:
    await _listening(postgres_url, worker)
    handle = await client.start("await_go", None, run_here=False)

    async def suspended() -> bool:
        return await _status(client, handle.execution_id) is ExecutionStatus.SUSPENDED

    await _eventually(suspended, "suspension", worker)
    await client.send_event(handle.execution_id, "go", [1, 2])
    info = await _ended(client, handle.execution_id, worker)
    assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, [1, 2])


async def test_a_stop_unwinds_the_run_at_once(
    postgres_url: str, worker: Worker, client: Engine
) -> None:
    await _listening(postgres_url, worker)
    handle = await client.start("busy", None, run_here=False)
    await _eventually(lambda: "started" in worker.lines(), "step start", worker)
    await client.stop(handle.execution_id)
    await _eventually(lambda: "unwound" in worker.lines(), "unwinding", worker)
    assert worker.lines() == ["started", "unwound"]
    assert await _status(client, handle.execution_id) is ExecutionStatus.STOPPED


async def test_a_lost_listening_connection_is_opened_again(
    postgres_url: str, worker: Worker, client: Engine
) -> None:
    first = await _listening(postgres_url, worker)
    conn = await asyncpg.connect(postgres_url)
    try:
        for pid in first:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()
    # Started while the worker may still be reconnecting: its notification can be lost,
    # and the look the worker takes once it listens again finds the execution.
    handle = await client.start("hello", "bob", run_here=False)
    info = await _ended(client, handle.execution_id, worker)
    assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, "hello bob")

    async def listening_again() -> list[int]:
        return [pid for pid in await _listeners(postgres_url) if pid not in first]

    await _eventually(listening_again, "new listening connection", worker)
    handle = await client.start("hello", "cy", run_here=False)
    info = await _ended(client, handle.execution_id, worker)
    assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, "hello cy")


def test_notes_name_ids_not_values_and_a_store_skips_its_own() -> None:
    notes = [("end", ("a",)), ("due", ("5.0",)), ("end", ("b", "a")), ("due", ("2.5",))]
    sent = payloads("me", notes)
    assert sent == ["me due 2.5", "me end a b"]
    assert parse(sent[1], "other", 0.0) is not None
    assert parse(sent[1], "me", 0.0) is None  # a store does not hear itself
    due = parse(sent[0], "other", 2.0)
    assert due is not None and due.at == 0.5  # moved onto this host's clock
    many = payloads("me", [("end", tuple(f"{n:032x}" for n in range(450)))])
    assert [len(p.split()) - 2 for p in many] == [200, 200, 50]
    assert all(len(p) < 8000 for p in many)  # the server's payload limit


def test_each_schema_has_its_own_channel() -> None:
    assert channel_for(DEFAULT_SCHEMA) != channel_for("billing")
    long = channel_for("x" * 63)
    assert len(long) <= 63 and long != channel_for("x" * 62 + "y")
