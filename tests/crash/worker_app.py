"""Workflows served by real `python -m durable_engine worker` processes in crash tests.

Every step body appends one JSON line per phase to the file named by
$DURABLE_EFFECTS (outside the database): `{"k": kind, "ph": "start"|"end"|"fail",
"x": execution_id, "op": operation_id, "a": attempt, "pid": pid, "t": time}`.
Each workflow's fault-free result is `expected(function, n)`.

A step before a wait adds `"mark": label, "d": seconds` to its records, and the step
after it `"fired": label`: the invariants check, on the effects' own clock, that the
step after a wait started at least the wait's duration after the step before it ended.

Read from the environment as this module is imported: $DURABLE_SYNCHRONOUS (the
SQLite `synchronous` mode, NORMAL by default), $DURABLE_CLOCK_OFFSET (seconds this
process's engine clock runs ahead of the wall clock), $DURABLE_CLOCK_SKEW ("engine":
only the engine's clock is off; "host": the host's wall clock is, so the PostgreSQL
store's measured offset to the server's clock moves by as much) and $DURABLE_PLANT
(a planted bug, `tests.crash.plant`).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from durable_engine import (
    Clock,
    DurableContext,
    Engine,
    MapConfig,
    ParallelBranch,
    RetryPresets,
    StepConfig,
    StepContext,
    StepSemantics,
    SystemClock,
    WaitForCallbackConfig,
)
from durable_engine._clock import TimerHandle
from tests.crash import plant
from tests.crash.crash_hook import install_from_environment

LEASE = float(os.environ.get("DURABLE_LEASE", "1.5"))
EFFECTS = os.environ.get("DURABLE_EFFECTS", "effects.jsonl")
BODY_SECONDS = float(os.environ.get("DURABLE_BODY_SECONDS", "0.05"))

SYNCHRONOUS = os.environ.get("DURABLE_SYNCHRONOUS", "NORMAL")
CLOCK_OFFSET = float(os.environ.get("DURABLE_CLOCK_OFFSET", "0") or 0)
_wall = time.time  # the effects' clock: the host's, whatever the engine's clock says


class OffsetClock:
    """The wall clock moved by `offset` seconds: the clock of a host that is off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self._system = SystemClock()

    def now(self) -> float:
        return _wall() + self.offset

    def monotonic(self) -> float:
        return self._system.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._system.call_at(when - self.offset, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self._system.call_later(delay, callback)


def _skew_the_host(offset: float) -> None:
    """Move this process's wall clock (`time.time`, which leases, log lines and the
    PostgreSQL store's measure of its offset to the server read) by `offset`; the
    effects keep the true time (`_wall`)."""
    time.time = lambda: _wall() + offset


class HostClock(SystemClock):
    """The engine's clock on a host whose wall clock `_skew_the_host` moved: reads
    `time.time` as it is now (SystemClock's `now` is the function it was at import)."""

    def now(self) -> float:
        return time.time()


_clock: Clock | None = None
if CLOCK_OFFSET and os.environ.get("DURABLE_CLOCK_SKEW", "engine") == "host":
    _skew_the_host(CLOCK_OFFSET)
    _clock = HostClock()
elif CLOCK_OFFSET:
    _clock = OffsetClock(CLOCK_OFFSET)
engine = Engine(
    os.environ.get("DURABLE_DB", "crash.db"),
    lease=LEASE,
    in_memory_wait=0.25,
    synchronous=SYNCHRONOUS,
    clock=_clock,
)
install_from_environment()  # DURABLE_CRASH_AT=k: exit at persistence point k
plant.install_from_environment()  # DURABLE_PLANT=name: break the engine on purpose

_AMO = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=RetryPresets.fixed(0.05, max_attempts=50),
)
_ALO = StepConfig(retry_strategy=RetryPresets.fixed(0.05, max_attempts=50))
_DEFER = StepConfig(defer_commit=True, retry_strategy=RetryPresets.fixed(0.05, max_attempts=50))
RETRY_DELAY = 0.5
_FLAKY = StepConfig(retry_strategy=RetryPresets.fixed(RETRY_DELAY, max_attempts=10))


def record(kind: str, phase: str, step: StepContext, **extra: Any) -> None:
    line = {
        "k": kind,
        "ph": phase,
        "x": step.execution_id,
        "op": step.operation_id,
        "a": step.attempt,
        "pid": os.getpid(),
        "t": _wall(),
        **extra,
    }
    data = (json.dumps(line) + "\n").encode()
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)  # one append of less than PIPE_BUF: never interleaved
    finally:
        os.close(fd)


def body(kind: str, value: Any, **extra: Any) -> Any:
    """A step body that records its start and end around a short random pause;
    `extra` goes into both records (a wait's `mark` or `fired`)."""

    def run(step: StepContext) -> Any:
        record(kind, "start", step, **extra)
        time.sleep(random.uniform(0, BODY_SECONDS))
        record(kind, "end", step, **extra)
        return value

    return run


def traced_body(kind: str, stall: float | None = None, **extra: Any) -> Any:
    """A step body whose result names its run ("pid:start-time").

    It runs on the event loop and blocks it (as a long GC pause or a CPU-bound call
    would): a process paused in it resumes by finishing the body and writing its
    result before its heartbeat can notice that the lease was lost, so only the
    fence stands between that write and the database. `stall` seconds on the
    first run of the operation only; else a short random pause.
    """

    async def run(step: StepContext) -> str:
        token = f"{os.getpid()}:{_wall():.6f}"
        seconds = random.uniform(0, BODY_SECONDS)
        if stall is not None:
            seen = any(
                r.get("x") == step.execution_id and r.get("op") == step.operation_id
                for r in _effects()
            )
            seconds = 0.0 if seen else stall
        record(kind, "start", step, tok=token, **extra)
        time.sleep(seconds)  # noqa: ASYNC251 - blocks the loop on purpose
        record(kind, "end", step, tok=token, **extra)
        return token

    return run


def chained_body(previous: str) -> Any:
    """An at-least-once body whose result names the run of the step before it and its
    own ("<previous token>><token>"), recorded as kind "alo" with its token."""

    async def run(step: StepContext) -> str:
        token = f"{os.getpid()}:{_wall():.6f}"
        record("alo", "start", step, tok=token)
        time.sleep(random.uniform(0, BODY_SECONDS / 5))  # noqa: ASYNC251 - a body's work
        record("alo", "end", step, tok=token)
        return f"{previous}>{token}"

    return run


def _effects() -> list[dict[str, Any]]:
    try:
        with open(EFFECTS) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


@engine.durable_function(name="stall")
async def stall(ctx: DurableContext, seconds: float) -> dict[str, str]:
    """A first step that stalls its process for `seconds`, a wait, then a second step."""
    first = await ctx.step(traced_body("alo", stall=seconds), name="stall", config=_ALO)
    await ctx.wait(1.5, name="settle")
    tail = await ctx.step(traced_body("alo"), name="tail", config=_ALO)
    return {"stall": first, "tail": tail}


@engine.durable_function(name="traced")
async def traced(ctx: DurableContext, n: int) -> dict[str, Any]:
    """Each step's result names the run that produced it: a stale write that overwrote a
    recorded step would show as a stored result that differs from what the workflow saw."""
    t1 = await ctx.step(traced_body("alo", mark="pause", d=0.4), name="t1", config=_ALO)
    await ctx.wait(0.4, name="pause")
    t2 = await ctx.step(traced_body("amo", fired="pause"), name="t2", config=_AMO)
    t3 = await ctx.step(traced_body("alo"), name="t3", config=_ALO)
    return {"n": n, "tokens": {"1": t1, "3": t2, "4": t3}}


@engine.durable_function(name="steps")
async def steps(ctx: DurableContext, n: int) -> list[int]:
    a = await ctx.step(body("alo", n + 1, mark="between", d=0.8), name="s1", config=_ALO)
    await ctx.wait(0.8, name="between")
    b = await ctx.step(body("amo", a * 2, fired="between"), name="s2", config=_AMO)
    c = await ctx.step(body("alo", b + 3), name="s3", config=_ALO)
    return [a, b, c]


@engine.durable_function(name="waits")
async def waits(ctx: DurableContext, n: int) -> int:
    first = 1.0 + 0.4 * (n % 5)
    await ctx.step(body("alo", None, mark="w1", d=first), name="before_w1", config=_ALO)
    await ctx.wait(first, name="w1")
    await ctx.step(body("fired", None, fired="w1", mark="w2", d=0.1), name="after_w1", config=_ALO)
    await ctx.wait(0.1, name="w2")  # short: stays in memory
    await ctx.step(body("fired", None, fired="w2"), name="after_w2", config=_ALO)
    return n * 10


@engine.durable_function(name="retries")
async def retries(ctx: DurableContext, n: int) -> str:
    def flaky(step: StepContext) -> str:
        record("flaky", "start", step)
        if step.attempt < 3:
            record("flaky", "fail", step)
            raise ConnectionError(f"attempt {step.attempt} failed")
        record("flaky", "end", step)
        return f"ok-{n}"

    return await ctx.step(flaky, name="flaky", config=_FLAKY)


@engine.durable_function(name="approval")
async def approval(ctx: DurableContext, n: int) -> dict[str, Any]:
    def submit(callback_id: str, step: StepContext) -> None:
        record("callback", "start", step, callback_id=callback_id, n=n)

    answer = await ctx.wait_for_callback(
        submit, name="approve", config=WaitForCallbackConfig(timeout=600)
    )
    done = await ctx.step(body("alo", "done"), name="after", config=_ALO)
    return {"n": n, "answer": answer, "done": done}


@engine.durable_function(name="fanout")
async def fanout(ctx: DurableContext, n: int) -> list[int]:
    async def item(child: DurableContext, x: int, index: int, items: Sequence[int]) -> int:
        nap = f"nap{x}"
        y = await child.step(body("alo", x * x, mark=nap, d=0.15), name="square", config=_ALO)
        await child.wait(0.15, name="nap")
        return await child.step(body("amo", y + 1, fired=nap), name="plus", config=_AMO)

    result = await ctx.map(list(range(n % 3 + 3)), item, config=MapConfig(max_concurrency=2))
    return result.get_results()


@engine.durable_function(name="branches")
async def branches(ctx: DurableContext, n: int) -> list[Any]:
    async def left(child: DurableContext) -> int:
        return await child.step(body("alo", n - 1), name="left", config=_ALO)

    async def right(child: DurableContext) -> int:
        await child.wait(0.2, name="pause")
        return await child.step(body("amo", n + 1), name="right", config=_AMO)

    result = await ctx.parallel([ParallelBranch(left, "left"), ParallelBranch(right, "right")])
    return result.get_results()


@engine.durable_function(name="parent")
async def parent(ctx: DurableContext, n: int) -> dict[str, Any]:
    child = await ctx.invoke("steps", n, name="child")
    return {"child": child, "tail": await ctx.step(body("alo", n), name="tail", config=_ALO)}


@engine.durable_function(name="deferred")
async def deferred(ctx: DurableContext, n: int) -> dict[str, Any]:
    """Deferred steps between the barriers that wait for them (an at-most-once step, a
    wait, the end), in one chain: each names the run of the step before it, so a step
    that ran again after a crash, or a checkpoint that landed without the one before
    it, shows as a broken chain."""
    links: list[str] = []

    async def chain(count: int, prefix: str) -> None:
        for i in range(count):
            previous = links[-1].split(">")[1] if links else "start"
            links.append(await ctx.step(chained_body(previous), name=f"{prefix}{i}", config=_DEFER))

    await chain(3, "a")
    await ctx.step(body("amo", n), name="amo", config=_AMO)
    await chain(3, "b")
    await ctx.wait(0.3, name="pause")
    await chain(2, "c")
    return {"n": n, "links": links}


def expected(function: str, n: int) -> Any:
    """The result each workflow gives when nothing goes wrong."""
    if function == "steps":
        return [n + 1, (n + 1) * 2, (n + 1) * 2 + 3]
    if function == "waits":
        return n * 10
    if function == "retries":
        return f"ok-{n}"
    if function == "approval":
        return {"n": n, "answer": {"approved": n}, "done": "done"}
    if function == "fanout":
        return [x * x + 1 for x in range(n % 3 + 3)]
    if function == "branches":
        return [n - 1, n + 1]
    if function == "parent":
        return {"child": expected("steps", n), "tail": n}
    if function in ("traced", "deferred"):
        return None  # run-specific tokens: checked against the stored steps instead
    raise ValueError(function)


FUNCTIONS = (
    "steps",
    "waits",
    "retries",
    "approval",
    "fanout",
    "branches",
    "parent",
    "traced",
    "deferred",
)
