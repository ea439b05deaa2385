"""Chaos trials: real worker processes on one file, SIGKILLed, SIGSTOPped and crashed.

A trial starts executions of every workflow in `worker_app`, runs 2 to 4
`python -m durable_engine worker` processes, disrupts them at random moments
(SIGKILL and restart; SIGSTOP past the lease, then SIGCONT; a worker that exits by
itself at a random persistence point), answers callbacks from another process with
the command line, and then checks the invariants of `tests.crash.invariants`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from tests.crash.cluster import (
    CallbackAnswerer,
    Cluster,
    Worker,
    all_ended,
    start_executions,
    statuses,
)
from tests.crash.invariants import Outcome, check


@dataclass(frozen=True)
class Profile:
    workers: int = 3
    disruptions: int = 5
    lease: float = 1.5
    deadline: float = 90.0
    crash_points: bool = True
    copies: int = 2
    """Executions of each workflow per trial."""
    body_seconds: float = 0.3


def run_trial(root: Path, seed: int, profile: Profile = Profile()) -> Outcome:
    """One chaos trial in folder `root` (which must be new and empty)."""
    rng = random.Random(seed)
    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    db, effects = root / "mix.db", root / "effects.jsonl"
    from tests.crash.worker_app import FUNCTIONS

    plan = [(f, rng.randint(0, 30)) for f in FUNCTIONS for _ in range(profile.copies)]
    plan += [("traced", n) for n in range(profile.copies)]  # the stale-write detector, twice
    started = start_executions(db, effects, profile.lease, plan)
    cluster = Cluster(root, db, effects, profile.lease)
    with cluster:
        cluster.body_seconds = profile.body_seconds
        for _ in range(profile.workers):
            cluster.spawn()
        outcome = Outcome()
        problems: list[str] = []
        answerer = CallbackAnswerer(db, effects)
        budget = profile.disruptions
        next_action = time.monotonic() + rng.uniform(0.2, 1.0)
        pending_restarts: list[float] = []
        deadline = time.monotonic() + profile.deadline
        while True:
            problems += cluster.tick()
            if all_ended(db, len(started)):
                break
            if time.monotonic() > deadline:
                problems.append(
                    f"not every execution ended within {profile.deadline}s: {statuses(db)}"
                )
                break
            answerer.poll()
            now = time.monotonic()
            for at in [t for t in pending_restarts if t <= now]:
                pending_restarts.remove(at)
                cluster.spawn()
            running = [w for w in cluster.live() if w.stopped_until is None]
            if budget > 0 and now >= next_action and running:
                budget -= 1
                next_action = now + rng.uniform(0.1, 0.7)
                _disrupt(cluster, running, rng, profile, now, pending_restarts)
            if not cluster.live() and not pending_restarts:
                cluster.spawn()
            time.sleep(0.05)
        problems += answerer.finish()
        outcome.callbacks_sent = len(answerer.answered)
        problems += cluster.shutdown()
    outcome.seconds = time.monotonic() - began
    check(db, effects, started, cluster, outcome, problems)
    return outcome


def _disrupt(
    cluster: Cluster,
    running: list[Worker],
    rng: random.Random,
    profile: Profile,
    now: float,
    pending_restarts: list[float],
) -> None:
    """Kill a running worker (to restart it soon), pause one past its lease, or start
    one that crashes at a persistence point."""
    action = rng.choice(
        ["kill", "kill", "stop", "crash"] if profile.crash_points else ["kill", "stop"]
    )
    victim = rng.choice(running)
    if action == "kill":
        cluster.kill(victim)
        pending_restarts.append(now + rng.uniform(0.0, 0.6))
    elif action == "stop" and len(running) > 1:
        cluster.stop(victim, profile.lease + rng.uniform(0.5, 1.5))
    elif len(cluster.live()) < 4:
        cluster.spawn(crash_at=rng.randint(1, 60))
