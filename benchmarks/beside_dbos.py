"""The DBOS row: the engine beside DBOS Transact on SQLite, one interleaved run.

It runs only where the `bench` extra is installed (`pip install durable-engine[bench]`,
which brings `dbos`); elsewhere the suite prints that it was skipped and why. Each run
is a process of its own (`python -m benchmarks.beside_dbos N DIR`: DBOS keeps
process-wide state), which measures, in turn: this engine's N sequential steps in one
execution, DBOS's, this engine's N one-step workflows started together, DBOS's. Step
bodies are trivial `async def` functions in both; both keep their state in a SQLite
file of their own in DIR. The row's figure is the smaller of the two ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .suite import Sample
from .throughput import one_step_workflows, sequential_steps

__all__ = ["beside_dbos", "dbos_missing"]

_ROOT = Path(__file__).resolve().parents[1]


def dbos_missing() -> str | None:
    """Why the row cannot run here, or None."""
    try:
        import dbos  # noqa: F401
    except ImportError as exc:
        return f"dbos is not installed ({exc}); `pip install durable-engine[bench]` adds it"
    return None


async def _dbos_figures(n: int, folder: str) -> dict[str, float]:
    from dbos import DBOS

    DBOS(
        config={
            "name": "bench",
            "system_database_url": f"sqlite:///{os.path.join(folder, 'dbos.db')}",
            "log_level": "WARNING",
        }
    )

    @DBOS.step()
    async def trivial(i: int) -> int:
        return i

    @DBOS.workflow()
    async def sequential(count: int) -> int:
        for i in range(count):
            await trivial(i)
        return count

    @DBOS.workflow()
    async def one_step(x: int) -> int:
        return await trivial(x)

    figures: dict[str, float] = {}
    DBOS.launch()
    try:
        figures["engine_steps"] = await sequential_steps(os.path.join(folder, "a.db"), n)
        start = time.perf_counter()
        assert await sequential(n) == n
        figures["dbos_steps"] = n / (time.perf_counter() - start)
        figures["engine_one_step"] = await one_step_workflows(
            os.path.join(folder, "b.db"), n, gathered=True
        )
        start = time.perf_counter()
        handles = await asyncio.gather(*(DBOS.start_workflow_async(one_step, i) for i in range(n)))
        results = await asyncio.gather(*(h.get_result() for h in handles))
        figures["dbos_one_step"] = n / (time.perf_counter() - start)
        assert results == list(range(n))
    finally:
        DBOS.destroy()
    return figures


def beside_dbos(n: int) -> Sample:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.beside_dbos", str(n), tmp],
            cwd=_ROOT,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"the DBOS run failed: {proc.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = figures["engine_steps"] / figures["dbos_steps"]
    one_step = figures["engine_one_step"] / figures["dbos_one_step"]
    figures.update(steps_ratio=steps, one_step_ratio=one_step)
    return Sample(min(steps, one_step), figures["dbos_steps"], figures)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_dbos_figures(int(sys.argv[1]), sys.argv[2]))))
