"""`watch`, `rerun`, `purge` and `db vacuum` from the real command line."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.cli.helpers import cli, wait_status, worker

APP = """
from durable_engine import DurableContext, Engine

engine = Engine("app.db", in_memory_wait=0)

@engine.durable_function(name="count")
async def count(ctx: DurableContext, n: int) -> int:
    for i in range(n):
        ctx.set_custom_status({"done": i, "total": n})
        await ctx.wait(0.05, name=f"tick-{i}")
    ctx.set_custom_status({"done": n, "total": n})
    if n == 3:
        raise ValueError("three is bad")
    return n
"""


def test_watch_show_rerun_purge_and_vacuum(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    good = cli(tmp_path, "start", "count", "--app", "app:engine", "--input", "4").stdout.strip()
    bad = cli(tmp_path, "start", "count", "--app", "app:engine", "--input", "3").stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "1")
    try:
        watched = cli(tmp_path, "watch", good, "--db", "app.db", "--json")
        lines = [json.loads(line) for line in watched.stdout.splitlines()]
        assert lines[-1]["status"] == "SUCCEEDED"
        assert lines[-1]["custom_status"] == {"done": 4, "total": 4}
        assert (lines[-1]["done"], lines[-1]["total"]) == (4, 4)
        text = cli(tmp_path, "watch", bad, "--db", "app.db", check=False)
        assert text.returncode == 1  # it did not succeed
        assert "FAILED" in text.stdout and "3/3" in text.stdout and "100%" in text.stdout

        shown = json.loads(cli(tmp_path, "show", bad, "--db", "app.db", "--json").stdout)
        assert shown["custom_status"] == {"done": 3, "total": 3}
        assert "custom_status" in cli(tmp_path, "show", bad, "--db", "app.db").stdout

        refused = cli(tmp_path, "rerun", good, "--db", "app.db", check=False)
        assert refused.returncode == 1 and "ExecutionNotRerunnable" in refused.stderr
        again = json.loads(cli(tmp_path, "rerun", bad, "--db", "app.db", "--json").stdout)
        assert again["rerun_of"] == bad and again["input"] == 3
        ended = wait_status(tmp_path, again["execution_id"], "FAILED")
        assert ended["rerun_of"] == bad
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)

    dry = json.loads(
        cli(
            tmp_path,
            "purge",
            "--older-than",
            "0s",
            "--status",
            "FAILED",
            "--db",
            "app.db",
            "--dry-run",
            "--json",
        ).stdout
    )
    assert dry == {"purged": 0, "dry_run": True, "matched": 2}
    purged = cli(tmp_path, "purge", "--older-than", "0s", "--db", "app.db", "--json").stdout
    assert json.loads(purged)["purged"] == 3
    assert json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout) == []
    vacuumed = json.loads(cli(tmp_path, "db", "vacuum", "--db", "app.db", "--json").stdout)
    assert vacuumed["mode"] == "incremental"
    bad_age = cli(tmp_path, "purge", "--older-than", "30x", "--db", "app.db", check=False)
    assert bad_age.returncode == 2 and "not a length of time" in bad_age.stderr
