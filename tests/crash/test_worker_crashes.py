"""Worker processes on one file: chaos trials, every crash point, and a stale write refused.

All of these run real `python -m durable_engine worker` processes and disrupt them
with SIGKILL, SIGSTOP/SIGCONT and DURABLE_CRASH_AT; see `mix.py`, `crash_points.py`
and `invariants.py` for what is checked.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

import serdes
from tests.crash.cluster import Cluster, all_ended, effects_of, start_executions
from tests.crash.crash_points import sweep
from tests.crash.invariants import worker_events
from tests.crash.mix import Profile, run_trial


@pytest.mark.slow
def test_chaos_quick_profile(tmp_path: Path) -> None:
    seen = {"kills": 0, "stops": 0, "takeovers": 0, "executions": 0}
    for seed in (11, 12, 13):
        outcome = run_trial(tmp_path / f"trial-{seed}", seed, Profile(workers=3, disruptions=6))
        assert outcome.violations == [], outcome.violations
        for key in seen:
            seen[key] += getattr(outcome, key)
    assert seen["executions"] >= 3 * 18
    assert seen["kills"] > 0 and seen["takeovers"] > 0


@pytest.mark.slow
def test_every_crash_point_until_a_run_needs_none(tmp_path: Path) -> None:
    result = sweep(tmp_path, [("steps", 3), ("retries", 1)], parallel=4)
    assert result.outcome.violations == [], result.outcome.violations
    assert result.completed_at is not None and result.completed_at > 10
    assert set(range(1, result.completed_at)) <= set(result.crashed_at)


@pytest.mark.slow
def test_every_crash_point_of_a_workflow_of_deferred_steps(tmp_path: Path) -> None:
    result = sweep(tmp_path, [("deferred", 1)], parallel=2)
    assert result.outcome.violations == [], result.outcome.violations
    assert result.completed_at is not None and result.completed_at > 6
    assert set(range(1, result.completed_at)) <= set(result.crashed_at)


def _stored_step_result(db: Path, execution_id: str, op_id: str) -> object:
    conn = sqlite3.connect(db)
    try:
        (data,) = conn.execute(
            "SELECT result FROM operations WHERE execution_id = ? AND op_id = ?",
            (execution_id, op_id),
        ).fetchone()
    finally:
        conn.close()
    return serdes.MsgpackSerDes().deserialize(data)


def _op_status(db: Path, op_id: str) -> str | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT status FROM operations WHERE op_id = ?", (op_id,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_has_its_write_refused(tmp_path: Path) -> None:
    db, effects = tmp_path / "stale.db", tmp_path / "effects.jsonl"
    lease = 1.0
    [execution_id] = start_executions(db, effects, lease, [("stall", 1.5)])
    cluster = Cluster(tmp_path, db, effects, lease)
    with cluster:
        first = cluster.spawn()
        _wait(
            lambda: any(r["ph"] == "start" for r in effects_of(effects, while_written=True)),
            "the stall to begin",
        )
        cluster.stop(first, 60)  # paused inside the step, holding the lease
        second = cluster.spawn()
        _wait(lambda: _op_status(db, "1") == "SUCCEEDED", "the second worker to redo the step")
        # The execution is still unfinished (it waits): only the epoch fence can refuse the
        # paused worker's write when it resumes.
        first.proc.send_signal(signal.SIGCONT)
        first.stopped_until = None
        _wait(
            lambda: '"event": "worker_lease_lost"' in first.log.read_text(),
            "the paused worker to notice",
        )
        _wait(lambda: all_ended(db, 1), "the second worker to finish")
        assert cluster.shutdown() == []

    conn = sqlite3.connect(db)
    try:
        status, data = conn.execute("SELECT status, result FROM executions").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    assert status == "SUCCEEDED"
    result = serdes.MsgpackSerDes().deserialize(data)
    assert isinstance(result, dict)
    stall_runs = [r for r in effects_of(effects) if r["op"] == "1" and r["ph"] == "end"]
    by_pid = {r["pid"]: r["tok"] for r in stall_runs}
    # The paused worker finished its body after the takeover; its result never landed.
    assert set(by_pid) == {first.proc.pid, second.proc.pid}
    assert result["stall"] == by_pid[second.proc.pid]
    assert _stored_step_result(db, execution_id, "1") == by_pid[second.proc.pid]
    events = sorted(worker_events(cluster), key=lambda e: str(e["ts"]))
    mine = [e for e in events if e.get("execution_id") == execution_id]
    assert [(e["pid"], e["event"]) for e in mine if e["event"] in ("takeover", "lease_lost")] == [
        (second.proc.pid, "takeover"),
        (first.proc.pid, "lease_lost"),
    ]
    assert len([e for e in mine if e["event"] == "finish"]) == 1  # by either worker
    takeover = next(e for e in events if e["event"] == "takeover")
    assert takeover["previous_owner"] == first.name
    assert json.loads(first.log.read_text().splitlines()[-1])["event"] == "stop"
