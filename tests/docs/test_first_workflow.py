"""The README's first workflow does what the README says after it: killed during its
wait, it resumes from the file without charging again; run once more, it answers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .samples import ROOT, samples_in


def _start(folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "first.py"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _charge_recorded(db: Path) -> bool:
    conn = sqlite3.connect(db)
    try:
        found = conn.execute("SELECT status FROM operations WHERE name = 'charge'").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return False
    finally:
        conn.close()
    return found == [("SUCCEEDED",)]


def test_killed_during_its_wait_it_resumes_without_charging_again(tmp_path: Path) -> None:
    [first, *_] = samples_in(ROOT / "README.md")
    (tmp_path / "first.py").write_text(first.code)

    running = _start(tmp_path)
    assert running.stdout is not None
    assert running.stdout.readline() == "charging A-1 (attempt 1)\n"
    while not _charge_recorded(tmp_path / "orders.db"):  # the test's timeout bounds this
        time.sleep(0.01)
    running.send_signal(signal.SIGKILL)  # in its two-second wait, or just past it
    running.communicate(timeout=60)

    resumed = _start(tmp_path)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert "charging" not in out
    assert "result: {'order': 'A-1', 'receipt': 'receipt-A-1', 'status': 'SHIPPED'}" in out

    again = _start(tmp_path)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "charging" not in out and "shipping" not in out
    assert out.startswith("result: {'order': 'A-1'")
