"""The README's first command: the order example runs end to end on a file in the cwd."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "order_processing.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    return proc


@pytest.mark.parametrize("order_id", [" ", ""])
def test_a_bad_order_is_rejected_in_one_line_before_any_step_runs(
    tmp_path: Path, order_id: str
) -> None:
    rejected = run_example(tmp_path, order_id, code=1)
    assert rejected.stderr == "order rejected: an order needs a non-empty 'orderId'\n"
    conn = sqlite3.connect(tmp_path / "orders.db")
    try:
        assert conn.execute("SELECT status FROM executions").fetchall() == [("FAILED",)]
        assert conn.execute("SELECT COUNT(*) FROM operations").fetchone() == (0,)
    finally:
        conn.close()


def test_order_example_runs_once_per_order(tmp_path: Path) -> None:
    first = run_example(tmp_path, "ORDER-7").stdout
    assert "'orderId': 'ORDER-7'" in first and "'status': 'FINALIZED'" in first
    assert "cool-off" in first
    again = run_example(tmp_path, "ORDER-7").stdout  # the stored execution answers
    assert first.splitlines()[:2] == again.splitlines()[:2]
    conn = sqlite3.connect(tmp_path / "orders.db")
    try:
        rows = conn.execute("SELECT name, status FROM executions").fetchall()
        steps = conn.execute("SELECT name, attempt FROM operations ORDER BY op_id").fetchall()
    finally:
        conn.close()
    assert rows == [("ORDER-7", "SUCCEEDED")]
    assert steps == [("enrich", 1), ("cool-off", 1), ("finalize", 1)]
