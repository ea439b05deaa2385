"""Every crash point: a worker that exits at its k-th persistence point, for k = 1, 2, ...

With DURABLE_CRASH_AT=k the worker process installs a store persistence hook
(`tests.crash.crash_hook`) that exits the process (`os._exit`) at the k-th point it
counts: just before and just after each COMMIT. For each k a fresh
database gets the same executions, a worker runs them until it crashes, a second
worker finishes them, and the invariants of `tests.crash.invariants` are checked.
The sweep ends at the first k the crashing worker never reached: that run completed
with no crash at all, so every persistence point before it was a crash site.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.crash.cluster import CallbackAnswerer, Cluster, all_ended, start_executions, statuses
from tests.crash.invariants import Outcome, check


@dataclass
class Sweep:
    """What a sweep saw: the points crashed at, and the trials' outcomes added up."""

    crashed_at: list[int] = field(default_factory=list)
    completed_at: int | None = None
    outcome: Outcome = field(default_factory=Outcome)


def crash_at_point(
    root: Path, k: int, plan: list[tuple[str, int]], lease: float = 5.0, deadline: float = 60.0
) -> tuple[bool, Outcome]:
    """Run `plan` with a worker that crashes at point `k`; True if it never got there."""
    root.mkdir(parents=True, exist_ok=True)
    db, effects = root / "points.db", root / "effects.jsonl"
    started = start_executions(db, effects, lease, plan)
    cluster = Cluster(root, db, effects, lease)
    with cluster:
        cluster.body_seconds = 0.02
        crasher = cluster.spawn(crash_at=k)
        answerer = CallbackAnswerer(db, effects)
        problems: list[str] = []
        recovering = False
        completed = False
        began = time.monotonic()
        while True:
            problems += cluster.tick()
            if all_ended(db, len(started)):
                completed = not crasher.ended
                break
            if crasher.ended and not recovering:
                recovering = True
                cluster.spawn()
            if time.monotonic() - began > deadline:
                problems.append(f"crash point {k}: not every execution ended: {statuses(db)}")
                break
            answerer.poll()
            time.sleep(0.03)
        problems += answerer.finish()
        problems += cluster.shutdown()
    outcome = Outcome(seconds=time.monotonic() - began)
    check(db, effects, started, cluster, outcome, problems, answerer.accepted)
    outcome.violations = [f"[crash point {k}] {v}" for v in outcome.violations]
    return completed, outcome


def sweep(
    root: Path,
    plan: list[tuple[str, int]],
    *,
    parallel: int = 4,
    max_points: int = 1000,
) -> Sweep:
    """Crash at points 1, 2, ... (`parallel` at a time) until a run needs no crash."""
    result = Sweep()
    k = 1
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while result.completed_at is None and k <= max_points:
            points = list(range(k, k + parallel))
            runs = pool.map(lambda p: (p, *crash_at_point(root / f"k{p}", p, plan)), points)
            for point, completed, outcome in runs:
                result.outcome.add(outcome)
                if completed:
                    if result.completed_at is None or point < result.completed_at:
                        result.completed_at = point
                else:
                    result.crashed_at.append(point)
            k += parallel
    return result
