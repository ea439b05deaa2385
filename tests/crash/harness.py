"""Start workflow processes, wait for a moment to kill them, and SIGKILL them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


def spawn(
    db: Path, effects: Path, *args: str, module: str = "tests.crash.app"
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", module, str(db), str(effects), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def send_callback(db: Path, callback_id: str, result_json: str) -> None:
    """Answer a callback from a separate OS process that registers no workflow."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.crash.send_callback", str(db), callback_id, result_json],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert proc.returncode == 0, proc.stderr


def wait_until(
    condition: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None
) -> None:
    """Poll until `condition` holds (bounded, so a hang fails the test instead)."""
    end = time.monotonic() + DEADLINE
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended before {what}: {out}{err}")
        if time.monotonic() > end:
            if proc is not None:
                proc.kill()
                proc.communicate()
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def lines(effects: Path) -> list[str]:
    return effects.read_text().splitlines() if effects.exists() else []


def operation_rows(db: Path) -> list[tuple[str, str, str, int]]:
    """(op_id, type, status, attempt) of every operation, read with plain sqlite3."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT op_id, type, status, attempt FROM operations").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
