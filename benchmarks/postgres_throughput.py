"""Checkpoint throughput on PostgreSQL beside the raw limit of asyncpg, in the same run.

    python benchmarks/postgres_throughput.py [--url postgresql://...] [--executions 1000]
        [--repeat 3] [--json PATH]

(b) M executions of 10 steps each started at once: their checkpoints share commits;
(c) M one-step executions started at once;
(d) M executions of 10 steps stored for worker processes, served by one
    `durable-engine worker` process, then by two: the speed-up of a second worker.
The raw limit: plain asyncpg, one INSERT per transaction, and executemany of 100 rows
per transaction, with rows the size of a step checkpoint. Without --url (a server's
maintenance database, e.g. postgresql://postgres@/postgres?host=/run/postgresql) a
throwaway local cluster is started, with fsync on as in production. Each case gets a
database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from durable_engine import DurableContext, Engine, StepContext

HERE = Path(__file__).resolve().parent

ROW_BLOB = b"\x01\x00\x00" + b"x" * 8  # a small serialized result, like a step's
_names = itertools.count()


@contextlib.asynccontextmanager
async def database(admin_url: str) -> AsyncIterator[str]:
    """A fresh database on the server of `admin_url`; yields its URL."""
    name = f"bench_{os.getpid()}_{next(_names)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            await admin.close()


async def _raw_table(url: str) -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS ops (execution_id text, op_id text, type text, name text,"
        " status text, attempt integer, result bytea, started_at float8, ended_at float8,"
        " PRIMARY KEY (execution_id, op_id))"
    )
    return conn


def _row(i: int) -> tuple[Any, ...]:
    return ("e" * 32, str(i), "STEP", f"s{i}", "SUCCEEDED", 1, ROW_BLOB, time.time(), time.time())


_INSERT = "INSERT INTO ops VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"


async def raw_one_insert_per_transaction(url: str, n: int) -> float:
    conn = await _raw_table(url)
    start = time.perf_counter()
    for i in range(n):
        await conn.execute(_INSERT, *_row(i))  # autocommit: a transaction each
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def raw_executemany(url: str, n: int, batch: int = 100) -> float:
    conn = await _raw_table(url)
    start = time.perf_counter()
    for first in range(0, n, batch):
        async with conn.transaction():
            await conn.executemany(_INSERT, [_row(i) for i in range(first, min(first + batch, n))])
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def concurrent_executions(url: str, executions: int, steps: int) -> float:
    """Checkpoints per second of `executions` runs of `steps` steps, started at once."""
    engine = Engine(url)

    async def body(s: StepContext) -> int:
        return s.attempt

    @engine.durable_function(name="steps")
    async def run_steps(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(body, name=f"s{i}")
        return count

    async with engine:
        start = time.perf_counter()
        handles = await asyncio.gather(*(engine.start("steps", steps) for _ in range(executions)))
        await asyncio.gather(*(h.result() for h in handles))
        elapsed = time.perf_counter() - start
    return executions * steps / elapsed


def _register(engine: Engine) -> None:
    async def body(s: StepContext) -> int:
        return s.attempt

    @engine.durable_function(name="steps")
    async def run_steps(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(body, name=f"s{i}")
        return count


worker_engine = Engine("unused.db")
"""What `durable-engine worker --app postgres_throughput:worker_engine` serves."""
_register(worker_engine)


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def worker_processes(url: str, executions: int, workers: int) -> float:
    """Checkpoints per second of `workers` worker processes serving stored executions."""
    engine = Engine(url)
    _register(engine)
    engine.serve = False
    async with engine:  # creates the schema before the workers start
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
        command = ["-m", "durable_engine", "worker", "--db", url, "--concurrency", "10000"]
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                *command,
                "--app",
                "postgres_throughput:worker_engine",
                cwd=HERE,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            # Other processes' progress shows only in the database: poll it.
            while await _count(url, "SELECT count(*) FROM durable.workers") < workers:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            start = time.perf_counter()
            await asyncio.gather(
                *(engine.start("steps", 10, run_here=False) for _ in range(executions))
            )
            done = "SELECT count(*) FROM durable.executions WHERE status = 'SUCCEEDED'"
            while await _count(url, done) < executions:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                await proc.wait()
    return executions * 10 / elapsed


async def measure(admin_url: str, executions: int) -> dict[str, float]:
    results: dict[str, float] = {}
    async with database(admin_url) as url:
        results["raw_one_insert_per_transaction"] = await raw_one_insert_per_transaction(
            url, executions
        )
    async with database(admin_url) as url:
        results["raw_executemany_100"] = await raw_executemany(url, executions * 10)
    async with database(admin_url) as url:
        results["ten_step_checkpoints"] = await concurrent_executions(url, executions, 10)
    async with database(admin_url) as url:
        results["one_step_checkpoints"] = await concurrent_executions(url, executions, 1)
    for workers in (1, 2):
        async with database(admin_url) as url:
            results[f"worker_processes_{workers}"] = await worker_processes(
                url, executions, workers
            )
    return results


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pg_cluster import running_cluster

    with running_cluster(durable=True) as cluster:
        yield cluster.admin_url()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="a server's maintenance database (default: start one)")
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="the median of N runs")
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "postgres_throughput.json")
    )
    args = parser.parse_args()
    with _server(args.url) as admin_url:
        runs = [asyncio.run(measure(admin_url, args.executions)) for _ in range(args.repeat)]

        async def version() -> str:
            conn = await asyncpg.connect(admin_url)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        server = asyncio.run(version())
    # The median run of each case: on a shared machine the best run flatters, the worst
    # measures a neighbour.
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    raw_many = median["raw_executemany_100"]
    rows = [
        ("raw: asyncpg INSERT, one per transaction", "raw_one_insert_per_transaction", ""),
        ("raw: asyncpg executemany x100 per transaction", "raw_executemany_100", ""),
        (
            f"(b) {args.executions} executions x 10 steps",
            "ten_step_checkpoints",
            ">= 20,000/s, >= 0.5x executemany",
        ),
        (f"(c) {args.executions} one-step executions", "one_step_checkpoints", ""),
        ("(d) 1 worker process, executions x 10 steps", "worker_processes_1", ""),
        ("(d) 2 worker processes", "worker_processes_2", ">= 1.5x one worker"),
    ]
    print(
        f"PostgreSQL checkpoint throughput (median of {args.repeat}; python "
        f"{platform.python_version()}, PostgreSQL {server}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f})"
    )
    print(f"{'case':48} {'per second':>12} {'vs executemany':>15}  target")
    for label, key, target in rows:
        print(f"{label:48} {median[key]:12,.0f} {median[key] / raw_many:14.2f}x  {target}")
    scaling = median["worker_processes_2"] / median["worker_processes_1"]
    print(f"two worker processes / one: {scaling:.2f}x")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "postgresql": server,
                "cpus": os.cpu_count(),
                "load_average_1m": os.getloadavg()[0],
                "executions": args.executions,
                "runs": runs,
                "per_second": median,
                "ratios": {
                    "ten_steps_vs_raw_executemany": median["ten_step_checkpoints"] / raw_many,
                    "one_step_vs_raw_executemany": median["one_step_checkpoints"] / raw_many,
                    "two_workers_vs_one": scaling,
                },
            },
            indent=2,
        )
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
