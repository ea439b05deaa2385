"""A worker app for clock tests: SIGUSR1 jumps this process's wall clock forward.

A host's wall clock jumping moves everything in a process that reads it and nothing
that reads the monotonic clock. So here `time.time` is replaced by a reading that
SIGUSR1 moves forward by $CLOCK_JUMP seconds, and the engine's injected `Clock` reads
the same. Each step body appends `start <pid>` and `end <pid>` to $CLOCK_EFFECTS, and
holds until the file $CLOCK_RELEASE exists.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType

from durable_engine import (
    DurableContext,
    Engine,
    RetryPresets,
    StepConfig,
    StepContext,
    StepSemantics,
    SystemClock,
)

JUMP = float(os.environ.get("CLOCK_JUMP", "3600"))
EFFECTS = Path(os.environ.get("CLOCK_EFFECTS", "effects.txt"))
RELEASE = Path(os.environ.get("CLOCK_RELEASE", "release"))

_real_time = time.time
_shift = 0.0


def wall() -> float:
    """This process's wall clock: the real one, moved by every jump so far."""
    return _real_time() + _shift


def _jump(signum: int, frame: FrameType | None) -> None:
    global _shift
    _shift += JUMP


class JumpedClock(SystemClock):
    """The system clock, with the wall-clock reading of this process."""

    now = staticmethod(wall)


time.time = wall
signal.signal(signal.SIGUSR1, _jump)

engine = Engine(
    os.environ.get("CLOCK_DB", "clock.db"),
    lease=float(os.environ.get("CLOCK_LEASE", "2")),
    clock=JumpedClock(),
)


def _record(line: str) -> None:
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def hold(step: StepContext) -> str:
    _record(f"start {os.getpid()}")
    while not RELEASE.exists():
        time.sleep(0.02)
    _record(f"end {os.getpid()}")
    return "held"


@engine.durable_function(name="hold_at_most_once")
async def hold_at_most_once(ctx: DurableContext, n: int) -> str:
    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RetryPresets.none()
    )
    return await ctx.step(hold, name="hold", config=config)


@engine.durable_function(name="hold_at_least_once")
async def hold_at_least_once(ctx: DurableContext, n: int) -> str:
    return await ctx.step(hold, name="hold")
