"""The longest write lock a purge holds while 8 workers run on the same file.

    python benchmarks/purge_lock.py [--ended 5000] [--json PATH]

Seeds `--ended` ended executions (three steps and a callback each), starts two worker
processes of four engines each that run short workflows (a step, then a short wait)
without pause, then purges everything seeded from this process and times every purge
transaction on the database thread: from the moment `BEGIN IMMEDIATE` holds the lock
to just after `COMMIT`. Prints the figures and the machine's load, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from durable_engine import DurableContext, Engine, SqliteStore  # noqa: E402
from durable_engine._store import group_commit  # noqa: E402

WORKERS = """
import asyncio, sys
from durable_engine import DurableContext, Engine

async def main(path, engines, seconds):
    made = [Engine(path, in_memory_wait=0) for _ in range(engines)]
    for engine in made:
        @engine.durable_function(name="busy")
        async def busy(ctx: DurableContext, n: int) -> int:
            await ctx.step(lambda s: n, name="one")
            await ctx.wait(0.01, name="pause")
            return await ctx.step(lambda s: n + 1, name="two")
    for engine in made:
        await engine.open()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    done = 0

    async def keep_busy(engine):
        nonlocal done
        while loop.time() < end:
            await engine.run("busy", 1)
            done += 1

    await asyncio.gather(*(keep_busy(e) for e in made for _ in range(4)))
    for engine in made:
        await engine.close()
    print(done)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


async def seed(path: Path, count: int) -> None:
    engine = Engine(path, in_memory_wait=0)

    @engine.durable_function(name="seeded")
    async def seeded(ctx: DurableContext, n: int) -> int:
        for i in range(3):
            await ctx.step(lambda s: n, name=f"s{i}")
        return n

    async with engine:
        for start in range(0, count, 500):
            handles = [await engine.start(seeded, n) for n in range(start, start + 500)]
            for h in handles:
                await h.result()


async def purge(path: Path, holds: list[float], before: datetime) -> int:
    began: list[float] = []
    original = group_commit._begin

    def timed_begin(conn: object) -> None:
        original(conn)  # type: ignore[arg-type]
        began.append(time.perf_counter())

    def hook(where: str) -> None:
        if where == "after commit" and began:
            holds.append(time.perf_counter() - began.pop())

    engine = Engine(path, lease=3600)
    engine.serve = False
    async with engine:
        group_commit._begin = timed_begin
        SqliteStore.set_persistence_hook(hook)
        try:
            return await engine.purge(before)  # the seeded ones, not the workers'
        finally:
            SqliteStore.set_persistence_hook(None)
            group_commit._begin = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ended", type=int, default=5000)
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "purge_lock.json")
    )
    args = parser.parse_args()
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"purge-lock-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "purge.db"
    asyncio.run(seed(path, args.ended))
    seeded_by = datetime.now(UTC)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKERS, str(path), "4", "20"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(3)  # the workers are up and busy
    holds: list[float] = []
    load_before = os.getloadavg()
    started = time.perf_counter()
    purged = asyncio.run(purge(path, holds, seeded_by))
    took = time.perf_counter() - started
    load_after = os.getloadavg()
    runs = sum(int(p.communicate()[0].strip() or 0) for p in procs)
    holds.sort()
    figures = {
        "ended_seeded": args.ended,
        "purged": purged,
        "transactions": len(holds),
        "longest_lock_ms": round(holds[-1] * 1000, 2),
        "median_lock_ms": round(holds[len(holds) // 2] * 1000, 2),
        "five_longest_ms": [round(h * 1000, 2) for h in holds[-5:]],
        "purge_seconds": round(took, 2),
        "worker_runs_meanwhile_total": runs,
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpus": os.cpu_count(),
    }
    for key, value in figures.items():
        print(f"{key:<28} {value}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
