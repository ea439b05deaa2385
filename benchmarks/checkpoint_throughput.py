"""Checkpoint throughput beside the raw limit of aiosqlite writes, measured in the same run.

    python benchmarks/checkpoint_throughput.py [--steps 1000] [--executions 1000] [--json PATH]

(a) one execution running N trivial steps back to back: each step is one commit;
(b) M executions of 10 steps each started at once: their checkpoints share commits.
The raw limit: plain aiosqlite, one INSERT + COMMIT per row, and executemany in
batches of 100 rows, with rows the size of a step checkpoint.
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
import time
from pathlib import Path
from typing import Any

import aiosqlite

from durable_engine import DurableContext, Engine, StepContext

ROW_BLOB = b"\x01\x00\x00" + b"x" * 8  # a small serialized result, like a step's


async def _raw_table(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS ops (execution_id TEXT, op_id TEXT, type TEXT, name TEXT,"
        " status TEXT, attempt INTEGER, result BLOB, started_at REAL, ended_at REAL,"
        " PRIMARY KEY (execution_id, op_id)) WITHOUT ROWID"
    )
    return conn


def _row(i: int) -> tuple[Any, ...]:
    return ("e" * 32, str(i), "STEP", f"s{i}", "SUCCEEDED", 1, ROW_BLOB, time.time(), time.time())


async def raw_one_commit_per_row(path: str, n: int) -> float:
    conn = await _raw_table(path)
    conn.isolation_level = ""  # aiosqlite's default: INSERT opens a transaction, commit() ends it
    sql = "INSERT INTO ops VALUES (?,?,?,?,?,?,?,?,?)"
    start = time.perf_counter()
    for i in range(n):
        await conn.execute(sql, _row(i))
        await conn.commit()
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def raw_executemany(path: str, n: int, batch: int = 100) -> float:
    conn = await _raw_table(path)
    sql = "INSERT INTO ops VALUES (?,?,?,?,?,?,?,?,?)"
    start = time.perf_counter()
    for first in range(0, n, batch):
        await conn.execute("BEGIN")
        await conn.executemany(sql, [_row(i) for i in range(first, min(first + batch, n))])
        await conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def sequential_steps(path: str, n: int, *, sync: bool) -> float:
    engine = Engine(path)

    async def async_body(s: StepContext) -> int:
        return s.attempt

    def sync_body(s: StepContext) -> int:
        return s.attempt

    body = sync_body if sync else async_body

    @engine.durable_function(name="sequential")
    async def sequential(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(body, name=f"s{i}")
        return count

    async with engine:
        start = time.perf_counter()
        await engine.run("sequential", n)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def concurrent_executions(path: str, executions: int, steps: int) -> float:
    engine = Engine(path)

    async def body(s: StepContext) -> int:
        return s.attempt

    @engine.durable_function(name="ten_steps")
    async def ten_steps(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(body, name=f"s{i}")
        return count

    async with engine:
        start = time.perf_counter()
        handles = await asyncio.gather(
            *(engine.start("ten_steps", steps) for _ in range(executions))
        )
        await asyncio.gather(*(h.result() for h in handles))
        elapsed = time.perf_counter() - start
    return executions * steps / elapsed


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
