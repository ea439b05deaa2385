"""What checking a database file costs as an engine opens it (`check_on_open`).

    python benchmarks/check_on_open.py [--mb 200] [--runs 3] [--json PATH]

Seeds a file of about `--mb` megabytes (executions of a two-step workflow, each with
a 2 KB input, run by an engine, then copied with SQL until the file is big enough),
then times opening and closing a read-only engine on it with `check_on_open="none"`
(the baseline: opening alone), "quick" and "full", the median of `--runs`. The file
was just written, so it is read from the page cache: a cold read adds the disk's time
to read the whole file once. Prints a table and the machine's load, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from durable_engine import DurableContext, Engine  # noqa: E402


async def _seed(path: Path, megabytes: int) -> int:
    engine = Engine(path)

    @engine.durable_function(name="order")
    async def order(ctx: DurableContext, data: str) -> int:
        first = await ctx.step(lambda s: len(data), name="measure")
        return await ctx.step(lambda s: first * 2, name="double")

    async with engine:
        await asyncio.gather(*(engine.run(order, "x" * 2048) for _ in range(500)))
    return _grow(path, megabytes)


def _grow(path: Path, megabytes: int) -> int:
    """Copy the executions and their operations (new ids) until the file is big enough."""
    conn = sqlite3.connect(path, isolation_level=None)
    copies = 0
    while path.stat().st_size < megabytes * 1024 * 1024:
        copies += 1
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO operations SELECT execution_id || ?, op_id, parent_id, type, name,"
            " status, attempt, result, error, started_at, ended_at, wake_at, ref"
            " FROM operations WHERE length(execution_id) = 32",
            (f"-{copies}",),
        )
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS t AS SELECT * FROM executions WHERE 0")
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t SELECT * FROM executions WHERE length(execution_id) = 32")
        conn.execute("UPDATE t SET execution_id = execution_id || ?, name = NULL", (f"-{copies}",))
        conn.execute("INSERT INTO executions SELECT * FROM t")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (count,) = conn.execute("SELECT COUNT(*) FROM executions").fetchone()
    conn.close()
    return int(count)


async def _open_close(path: Path, check: str) -> float:
    began = time.perf_counter()
    async with Engine(path, check_on_open=check, read_only=True):
        pass
    return time.perf_counter() - began


async def main(megabytes: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.db"
        executions = await _seed(path, megabytes)
        size = path.stat().st_size
        seconds: dict[str, float] = {}
        for check in ("none", "quick", "full"):
            seconds[check] = statistics.median(
                [await _open_close(path, check) for _ in range(runs)]
            )
    base = seconds["none"]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": [round(x, 2) for x in os.getloadavg()],
        "size_bytes": size,
        "executions": executions,
        "runs": runs,
        "seconds": seconds,
        "ratio_to_none": {k: v / base for k, v in seconds.items()},
        "mb_per_second": {
            k: size / 1e6 / (v - base) for k, v in seconds.items() if k != "none" and v > base
        },
    }


def _table(result: dict[str, object]) -> str:
    seconds = result["seconds"]
    ratio = result["ratio_to_none"]
    rate = result["mb_per_second"]
    size = result["size_bytes"]
    assert isinstance(seconds, dict) and isinstance(ratio, dict) and isinstance(rate, dict)
    assert isinstance(size, int)
    lines = [
        f"file: {size / 1e6:.0f} MB, {result['executions']} executions; "
        f"median of {result['runs']}; load average {result['load']}",
        "| check_on_open | open + close (s) | x none | MB/s checked |",
        "|---|---|---|---|",
    ]
    for check in ("none", "quick", "full"):
        mbps = f"{rate[check]:.0f}" if check in rate else "-"
        lines.append(f"| {check} | {seconds[check]:.3f} | {ratio[check]:.1f} | {mbps} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="the file's size in MB (200)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each check (3)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    result = asyncio.run(main(args.mb, args.runs))
    print(_table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
