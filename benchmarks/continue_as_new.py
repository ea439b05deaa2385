"""The cost of an iteration of a long loop, with and without continue-as-new.

    python benchmarks/continue_as_new.py [--iterations 10000] [--every 100]
                                         [--baseline-iterations 400] [--json PATH]

One execution loops: each iteration is a step and a short wait, and the wait
suspends it (`in_memory_wait=0`), so every iteration resumes by replaying the run's
history. With continue-as-new every `--every` iterations the history stays short and
an iteration costs the same at the end as at the start; the same loop without it (the
baseline, measured in the same run) replays a history that grows with every
iteration. Each figure is the mean time between consecutive steps' bodies over the
first and the last 100 iterations, in wall-clock time and in this process's CPU time
(all its threads); the ratio last / first of the CPU time is what should stay near 1.
CPU time is the row's figure because the machine is shared: other jobs' load moves
wall-clock time by several times within one run, and moves CPU time much less. Prints
a table and the machine's load, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from durable_engine import DurableContext, Engine, StepContext  # noqa: E402

try:
    from .suite import Sample
except ImportError:  # run as a script
    from benchmarks.suite import Sample

__all__ = ["continue_as_new", "loop_costs", "main"]

WINDOW = 100
"""Iterations at each end whose mean cost is compared."""
PAUSE = 0.001
"""Seconds each iteration waits: enough to suspend, short beside the work."""


async def loop_costs(db: str, iterations: int, every: int | None) -> dict[str, Any]:
    """Run the loop on a fresh engine on `db`; the mean ms per iteration over its first and
    last `WINDOW` iterations (continuing as new every `every`, or never if None)."""
    stamps: list[tuple[float, float]] = []
    engine = Engine(db, in_memory_wait=0)

    def stamp(s: StepContext) -> int:
        stamps.append((time.perf_counter(), time.process_time()))
        return len(stamps)

    @engine.durable_function(name="loop")
    async def loop(ctx: DurableContext, state: dict[str, int]) -> int:
        i = state["i"]
        while i < state["n"]:
            await ctx.step(stamp, name="work")
            await ctx.wait(PAUSE, name="pause")
            i += 1
            if every is not None and i % every == 0 and i < state["n"]:
                await ctx.continue_as_new({"i": i, "n": state["n"]})
        return i

    async with engine:
        handle = await engine.start("loop", {"i": 0, "n": iterations})
        assert await handle.result() == iterations
        info = await engine.get_execution(handle.execution_id)
    figures: dict[str, Any] = {
        "iterations": iterations,
        "continue_every": every,
        "runs": info.run_number,
        "seconds": round(stamps[-1][0] - stamps[0][0], 3),
    }
    for clock, at in (("wall", 0), ("cpu", 1)):
        gaps = [(b[at] - a[at]) * 1000 for a, b in itertools.pairwise(stamps)]
        window = min(WINDOW, len(gaps) // 2)
        first, last = sum(gaps[:window]) / window, sum(gaps[-window:]) / window
        figures[f"{clock}_first_ms"] = round(first, 3)
        figures[f"{clock}_last_ms"] = round(last, 3)
        figures[f"{clock}_ratio"] = round(last / first, 3)
    figures["ratio"] = figures["cpu_ratio"]
    return figures


async def _measure(iterations: int, every: int, baseline_iterations: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        await loop_costs(os.path.join(tmp, "warm-up.db"), 2 * WINDOW, WINDOW)  # not counted
        continued = await loop_costs(os.path.join(tmp, "continued.db"), iterations, every)
        plain = await loop_costs(os.path.join(tmp, "plain.db"), baseline_iterations, None)
    return {"continue_as_new": continued, "without": plain}


def continue_as_new(n: int) -> Sample:
    """The suite's row: the last / first CPU cost ratio of `n` iterations continuing
    every 100, beside the same ratio of a loop of min(n, 400) iterations that never does."""
    figures = asyncio.run(_measure(n, WINDOW, min(n, 400)))
    return Sample(figures["continue_as_new"]["ratio"], figures["without"]["ratio"], figures)


def _table(figures: dict[str, Any]) -> str:
    lines = [
        "| loop | iterations | runs | wall ms/iter, first 100 -> last 100 | CPU ms/iter, "
        "first 100 -> last 100 | CPU last / first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("continue-as-new", "continue_as_new"), ("without", "without")):
        f = figures[key]
        every = f"every {f['continue_every']}" if f["continue_every"] else "never continues"
        lines.append(
            f"| {label} ({every}) | {f['iterations']:,} | {f['runs']} "
            f"| {f['wall_first_ms']:.2f} -> {f['wall_last_ms']:.2f} "
            f"| {f['cpu_first_ms']:.2f} -> {f['cpu_last_ms']:.2f} | {f['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=WINDOW, help="continue as new every N")
    parser.add_argument("--baseline-iterations", type=int, default=400)
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "continue_as_new.json")
    )
    args = parser.parse_args()
    if min(args.iterations, args.baseline_iterations) < 2 * WINDOW or args.every < 1:
        parser.error(f"iterations must be at least {2 * WINDOW}, --every at least 1")
    load_before = os.getloadavg()
    figures = asyncio.run(_measure(args.iterations, args.every, args.baseline_iterations))
    figures["load_before"] = [round(x, 2) for x in load_before]
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(_table(figures))
    print(f"load average before {figures['load_before']}, after {figures['load_after']}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
