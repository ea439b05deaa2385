"""Continue-as-new with real processes that die around the switch to the next run.

A crash before the switch's commit replays the run that was ending (its steps come
back from the database) and continues as new again; a crash after it resumes the next
run. Either way no step of a run runs again once it was committed, a run that ended
never runs again once the next one began, and the result is the same.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.crash.crash_hook import CRASH_EXIT_CODE, ENV_VAR
from tests.crash.harness import DEADLINE, finish, integrity, kill, lines, spawn, wait_until

MODULE = "tests.crash.continue_app"
RUNS = 4


def _input(runs: int, pause_ms: int = 0) -> str:
    return json.dumps({"run": 1, "total": 0, "runs": runs, "pause": pause_ms})


def _expected(runs: int) -> int:
    return sum(run * 10 + j for run in range(1, runs + 1) for j in range(2))


def _start(db: Path, effects: Path, runs: int, pause_ms: int = 0) -> subprocess.Popen[str]:
    # Starting again under the name finds the execution, whichever run it is on.
    return spawn(db, effects, "start", "hops", "hop", _input(runs, pause_ms), module=MODULE)


def _steps(effects: Path) -> list[tuple[int, int]]:
    """(run, step) of every step body that ran, in the order they ran."""
    found = []
    for line in lines(effects):
        if line.startswith("run "):
            _, run, _, step = line.split()
            found.append((int(run), int(step)))
    return found


def _stored(db: Path) -> tuple[str, int, int]:
    conn = sqlite3.connect(db)
    try:
        status, run_number = conn.execute("SELECT status, run_number FROM executions").fetchone()
        (ops,) = conn.execute("SELECT COUNT(*) FROM operations").fetchone()
    finally:
        conn.close()
    return str(status), int(run_number), int(ops)


def _check(db: Path, effects: Path, runs: int, crashes: int) -> list[str]:
    """What must hold once the execution finished after `crashes` crashes."""
    problems = []
    ran = _steps(effects)
    if sorted(set(ran)) != [(r, j) for r in range(1, runs + 1) for j in range(2)]:
        problems.append(f"not every step ran: {ran}")
    # A run that ended never runs again once the next one began.
    if [r for r, _ in ran] != sorted(r for r, _ in ran):
        problems.append(f"a run ran after the next one began: {ran}")
    # A step body runs again only if a crash cut it off before its commit: at most once
    # per crash, never because a run was repeated.
    if len(ran) - len(set(ran)) > crashes:
        problems.append(f"{len(ran) - len(set(ran))} step bodies ran twice, {crashes} crashes")
    if _stored(db) != ("SUCCEEDED", runs, 2):  # only the last run's operations are kept
        problems.append(f"stored: {_stored(db)}")
    if integrity(db) != "ok":
        problems.append("the database is damaged")
    return problems


def _trial(root: Path, k: int) -> tuple[bool, list[str]]:
    """Crash at persistence point `k`, then finish in a new process; True if the first
    process never reached point `k`."""
    root.mkdir(parents=True)
    db, effects = root / "hops.db", root / "effects.log"
    here = Path(__file__).resolve().parents[2]
    path = os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])
    args = [sys.executable, "-m", MODULE, str(db), str(effects), "start", "hops", "hop"]
    crashing = subprocess.run(
        [*args, _input(RUNS)],
        cwd=here,
        env={**os.environ, "PYTHONPATH": path, ENV_VAR: str(k)},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    if crashing.returncode == 0:
        result = json.loads(crashing.stdout.strip().splitlines()[-1])["result"]
        problems = [] if result == _expected(RUNS) else [f"result {result}"]
        return True, problems + _check(db, effects, RUNS, 0)
    if crashing.returncode != CRASH_EXIT_CODE:
        return False, [f"point {k}: exit {crashing.returncode}: {crashing.stderr}"]
    result = finish(_start(db, effects, RUNS))["result"]
    problems = [] if result == _expected(RUNS) else [f"result {result}"]
    return False, [f"[point {k}] {p}" for p in problems + _check(db, effects, RUNS, 1)]


def test_a_crash_at_every_persistence_point_resumes_the_right_run(tmp_path: Path) -> None:
    problems: list[str] = []
    crashed: list[int] = []
    k, done = 1, False
    with ThreadPoolExecutor(max_workers=3) as pool:
        while not done and k < 200:
            batch = list(range(k, k + 3))
            outcomes = pool.map(lambda p: (p, _trial(tmp_path / f"k{p}", p)), batch)
            for point, (completed, found) in outcomes:
                problems += found
                if completed:
                    done = True
                else:
                    crashed.append(point)
            k += 3
    assert done, "every trial crashed"
    # Four runs of two steps and three switches: each commit is two points, crashed at.
    assert len(crashed) >= 2 * (2 * RUNS + RUNS - 1)
    assert problems == []


def test_killed_again_and_again_the_loop_finishes_with_each_run_once(tmp_path: Path) -> None:
    db, effects = tmp_path / "hops.db", tmp_path / "effects.log"
    runs = 12
    kills = 0
    for at in (3, 6, 9):
        proc = _start(db, effects, runs, pause_ms=30)
        wait_until(functools.partial(_reached, db, at), f"run {at}", proc)
        kill(proc)  # a real SIGKILL, wherever the process happens to be
        kills += 1
    result = finish(_start(db, effects, runs, pause_ms=30))["result"]
    assert result == _expected(runs)
    assert _check(db, effects, runs, kills) == []


def _reached(db: Path, run: int) -> bool:
    return _run_number(db) >= run


def _run_number(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT MAX(run_number) FROM executions").fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
    return int(row[0] or 0)


pytestmark = pytest.mark.timeout(600)
