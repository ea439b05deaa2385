"""Run an example as a user would: a process per command, killed with SIGKILL mid-way."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
DEADLINE = 60.0


def start(cwd: Path, example: str, *args: str) -> subprocess.Popen[str]:
    """`python examples/<example> ARGS` in `cwd`, its output read line by line."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / example), *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(cwd: Path, example: str, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the example to its end, expecting exit status `code`."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done


def read_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> str:
    """Read the process's output into `seen` until a line holds `marker`; that line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if marker in line:
            return line
    rest = proc.communicate()
    raise AssertionError(
        f"the example ended (exit {proc.returncode}) before printing {marker!r}: "
        f"printed {seen}, then {rest}"
    )


def wait_for_status(db: Path, status: str, proc: subprocess.Popen[str]) -> None:
    """Poll the database until every execution in it has `status` (bounded)."""
    end = time.monotonic() + DEADLINE
    while True:
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                statuses = {s for (s,) in conn.execute("SELECT status FROM executions")}
            except sqlite3.OperationalError:
                statuses = set()
            finally:
                conn.close()
            if statuses == {status}:
                return
        if proc.poll() is not None:
            raise AssertionError(f"the example ended before {status}: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"gave up waiting for {status}: {proc.communicate()}")
        time.sleep(0.02)


def kill(proc: subprocess.Popen[str], seen: list[str]) -> None:
    """SIGKILL the process; what it printed before dying goes into `seen`."""
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    seen.extend(out.splitlines())


def finish(proc: subprocess.Popen[str], seen: list[str]) -> None:
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, out + err
    seen.extend(out.splitlines())
