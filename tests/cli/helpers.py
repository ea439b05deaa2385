"""Running the real `python -m durable_engine` in a subprocess, as a user types it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

APP = """
import asyncio
from durable_engine import CallbackConfig, DurableContext, Engine

engine = Engine("app.db", in_memory_wait=0)

@engine.durable_function(name="greet")
async def greet(ctx: DurableContext, who: dict) -> str:
    return await ctx.step(lambda s: f"hello {who['name']}", name="say")

@engine.durable_function(name="approve")
async def approve(ctx: DurableContext, _: None) -> object:
    cb = await ctx.create_callback(
        name="boss", config=CallbackConfig(timeout=600, heartbeat_timeout=300)
    )
    return await cb.result()

@engine.durable_function(name="sleepy")
async def sleepy(ctx: DurableContext, seconds: float) -> str:
    await ctx.wait(seconds, name="nap")
    return "rested"

@engine.durable_function(name="slow_step")
async def slow_step(ctx: DurableContext, seconds: float) -> str:
    async def body(s):
        await asyncio.sleep(seconds)
        return "slept"
    return await ctx.step(body, name="slow")

@engine.durable_function(name="slow_sync_step")
async def slow_sync_step(ctx: DurableContext, seconds: float) -> str:
    def body(s):
        import time
        time.sleep(seconds)
        return "slept"
    return await ctx.step(body, name="slow")

@engine.durable_function(name="odd_values")
async def odd_values(ctx: DurableContext, _: None) -> object:
    from datetime import datetime, timezone
    from decimal import Decimal
    return await ctx.step(
        lambda s: {"at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                   "price": Decimal("9.99"), "tags": {"a"}, "ok": [1, 2.5, None]},
        name="odd",
    )
"""


def env() -> dict[str, str]:
    out = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    out.pop("DURABLE_DB", None)
    out.pop("DURABLE_ENGINE_DB", None)
    out.pop("DURABLE_CRASH_AT", None)
    return out


def cli(
    cwd: Path,
    *args: str,
    check: bool = True,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "durable_engine", *args],
        cwd=cwd,
        env={**env(), **(extra_env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def worker(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "durable_engine", "worker", "--app", "app:engine", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def show(cwd: Path, execution_id: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        cli(cwd, "show", execution_id, "--db", "app.db", "--json").stdout
    )
    return out


def wait_status(cwd: Path, execution_id: str, status: str) -> dict[str, Any]:
    """Poll with plain sqlite3 (cheap), then return what `show --json` says."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        conn = sqlite3.connect(cwd / "app.db", timeout=10)
        try:
            row = conn.execute(
                "SELECT status FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        finally:
            conn.close()
        if row is not None and row[0] == status:
            return show(cwd, execution_id)
        time.sleep(0.02)
    raise AssertionError(f"{execution_id} never reached {status}")


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def callback_id(cwd: Path) -> str:
    conn = sqlite3.connect(cwd / "app.db", timeout=10)
    try:
        (cid,) = conn.execute("SELECT callback_id FROM callbacks").fetchone()
    finally:
        conn.close()
    return str(cid)
