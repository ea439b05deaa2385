"""Map throughput beside the concurrent checkpoint figure and the raw aiosqlite limit.

    python benchmarks/map_throughput.py [--items 10000] [--json PATH]

One execution maps over N items, one step each (each item commits three
checkpoints: its child context as it begins, its step, and the context's outcome).
In the same run: 1,000 executions of 10 steps each at once (the core benchmark's
concurrent case), and the raw aiosqlite limits, one INSERT+COMMIT per row and
executemany in batches of 100 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the suite's package is beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines import raw_executemany, raw_one_commit_per_row
from benchmarks.throughput import concurrent_executions
from durable_engine import DurableContext, Engine, MapConfig, StepContext


async def map_items(path: str, n: int, max_concurrency: int | None) -> float:
    engine = Engine(path)

    async def one(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
        async def body(s: StepContext) -> int:
            return item + 1

        return await ctx.step(body, name="work")

    @engine.durable_function(name="mapper")
    async def mapper(ctx: DurableContext, count: int) -> int:
        result = await ctx.map(
            list(range(count)), one, config=MapConfig(max_concurrency=max_concurrency)
        )
        return result.success_count

    async with engine:
        start = time.perf_counter()
        done = await engine.run("mapper", n)
        elapsed = time.perf_counter() - start
    assert done == n
    return n / elapsed


async def measure(items: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return {
            "raw_one_commit_per_row": await raw_one_commit_per_row(
                os.path.join(tmp, "raw1.db"), 5_000
            ),
            "raw_executemany_100": await raw_executemany(os.path.join(tmp, "raw.db"), 10_000),
            "concurrent_checkpoints": await concurrent_executions(
                os.path.join(tmp, "b.db"), 1000, 10
            ),
            "map_items": await map_items(os.path.join(tmp, "m.db"), items, None),
            "map_items_concurrency_100": await map_items(os.path.join(tmp, "m2.db"), items, 100),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "map_throughput.json")
    )
    args = parser.parse_args()
    figures = asyncio.run(measure(args.items))
    base = figures["concurrent_checkpoints"]
    print(f"{'case':52} {'per second':>12} {'vs concurrent':>14}")
    rows = [
        ("raw: aiosqlite INSERT+COMMIT per row (rows/s)", "raw_one_commit_per_row"),
        ("raw: aiosqlite executemany x100 (rows/s)", "raw_executemany_100"),
        ("1000 executions x 10 steps (checkpoints/s)", "concurrent_checkpoints"),
        (f"map over {args.items} items, 1 step each (items/s)", "map_items"),
        ("same, max_concurrency=100 (items/s)", "map_items_concurrency_100"),
    ]
    for label, key in rows:
        print(f"{label:52} {figures[key]:12,.0f} {figures[key] / base:13.2f}x")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"items": args.items, "per_second": figures}, indent=2))


if __name__ == "__main__":
    main()
