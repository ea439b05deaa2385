"""Checkpoint throughput beside the raw limit of aiosqlite writes, measured in the same run.

    python benchmarks/checkpoint_throughput.py [--steps 1000] [--executions 1000] [--json PATH]

(a) one execution running N trivial steps back to back: each step is one commit;
(b) M executions of 10 steps each started at once: their checkpoints share commits.
The raw limit: plain aiosqlite, one INSERT + COMMIT per row, and executemany in
batches of 100 rows, with rows the size of a step checkpoint. The same workloads are
rows of the suite (`python -m benchmarks --only sequential,checkpoints_gathered`),
which this script shares its code with; it adds the sync-step case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the suite's package is beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines import raw_executemany, raw_one_commit_per_row
from benchmarks.throughput import concurrent_executions, sequential_steps

__all__ = ["concurrent_executions", "raw_executemany", "raw_one_commit_per_row", "sequential_steps"]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:

        def db(name: str) -> str:
            return os.path.join(tmp, name)

        raw_row = await raw_one_commit_per_row(db("raw1.db"), args.steps)
        raw_many = await raw_executemany(db("raw2.db"), args.executions * 10)
        seq_async = await sequential_steps(db("a.db"), args.steps, sync=False)
        seq_sync = await sequential_steps(db("a2.db"), args.steps, sync=True)
        conc = await concurrent_executions(db("b.db"), args.executions, 10)
    return {
        "raw_one_commit_per_row": raw_row,
        "raw_executemany_100": raw_many,
        "sequential_async_steps": seq_async,
        "sequential_sync_steps": seq_sync,
        "concurrent_checkpoints": conc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "checkpoint_throughput.json")
    )
    args = parser.parse_args()
    runs = [asyncio.run(measure(args)) for _ in range(args.repeat)]
    best = {key: max(run[key] for run in runs) for key in runs[0]}
    raw_row, raw_many = best["raw_one_commit_per_row"], best["raw_executemany_100"]
    rows = [
        ("raw: aiosqlite INSERT+COMMIT per row", best["raw_one_commit_per_row"], raw_row, ""),
        ("raw: aiosqlite executemany x100", best["raw_executemany_100"], raw_many, ""),
        (
            f"(a) 1 execution, {args.steps} async steps",
            best["sequential_async_steps"],
            raw_row,
            ">= 0.8x per-row",
        ),
        (
            f"(a') 1 execution, {args.steps} sync steps (thread)",
            best["sequential_sync_steps"],
            raw_row,
            "",
        ),
        (
            f"(b) {args.executions} executions x 10 steps",
            best["concurrent_checkpoints"],
            raw_many,
            ">= 50,000/s",
        ),
    ]
    print(
        f"checkpoint throughput (best of {args.repeat}; python {platform.python_version()},"
        f" sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus)"
    )
    print(f"{'case':46} {'per second':>12} {'ratio':>8}  target")
    for label, value, base, target in rows:
        print(f"{label:46} {value:12,.0f} {value / base:7.2f}x  {target}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "cpus": os.cpu_count(),
                "steps": args.steps,
                "executions": args.executions,
                "per_second": best,
                "ratios": {
                    "sequential_vs_raw_per_row": best["sequential_async_steps"] / raw_row,
                    "concurrent_vs_raw_executemany": best["concurrent_checkpoints"] / raw_many,
                },
            },
            indent=2,
        )
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
