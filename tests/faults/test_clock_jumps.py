"""Wall-clock jumps: they take no lease from a live worker, and fire no timer kept in
memory early or late.

The two-worker tests run real `python -m durable_engine worker` processes of
`clock_app`, whose wall clock SIGUSR1 jumps forward (see there); the timer tests run
an engine in this process on a `Clock` that the test jumps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    RetryPresets,
    SqliteStore,
    StepConfig,
    StepContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from durable_engine._clock import TimerHandle
from tests.conftest import Effects, recorded, rows, until

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.faults.clock_app:engine"
LEASE = 3.0  # a heartbeat every second: a loaded machine still keeps it
_CLI = (sys.executable, "-m", "durable_engine")


def _query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


class _Workers:
    """Worker processes of `clock_app` on one database, stopped with SIGTERM at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "clock.db"
        self.effects = tmp / "effects.txt"
        self.release = tmp / "release"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "CLOCK_DB": str(self.db),
            "CLOCK_EFFECTS": str(self.effects),
            "CLOCK_RELEASE": str(self.release),
            "CLOCK_LEASE": str(LEASE),
            "CLOCK_JUMP": str(1800 * LEASE),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [*_CLI, "worker", "--app", APP, "--worker-id", name],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.procs[name] = proc
        _wait(lambda: self.registered(name), f"worker {name} to register")
        return proc

    def registered(self, name: str) -> bool:
        if not self.db.exists():
            return False
        try:
            return bool(_query(self.db, "SELECT 1 FROM workers WHERE worker_id = ?", name))
        except sqlite3.OperationalError:  # the schema is being made
            return False

    def start(self, function: str) -> None:
        subprocess.run(
            [*_CLI, "start", function, "--app", APP, "--input", "1", "--name", "held"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def heartbeat(self, name: str) -> float | None:
        found = _query(self.db, "SELECT expires_at FROM workers WHERE worker_id = ?", name)
        return None if not found else float(found[0][0])  # type: ignore[arg-type]

    def epoch(self) -> int:
        [(epoch,)] = _query(self.db, "SELECT epoch FROM executions")
        assert isinstance(epoch, int)
        return epoch

    def renewals(self, name: str, count: int) -> None:
        """Wait until `name` has renewed its lease `count` times (more than a lease of
        time for a claimer to act in), or its execution was taken over."""
        seen = {self.heartbeat(name)}

        def renewed() -> bool:
            seen.add(self.heartbeat(name))
            return len(seen) > count

        _wait(lambda: self.epoch() > 1 or renewed(), f"{count} renewals of {name}'s lease")

    def events(self, name: str) -> list[dict[str, object]]:
        lines = (self.tmp / f"{name}.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def _workers(tmp: Path) -> Iterator[_Workers]:
    workers = _Workers(tmp)
    try:
        yield workers
    finally:
        workers.release.touch()
        workers.stop_all()


@pytest.mark.parametrize("function", ["hold_at_most_once", "hold_at_least_once"])
def test_a_forward_jump_past_the_lease_takes_nothing_from_a_live_worker(
    tmp_path: Path, function: str
) -> None:
    with _workers(tmp_path) as workers:
        first = workers.spawn("first")
        workers.start(function)
        _wait(lambda: workers.effects.exists(), "the body to start")
        second = workers.spawn("second")
        # The claimer's clock jumps first (a claim then races the owner's next renewal,
        # and a judge by the wall clock alone loses it), then the owner's.
        second.send_signal(signal.SIGUSR1)
        workers.renewals("first", 4)
        first.send_signal(signal.SIGUSR1)
        workers.renewals("first", 4)
        workers.release.touch()
        _wait(
            lambda: _query(workers.db, "SELECT status FROM executions")[0][0] != "RUNNING",
            "the execution to end",
        )
        workers.stop_all()
        [(status, epoch)] = _query(workers.db, "SELECT status, epoch FROM executions")
        events = workers.events("first") + workers.events("second")
    assert (status, epoch) == ("SUCCEEDED", 1)
    assert workers.effects.read_text().splitlines() == [
        f"start {first.pid}",
        f"end {first.pid}",
    ]  # the body ran once, in the worker that claimed it
    assert [e["event"] for e in events if e["event"] in ("takeover", "worker_lease_lost")] == []
    assert [e["worker"] for e in events if e["event"] == "finish"] == ["first"]


# -- timers kept in memory, on a clock the test jumps ---------------------------------


class JumpingClock:
    """The real clocks, with a wall clock the test moves by `shift`; `jump` moves it at
    the next commit of the store (from the database thread, as a jump lands whenever it
    lands), or at once."""

    def __init__(self) -> None:
        self.shift = 0.0
        self.jumped = threading.Event()

    def now(self) -> float:
        return time.time() + self.shift

    def monotonic(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            remaining = when - self.now()
            if remaining > 0:
                holder[0] = loop.call_later(remaining, fire)
            else:
                callback()

        holder.append(loop.call_later(max(0.0, when - self.now()), fire))
        return _Cancel(holder)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def jump(self, seconds: float) -> None:
        self.shift += seconds
        self.jumped.set()

    def jump_after_commits(self, commits: int, seconds: float) -> None:
        """Jump by `seconds` just after the `commits`-th commit from now."""
        left = [commits]

        def hook(point: str) -> None:
            if point == "after commit" and left[0] > 0:
                left[0] -= 1
                if left[0] == 0:
                    self.jump(seconds)

        SqliteStore.set_persistence_hook(hook)


class _Cancel:
    def __init__(self, holder: list[asyncio.TimerHandle]) -> None:
        self.holder = holder

    def cancel(self) -> None:
        self.holder[0].cancel()


@pytest.fixture
def no_hook() -> Iterator[None]:
    yield
    SqliteStore.set_persistence_hook(None)


def _timed_engine(db: Path, effects: Effects, clock: JumpingClock, jump: float) -> Engine:
    """An engine whose functions each arm one timer in memory: the clock jumps by `jump`
    just after the commit that precedes it (a wait's start, a failed attempt, a poll)."""
    engine = Engine(db, clock=clock, lease=60, in_memory_wait=30)

    def before(step: StepContext) -> str:
        effects.record("before")
        clock.jump_after_commits(2, jump)  # this step's outcome, then the wait's start
        return "before"

    @engine.durable_function(name="wait")
    async def wait(ctx: DurableContext, seconds: float) -> str:
        await ctx.step(before, name="before")
        await ctx.wait(timedelta(seconds=seconds), name="pause")
        return await ctx.step(lambda step: recorded(effects, "after", "done"), name="after")

    def flaky(step: StepContext) -> str:
        effects.record(f"attempt {step.attempt}")
        if step.attempt == 1:
            clock.jump_after_commits(1, jump)  # the failed attempt, with its retry's time
            raise ConnectionError("try again")
        return "done"

    @engine.durable_function(name="retry")
    async def retry(ctx: DurableContext, seconds: float) -> str:
        config = StepConfig(retry_strategy=RetryPresets.fixed(seconds, max_attempts=3))
        return await ctx.step(flaky, name="flaky", config=config)

    def check(state: int, step: StepContext) -> int:
        effects.record(f"poll {state}")
        if state == 0:
            clock.jump_after_commits(1, jump)  # this poll's state, with the next poll's time
        return state + 1

    @engine.durable_function(name="poll")
    async def poll(ctx: DurableContext, seconds: float) -> str:
        config = WaitForConditionConfig(
            initial_state=0,
            wait_strategy=lambda state, attempt: (
                WaitForConditionDecision.continue_waiting(seconds)
                if state < 2
                else WaitForConditionDecision.stop_polling()
            ),
        )
        await ctx.wait_for_condition(check, config=config, name="poll")
        return "done"

    return engine


_AFTER = {
    "wait": ["before", "after"],
    "retry": ["attempt 1", "attempt 2"],
    "poll": ["poll 0", "poll 1"],
}


@pytest.mark.parametrize("function", ["wait", "retry", "poll"])
async def test_a_forward_jump_fires_no_timer_in_memory_early(
    db_path: Path, effects: Effects, function: str, no_hook: None
) -> None:
    clock = JumpingClock()
    async with _timed_engine(db_path, effects, clock, +3600) as engine:
        handle = await engine.start(function, 2.0)
        await until(clock.jumped.is_set)
        # A quarter of the timer's two seconds on, by the loop's own (monotonic) timers,
        # which the engine's timer is armed beside: the timer has not fired yet.
        await asyncio.sleep(0.25)
        effects.record("a quarter of the way")
        assert await handle.result() == "done"
    first, then = _AFTER[function]
    assert effects.lines()[:3] == [first, "a quarter of the way", then]


@pytest.mark.parametrize("function", ["wait", "retry", "poll"])
async def test_a_backward_jump_delays_no_timer_in_memory(
    db_path: Path, effects: Effects, function: str, no_hook: None
) -> None:
    clock = JumpingClock()
    async with _timed_engine(db_path, effects, clock, -3600) as engine:
        handle = await engine.start(function, 0.2)
        # Due 0.2 s on: a timer that waited for the wall clock would wait an hour more.
        assert await asyncio.wait_for(handle.result(), 30) == "done"
        execution = await engine.get_execution(handle.execution_id)
    assert clock.jumped.is_set()
    assert effects.lines()[:2] == _AFTER[function]
    assert execution.status is ExecutionStatus.SUCCEEDED


# -- a worker whose row is deleted ------------------------------------------------------


async def test_a_worker_whose_row_was_deleted_rejoins_and_runs_no_body_twice_at_once(
    db_path: Path, effects: Effects
) -> None:
    release = threading.Event()
    engine = Engine(db_path, lease=3.0, worker_id="only")

    def hold(step: StepContext) -> str:  # a sync body: it runs in a thread
        tag = step.execution_id
        effects.record(f"start {tag}")
        release.wait(60)
        effects.record(f"end {tag}")
        return "held"

    @engine.durable_function(name="held")
    async def held(ctx: DurableContext, n: int) -> str:
        return await ctx.step(hold, name="hold")

    def epoch(execution_id: str) -> int:
        [(value,)] = rows(
            db_path, f"SELECT epoch FROM executions WHERE execution_id = '{execution_id}'"
        )
        assert isinstance(value, int)
        return value

    async with engine:
        one = await engine.start(held, 1)
        await until(lambda: effects.count(f"start {one.execution_id}") == 1)
        conn = sqlite3.connect(db_path)
        with conn:
            conn.execute("DELETE FROM workers WHERE worker_id = 'only'")
        conn.close()
        # Due at once, for the scheduler to claim: while this worker has no row, it
        # must claim nothing.
        two = await engine.start(held, 2, run_here=False)
        await until(lambda: bool(rows(db_path, "SELECT 1 FROM workers WHERE worker_id = 'only'")))
        await until(lambda: epoch(one.execution_id) == 2 and epoch(two.execution_id) >= 1)
        await until(lambda: effects.count(f"start {two.execution_id}") >= 1)
        await asyncio.sleep(1.0)  # time for a second start of either body, if any came
        release.set()
        assert await one.result() == "held"
        assert await two.result() == "held"
    for handle in (one, two):
        mine = [line.split()[0] for line in effects.lines() if line.endswith(handle.execution_id)]
        assert "start start" not in " ".join(mine), mine  # never twice at once
    assert effects.count(f"start {two.execution_id}") == 1  # claimed only once it rejoined
    assert rows(db_path, "SELECT worker_id FROM workers") == []  # it left as it closed
