"""Real worker processes on one PostgreSQL database, killed with SIGKILL, paused past
their lease with SIGSTOP, and the server itself restarted under them; a chaos trial of
`tests.crash.mix` with 4 workers on 2 hosts whose clocks are 2 s ahead and 2 s behind.

What must hold afterwards: every execution ends with the result a fault-free run
gives, an at-most-once step never starts twice in one attempt, and a worker that lost
its lease never lands a write.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

import serdes
from tests.crash.cluster import Cluster, effects_of, start_executions
from tests.crash.mix import Profile, run_trial
from tests.crash.worker_app import expected
from tests.pg_cluster import Cluster as PgCluster

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except (OSError, asyncpg.PostgresError):  # the server is restarting
        return []


def _statuses(url: str) -> dict[str, str]:
    return dict(_query(url, "SELECT execution_id, status FROM durable.executions"))


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _all_ended(url: str, started: int) -> bool:
    found = _statuses(url)
    return len(found) >= started and set(found.values()) <= TERMINAL


def _check_outcome(url: str, effects: Path, started: dict[str, tuple[str, int]]) -> None:
    rows = _query(url, "SELECT execution_id, status, result, error FROM durable.executions")
    codec = serdes.MsgpackSerDes()
    failed = [(r[0], r[1], codec.deserialize(r[3])) for r in rows if r[1] != "SUCCEEDED"]
    assert failed == []
    got = {r[0]: (r[1], codec.deserialize(r[2])) for r in rows}
    assert got == {x: ("SUCCEEDED", expected(f, n)) for x, (f, n) in started.items()}
    amo_starts = Counter(
        (r["x"], r["op"], r["a"])
        for r in effects_of(effects)
        if r["k"] == "amo" and r["ph"] == "start"
    )
    assert [key for key, count in amo_starts.items() if count > 1] == []


def test_workers_killed_and_a_server_restart_lose_nothing(
    postgres_url: str, postgres_cluster: PgCluster, tmp_path: Path
) -> None:
    effects, lease = tmp_path / "effects.jsonl", 1.0
    rng = random.Random(7)
    plan = [("steps", n) for n in range(16)] + [("waits", n) for n in range(6)]
    started = start_executions(postgres_url, effects, lease, plan)
    kills = 0
    with Cluster(tmp_path, postgres_url, effects, lease) as cluster:
        for _ in range(3):
            cluster.spawn()
        _wait(lambda: len(effects_of(effects, while_written=True)) > 10, "work to begin")
        for round_ in range(6):
            time.sleep(rng.uniform(0.2, 0.6))
            victim = rng.choice(cluster.live())
            cluster.kill(victim)  # SIGKILL, mid-step or mid-commit
            kills += 1
            cluster.spawn()
            if round_ == 2:  # the server goes away and comes back under the workers
                postgres_cluster.stop("fast")
                time.sleep(0.5)
                postgres_cluster.start()
        _wait(lambda: _all_ended(postgres_url, len(started)), "every execution to end")
        problems = cluster.shutdown()
    assert kills == 6
    _check_outcome(postgres_url, effects, started)
    assert [p for p in problems if "exited" in p and "SIGTERM" not in p] == []


def test_a_worker_paused_past_its_lease_has_its_write_refused(
    postgres_url: str, tmp_path: Path
) -> None:
    effects, lease = tmp_path / "effects.jsonl", 1.0
    [execution_id] = start_executions(postgres_url, effects, lease, [("stall", 1.5)])
    with Cluster(tmp_path, postgres_url, effects, lease) as cluster:
        first = cluster.spawn()
        _wait(
            lambda: any(r["ph"] == "start" for r in effects_of(effects, while_written=True)),
            "the stall to begin",
        )
        cluster.stop(first, 60)  # paused inside the step, holding the lease
        second = cluster.spawn()
        _wait(
            lambda: (
                _query(
                    postgres_url,
                    "SELECT status FROM durable.operations WHERE op_id = '1'",
                )
                == [("SUCCEEDED",)]
            ),
            "the second worker to redo the step",
        )
        first.proc.send_signal(signal.SIGCONT)
        first.stopped_until = None
        _wait(
            lambda: '"event": "worker_lease_lost"' in first.log.read_text(),
            "the paused worker to notice",
        )
        _wait(lambda: _all_ended(postgres_url, 1), "the second worker to finish")
        assert cluster.shutdown() == []
    [(status, data)] = _query(postgres_url, "SELECT status, result FROM durable.executions")
    assert status == "SUCCEEDED"
    result = serdes.MsgpackSerDes().deserialize(data)
    stall_runs = [r for r in effects_of(effects) if r["op"] == "1" and r["ph"] == "end"]
    by_pid = {r["pid"]: r["tok"] for r in stall_runs}
    # The paused worker finished its body after the takeover; its result never landed.
    assert set(by_pid) == {first.proc.pid, second.proc.pid}
    assert isinstance(result, dict) and result["stall"] == by_pid[second.proc.pid]
    stored = _query(
        postgres_url,
        f"SELECT result FROM durable.operations WHERE execution_id = '{execution_id}'"
        " AND op_id = '1'",
    )
    assert [serdes.MsgpackSerDes().deserialize(r[0]) for r in stored] == [by_pid[second.proc.pid]]


def test_a_chaos_trial_on_two_hosts_with_skewed_clocks_and_a_server_restart(
    postgres_url: str, postgres_cluster: PgCluster, tmp_path: Path
) -> None:
    def restart() -> None:
        postgres_cluster.stop("fast")
        time.sleep(0.3)
        postgres_cluster.start()

    profile = Profile(
        workers=4,
        disruptions=4,
        copies=1,
        crash_points=False,  # the crash hook is the SQLite store's
        clock_offsets=(2.0, -2.0),  # worker k runs on host k mod 2
        skew="host",
        server_restarts=1,
    )
    outcome = run_trial(tmp_path, 5, profile, db=postgres_url, restart_server=restart)
    assert outcome.violations == []
    assert outcome.server_restarts == 1
    assert outcome.kills + outcome.stops == 4
    assert outcome.executions >= 10 and outcome.callbacks_sent >= 1
