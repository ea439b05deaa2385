"""The batch ETL example: both variants load the same totals, and slices are not redone."""

from __future__ import annotations

import importlib.util
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_engine import Engine

ROOT = Path(__file__).resolve().parents[2]


def _run_example(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch_etl.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_batch_etl_runs_end_to_end(tmp_path: Path) -> None:
    proc = _run_example(tmp_path, "40", "10")
    assert "'rows': 40" in proc.stdout
    conn = sqlite3.connect(tmp_path / "etl.db")
    try:
        names = [
            r[0] for r in conn.execute("SELECT name FROM operations WHERE op_id NOT LIKE '%/%'")
        ]
    finally:
        conn.close()
    assert [n for n in names if n and n.startswith("transform-") and n != "transform-all"] == [
        "transform-0-9",
        "transform-10-19",
        "transform-20-29",
        "transform-30-39",
    ]
    # The same records in other batches, on the same file: new executions, same totals.
    again = _run_example(tmp_path, "40", "20")
    assert again.stdout.splitlines()[0] == proc.stdout.splitlines()[0]


def _load_example(tmp_path: Path) -> Any:
    """The example module, its engine on `etl.db` in `tmp_path`."""
    spec = importlib.util.spec_from_file_location("batch_etl", ROOT / "examples" / "batch_etl.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        spec.loader.exec_module(module)
    finally:
        os.chdir(cwd)
    module.engine.retarget(tmp_path / "etl.db")
    return module


async def test_the_sliced_variant_leaves_memory_between_slices(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What its docstring promises: between two slices the execution suspends, holding
    no memory, and comes back for the next slice."""
    module = _load_example(tmp_path)
    engine: Engine = module.engine
    caplog.set_level(logging.INFO, logger="durable_engine")
    async with engine:
        handle = await engine.start("etl_in_slices", {"records": 40, "batch_size": 10})
        result = await handle.result()
    assert result["rows"] == 40
    suspended = [
        r
        for r in caplog.records
        if getattr(r, "event", None) == "suspend" and handle.execution_id in r.getMessage()
    ]
    assert len(suspended) == 3  # after each of the first three slices of four


async def test_fan_out_variant_in_process(tmp_path: Path) -> None:
    module = _load_example(tmp_path)
    engine: Engine = module.engine
    async with engine:
        result = await engine.run("etl_fan_out", {"records": 12, "batch_size": 5})
    assert result["rows"] == 12
    expected = sum(r["amount_cents"] for r in module.extract(12)) / 100
    assert sum(result["totals"].values()) == pytest.approx(expected)
