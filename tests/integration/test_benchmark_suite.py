"""`python -m benchmarks` keeps running: one cheap row at a tiny size, its JSON's shape.

Figures are not checked (no timing assertions in tests); the shape of what a pass
writes is, so the suite cannot rot unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_quick_pass_of_one_row_writes_the_table_and_its_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _suite(
        "--quick", "--only", "sequential", "--scale", "0.05", "--runs", "2", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    assert document["mode"] == "quick"
    assert document["runs"] == 2
    assert document["scale"] == 0.05
    assert len(document["load_before"]) == 3 and len(document["load_after"]) == 3
    assert {"python", "sqlite", "cpus"} <= document["machine"].keys()
    [row] = document["rows"]
    assert row["name"] == "sequential"
    assert row["size"] == 15  # 300 steps in a quick pass, times 0.05
    assert row["status"] in ("met", "not met")
    assert len(row["runs"]) == len(row["baseline_runs"]) == 2
    assert row["value"] > 0 and row["baseline"]["value"] > 0
    ratios = sorted(v / b for v, b in zip(row["runs"], row["baseline_runs"], strict=True))
    assert row["ratio"] == pytest.approx(sum(ratios) / 2)  # the median of two runs
    assert row["target"] == {"text": ">= 1.5x per-row", "on": "ratio", "op": ">=", "threshold": 1.5}
    assert "aiosqlite" in row["baseline"]["what"]
    assert len(row["load_before"]) == 3
    # The table printed beside it: one line for the row, its target and its status.
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("| sequential |")]
    assert ">= 1.5x per-row" in line and row["status"] in line


def test_only_refuses_a_row_that_does_not_exist(tmp_path: Path) -> None:
    proc = _suite("--quick", "--only", "nonsense", "--json", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "no row named nonsense" in proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_row_whose_extra_is_missing_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """The DBOS row runs only with the `bench` extra; without it (hidden here by a
    module of that name that cannot be imported) the pass says so instead."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "dbos.py").write_text("raise ImportError('hidden for this test')\n")
    out = tmp_path / "bench.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hide), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "dbos", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(out.read_text())["rows"]
    assert row["status"] == "skipped"
    assert "dbos is not installed" in row["reason"]
    assert row["value"] is None
    assert "skipped: dbos is not installed" in proc.stdout


def test_a_postgres_row_runs_on_a_throwaway_cluster(tmp_path: Path) -> None:
    """The PostgreSQL rows start a local cluster of their own and stop it on exit."""
    from tests.pg_cluster import find_bindir, missing_server

    if find_bindir() is None:
        missing_server("no PostgreSQL server binaries for the suite's PostgreSQL rows")
    out = tmp_path / "bench.json"
    proc = _suite(
        "--only", "postgres_one_step", "--scale", "0.02", "--runs", "1", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(out.read_text())["rows"]
    assert row["name"] == "postgres_one_step" and row["size"] == 20
    assert row["status"] in ("met", "not met")
    assert row["value"] > 0 and row["baseline"]["value"] > 0
    assert "asyncpg" in row["baseline"]["what"]
    assert row["target"]["text"] == ">= 1x one INSERT a transaction"
