"""Memory rows: N executions started at once, each suspending on a long wait.

Each run is a process of its own (`python -m benchmarks.memory peak|held N DB`), so
its resident set holds nothing from earlier rows. The child opens an engine, runs a
few executions to warm up, and notes its resident set (`before`, the baseline);
then it starts N executions at once (`asyncio.gather` of N `engine.start`), each of
which waits a day, and waits until the database holds all N as SUSPENDED.

- `peak`: the highest resident set the process reached (`ru_maxrss`) less `before`.
- `held`: the resident set once all N are suspended, the start handles dropped and
  the cyclic collector run, less `before`: what the engine keeps for executions
  that are in the database, not in memory, plus what the allocator kept of the peak
  (its details add `held_after_trim_mb`, measured again after glibc's `malloc_trim`
  hands free memory back, where there is one).

Beside each, another process measures what the same `asyncio.gather` costs with no
engine at all: N bare coroutines, each awaiting one future through a call as deep as
`engine.start`'s first await (`gather`: its peak and its held growth). That part of
the figure is the caller's, not the engine's; the note under the row gives it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from durable_engine import DurableContext, Engine

from .suite import Sample

__all__ = ["gather_note", "held", "peak"]

_ROOT = Path(__file__).resolve().parents[1]
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MB = 1024 * 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / _MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _suspended(db: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM executions WHERE status = 'SUSPENDED'"
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def _trimmed_rss_mb() -> float | None:
    """The resident set after glibc's `malloc_trim(0)`, or None without glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        return None
    return _rss_mb()


async def _child(n: int, db: str) -> dict[str, float | None]:
    engine = Engine(db)

    @engine.durable_function(name="sleeper")
    async def sleeper(ctx: DurableContext, x: int) -> int:
        await ctx.wait(timedelta(days=1), name="long")
        return x

    async with engine:
        warm = await asyncio.gather(*(engine.start("sleeper", i) for i in range(100)))
        while _suspended(db) < len(warm):  # noqa: ASYNC110 - a state in the database file
            await asyncio.sleep(0.05)
        del warm
        gc.collect()
        before = _rss_mb()
        began = time.perf_counter()
        handles = await asyncio.gather(*(engine.start("sleeper", i) for i in range(n)))
        started = time.perf_counter() - began
        while await asyncio.to_thread(_suspended, db) < n + 100:  # noqa: ASYNC110 - a state in the database file
            await asyncio.sleep(0.1)
        suspended = time.perf_counter() - began
        del handles
        gc.collect()
        after = _rss_mb()
        peak = _peak_mb()
        trimmed = _trimmed_rss_mb()
    return {
        "before_mb": before,
        "peak_growth_mb": peak - before,
        "held_mb": after - before,
        "held_after_trim_mb": None if trimmed is None else trimmed - before,
        "starts_seconds": started,
        "all_suspended_seconds": suspended,
    }


async def _bare_gather(n: int) -> dict[str, float | None]:
    """`_child`'s gather with no engine: N coroutines awaiting one future, two calls deep."""

    async def commit(done: asyncio.Future[None]) -> None:
        await done

    async def start(done: asyncio.Future[None]) -> None:
        await commit(done)

    gc.collect()
    before = _rss_mb()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.5, done.set_result, None)
    await asyncio.gather(*(start(done) for _ in range(n)))
    gc.collect()
    after = _rss_mb()
    trimmed = _trimmed_rss_mb()
    return {
        "before_mb": before,
        "peak_growth_mb": _peak_mb() - before,
        "held_mb": after - before,
        "held_after_trim_mb": None if trimmed is None else trimmed - before,
    }


def _figures(*args: str) -> dict[str, float | None]:
    """What `python -m benchmarks.memory *args` printed, in a process of its own."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the memory run failed: {proc.stderr[-2000:]}")
    figures: dict[str, float | None] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _run_child(what: str, n: int) -> Sample:
    key = "peak_growth_mb" if what == "peak" else "held_mb"
    with tempfile.TemporaryDirectory() as tmp:
        figures = _figures(str(n), os.path.join(tmp, "m.db"))
    bare = _figures("gather", str(n))
    value, before = figures[key], figures["before_mb"]
    assert value is not None and before is not None
    return Sample(value, before, {**figures, "gather_mb": bare[key]})


def gather_note(details: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    """The caller's own share: a bare gather of as many coroutines (median of runs)."""
    bare = statistics.median(d["gather_mb"] for d in details)
    return f"of which a bare asyncio.gather of as many coroutines: +{bare:.0f} MB", True


def peak(n: int) -> Sample:
    return _run_child("peak", n)


def held(n: int) -> Sample:
    return _run_child("held", n)


if __name__ == "__main__":
    if sys.argv[1] == "gather":
        print(json.dumps(asyncio.run(_bare_gather(int(sys.argv[2])))))
    else:
        print(json.dumps(asyncio.run(_child(int(sys.argv[1]), sys.argv[2]))))
