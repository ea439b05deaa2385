"""Deferred commits and a real SIGKILL: deferred steps run again, and never leave a gap.

A process runs a long chain of deferred steps; its database thread hangs before one
commit (`DURABLE_HOLD_AT`), the workflow runs on until it has as many deferred commits
outstanding as it may, and the process is killed. The database then holds the chain's
first steps and nothing after them; a new process resumes, replays those, and runs
the rest again, the steps that had run but were not committed too.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

import serdes
from tests.crash.crash_hook import HOLD_VAR
from tests.crash.harness import finish, integrity, kill, lines, spawn, wait_until

COUNT = 30_000


def _steps(db: Path) -> dict[int, str]:
    """Committed step results by position (operation id)."""
    conn = sqlite3.connect(db)
    try:
        found = conn.execute(
            "SELECT op_id, status, result FROM operations WHERE type = 'STEP'"
        ).fetchall()
    finally:
        conn.close()
    codec = serdes.MsgpackSerDes()
    assert {status for _, status, _ in found} <= {"SUCCEEDED"}
    return {int(op_id): str(codec.deserialize(result)) for op_id, _, result in found}


def _ran(effects: Path) -> int:
    return sum(x.startswith("deferred ") for x in lines(effects))


def test_killed_mid_chain_deferred_steps_run_again_and_leave_no_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    monkeypatch.setenv(HOLD_VAR, "21")  # before the 11th commit: a few steps are in
    first = spawn(db, effects, "start", "deferred_chain", "chain", str(COUNT))
    monkeypatch.delenv(HOLD_VAR)
    wait_until(lambda: _ran(effects) >= 1_000, "steps to run past the held commit", first)
    seen = -1
    while (now := _ran(effects)) != seen:  # until the workflow waits for its commits
        seen = now
        time.sleep(0.3)
    kill(first)
    ran_before = [int(x.split()[1]) for x in lines(effects) if x.startswith("deferred ")]
    committed = _steps(db)
    # No gap: the committed steps are the chain's first ones (operation ids from 1).
    assert sorted(committed) == list(range(1, len(committed) + 1))
    assert len(committed) < COUNT
    # Every committed step ran; some ran and were not committed (the workflow went on).
    assert set(range(len(committed))) <= set(ran_before)
    uncommitted = set(ran_before) - set(range(len(committed)))
    assert uncommitted

    second = spawn(db, effects, "resume", "chain")
    result = finish(second)["result"]
    stored = _steps(db)
    chain = [stored[op] for op in range(1, COUNT + 1)]
    assert result == [COUNT, chain[-1]]
    # One unbroken chain: each step names the run of the step before it.
    tokens = [link.split(">") for link in chain]
    assert tokens[0][0] == "start"
    assert all(tokens[i][0] == tokens[i - 1][1] for i in range(1, COUNT))
    # What was committed before the kill is what the workflow saw; it was replayed.
    assert all(chain[op - 1] == value for op, value in committed.items())
    runs: dict[int, int] = {}
    for x in lines(effects):
        if x.startswith("deferred "):
            runs[int(x.split()[1])] = runs.get(int(x.split()[1]), 0) + 1
    assert all(runs[i] == 1 for i in range(len(committed)))
    assert all(runs[i] == 2 for i in uncommitted)  # ran again, at least once
    assert all(runs[i] >= 1 for i in range(COUNT))
    assert integrity(db) == "ok"
