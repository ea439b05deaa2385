"""PostgreSQL rows: the engine on a local server, beside raw asyncpg in the same run.

The first PostgreSQL row of a pass starts a throwaway cluster (`tests/pg_cluster.py`,
fsync on, as in production) and the pass stops it as it exits; every run gets a
database of its own. The workloads and the raw limits are those of
`benchmarks/postgres_throughput.py`, which still runs on its own against any server.
"""

from __future__ import annotations

import asyncio
import atexit
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .suite import Sample

__all__ = [
    "checkpoints",
    "executemany_note",
    "one_step",
    "postgres_missing",
    "two_workers",
]

_ROOT = Path(__file__).resolve().parents[1]
_admin: list[str] = []  # the running cluster's maintenance database, once started


def postgres_missing() -> str | None:
    """Why the PostgreSQL rows cannot run here, or None."""
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        return f"asyncpg is not installed ({exc}); `pip install durable-engine[postgres]` adds it"
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))
    try:
        from tests.pg_cluster import find_bindir
    except ImportError as exc:  # its helper needs pytest (the `test` extra)
        return f"the throwaway cluster's helper cannot be imported ({exc})"
    if find_bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine"
    return None


def _admin_url() -> str:
    """The maintenance database of the pass's cluster, started at the first call."""
    if not _admin:
        from tests.pg_cluster import running_cluster

        cluster = running_cluster(durable=True)
        _admin.append(cluster.__enter__().admin_url())
        atexit.register(cluster.__exit__, None, None, None)
    return _admin[0]


def _beside_raw(n: int, steps: int, raw_rows: int, one_a_transaction: bool) -> Sample:
    """`n` executions of `steps` trivial steps, started at once, beside the raw limit
    for `raw_rows` rows (executemany of 100 a transaction, or one a transaction), each
    in a fresh database."""
    from . import postgres_throughput as pg

    raw_write = pg.raw_one_insert_per_transaction if one_a_transaction else pg.raw_executemany

    async def measure() -> Sample:
        admin = _admin_url()
        async with pg.database(admin) as url:
            raw = await raw_write(url, raw_rows)
        async with pg.database(admin) as url:
            value = await pg.concurrent_executions(url, n, steps)
        return Sample(value, raw, {"vs_raw": value / raw})

    return asyncio.run(measure())


def checkpoints(n: int) -> Sample:
    """`n` executions x 10 trivial steps, started at once, against executemany."""
    return _beside_raw(n, 10, n * 10, one_a_transaction=False)


def executemany_note(details: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    """The target's second half: at least half of raw executemany (median of runs)."""
    ratio = statistics.median(d["vs_raw"] for d in details)
    return f"{ratio:.2f}x raw executemany (target >= 0.5x)", ratio >= 0.5


def one_step(n: int) -> Sample:
    """`n` one-step workflows, started at once, against one INSERT a transaction."""
    return _beside_raw(n, 1, n, one_a_transaction=True)


def two_workers(n: int) -> Sample:
    """Checkpoints per second of two worker processes against one, on `n` stored
    executions of 10 steps each."""
    from . import postgres_throughput as pg

    async def measure() -> Sample:
        admin = _admin_url()
        figures = {}
        for workers in (1, 2):
            async with pg.database(admin) as url:
                figures[workers] = await pg.worker_processes(url, n, workers)
        return Sample(figures[2], figures[1])

    return asyncio.run(measure())
