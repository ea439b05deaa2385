"""The real `python -m durable_engine`, in subprocesses, as a user types it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

APP = """
from durable_engine import DurableContext, Engine, CallbackConfig

engine = Engine("app.db", in_memory_wait=0)

@engine.durable_function(name="greet")
async def greet(ctx: DurableContext, who: dict) -> str:
    return await ctx.step(lambda s: f"hello {who['name']}", name="say")

@engine.durable_function(name="approve")
async def approve(ctx: DurableContext, _: None) -> object:
    cb = await ctx.create_callback(name="boss", config=CallbackConfig(timeout=600))
    return await cb.result()
"""


def cli(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "durable_engine", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def worker(cwd: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_engine",
            "worker",
            "--app",
            "app:engine",
            "--grace-seconds",
            "1",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_status(cwd: Path, execution_id: str, status: str) -> dict[str, object]:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        shown: dict[str, object] = json.loads(
            cli(cwd, "show", execution_id, "--db", "app.db", "--json").stdout
        )
        if shown["status"] == status:
            return shown
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} never reached {status}")


def test_start_worker_list_show_history_callback_stop(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    greeting = cli(
        tmp_path,
        "start",
        "greet",
        "--app",
        "app:engine",
        "--input",
        '{"name": "ana"}',
        "--name",
        "g1",
    ).stdout.strip()
    pending = json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout)
    assert [(e["execution_id"], e["name"], e["status"]) for e in pending] == [
        (greeting, "g1", "RUNNING")
    ]
    proc = worker(tmp_path)
    try:
        shown = wait_status(tmp_path, greeting, "SUCCEEDED")
        assert shown["result"] == "hello ana" and shown["input"] == {"name": "ana"}
        assert set(shown) >= {
            "execution_id",
            "name",
            "function",
            "status",
            "created_at",
            "ended_at",
            "error",
        }
        history = json.loads(cli(tmp_path, "history", greeting, "--db", "app.db", "--json").stdout)
        assert [(op["type"], op["name"], op["status"], op["attempt"]) for op in history] == [
            ("STEP", "say", "SUCCEEDED", 1)
        ]
        assert "say" in cli(tmp_path, "history", greeting, "--db", "app.db").stdout

        waiting = cli(tmp_path, "start", "approve", "--app", "app:engine").stdout.strip()
        wait_status(tmp_path, waiting, "SUSPENDED")
        import sqlite3

        conn = sqlite3.connect(tmp_path / "app.db")
        (callback_id,) = conn.execute("SELECT callback_id FROM callbacks").fetchone()
        conn.close()
        cli(tmp_path, "callback", "succeed", callback_id, "--result", '{"ok": 1}', "--db", "app.db")
        assert wait_status(tmp_path, waiting, "SUCCEEDED")["result"] == {"ok": 1}
        again = cli(tmp_path, "callback", "succeed", callback_id, "--db", "app.db", check=False)
        assert again.returncode == 1
        assert again.stderr.strip().startswith("error: CallbackAlreadyResolved")

        stopped = cli(tmp_path, "start", "approve", "--app", "app:engine").stdout.strip()
        wait_status(tmp_path, stopped, "SUSPENDED")
        cli(tmp_path, "stop", stopped, "--db", "app.db")
        assert wait_status(tmp_path, stopped, "STOPPED")["error"] is not None
        listed = cli(tmp_path, "list", "--db", "app.db", "--status", "STOPPED", "--json").stdout
        assert [e["execution_id"] for e in json.loads(listed)] == [stopped]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert events[0] == "start" and events[-1] == "stopped"
    check = json.loads(cli(tmp_path, "db", "check", "--db", "app.db", "--json").stdout)
    assert check["integrity"] == "ok" and check["schema_version"] == 1


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    cases = [
        (["show", "nope", "--db", "app.db"], "error: ExecutionNotFound"),
        (["callback", "succeed", "nope", "--db", "app.db"], "error: CallbackNotFound"),
        (["start", "greet", "--app", "app:engine", "--input", "{bad json"], "error: DurableError"),
        (["start", "nobody", "--app", "app:engine"], "error: FunctionNotRegistered"),
        (["start", "greet", "--app", "missing_module:engine"], "error: DurableError"),
        (["stop", "nope", "--db", "app.db"], "error: ExecutionNotFound"),
    ]
    for args, start in cases:
        proc = cli(tmp_path, *args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.startswith(start), (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    usage = cli(tmp_path, "list", "--status", "SOMETIMES", check=False)
    assert usage.returncode == 2
    (tmp_path / "junk.db").write_bytes(b"not a database" * 200)
    junk = cli(tmp_path, "list", "--db", "junk.db", check=False)
    assert junk.returncode == 1 and junk.stderr.startswith("error: StoreError")
    assert (tmp_path / "junk.db").read_bytes() == b"not a database" * 200
