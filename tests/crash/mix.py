"""Chaos trials: real worker processes on one database, SIGKILLed, SIGSTOPped and crashed.

A trial starts executions of every workflow in `worker_app`, runs 2 to 4
`python -m durable_engine worker` processes, disrupts them at random moments
(SIGKILL and restart; SIGSTOP past the lease, then SIGCONT; a worker that exits by
itself at a random persistence point; on PostgreSQL, the server stopped and started
again), half the kills and pauses aimed at a worker inside a step body, answers
callbacks from two other processes at once with the command line, and then checks
the invariants of `tests.crash.invariants`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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
    synchronous: str = "NORMAL"
    """The SQLite `synchronous` mode of the workers: NORMAL or FULL."""
    plant: str | None = None
    """A planted bug the workers apply (`tests.crash.plant`), or None."""
    functions: tuple[str, ...] | None = None
    """The workflows to start (all of `worker_app.FUNCTIONS` if None)."""
    aim: float = 0.5
    """The chance that a kill or a pause goes to a worker inside a step body."""
    aim_kinds: tuple[str, ...] | None = None
    """If set, every kill and pause waits for a worker inside a body of one of these
    kinds ("alo", "amo", ...) and goes to it."""
    actions: tuple[str, ...] | None = None
    """The disruptions to draw from ("kill", "stop", "crash"; None: the usual mix)."""
    stop_extra: tuple[float, float] = (0.5, 1.5)
    """A pause lasts the lease plus a random number of seconds in this range."""
    clock_offsets: tuple[float, ...] = (0.0,)
    """The engine clocks of the hosts the workers are spread over (PostgreSQL)."""
    skew: str = "engine"
    """"engine": only the engine's `Clock` is off; "host": the host's wall clock is, so
    the PostgreSQL store's measured offset to the server moves with it."""
    server_restarts: int = 0
    """Times the database server is stopped and started again mid-trial (PostgreSQL)."""


PLANT_PROFILES = {
    # No disruption needed: every wait is short, and the stored instant agrees with it.
    "early-timers": Profile(workers=2, disruptions=0, functions=("waits", "steps"), copies=1),
    # Kill workers inside at-most-once bodies (long ones, so that a kill lands in one).
    "no-started-record": Profile(
        workers=2,
        disruptions=2,
        functions=("steps",),
        copies=2,
        actions=("kill",),
        aim_kinds=("amo",),
        body_seconds=1.0,
    ),
    # Pause workers inside traced bodies for two leases and more, so that another
    # worker takes the execution over (a claimer may first watch the heartbeat stay
    # unchanged for a whole lease) before the paused one finishes its body and writes.
    "no-fencing": Profile(
        workers=3,
        disruptions=2,
        functions=("traced",),
        copies=2,
        actions=("stop",),
        aim_kinds=("alo", "amo"),
        body_seconds=1.0,
        stop_extra=(2.0, 2.5),
    ),
}
"""For each planted bug, a short trial aimed at the invariant it breaks."""


Restart = Callable[[], None]
"""Stops the database server and starts it again."""


def run_trial(
    root: Path,
    seed: int,
    profile: Profile = Profile(),
    *,
    db: str | None = None,
    restart_server: Restart | None = None,
) -> Outcome:
    """One chaos trial in folder `root` (which must be new and empty), on a new SQLite
    file there, or on the empty PostgreSQL database `db`."""
    rng = random.Random(seed)
    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    target: Path | str = db if db is not None else root / "mix.db"
    effects = root / "effects.jsonl"
    from tests.crash.worker_app import FUNCTIONS

    functions = profile.functions or FUNCTIONS
    plan = [(f, rng.randint(0, 30)) for f in functions for _ in range(profile.copies)]
    if profile.functions is None:
        plan += [("traced", n) for n in range(profile.copies)]  # the stale-write detector, twice
    started = start_executions(target, effects, profile.lease, plan)
    cluster = Cluster(root, target, effects, profile.lease)
    with cluster:
        cluster.body_seconds = profile.body_seconds
        cluster.synchronous = profile.synchronous
        cluster.plant = profile.plant
        cluster.clock_offsets = profile.clock_offsets
        cluster.skew = profile.skew
        for _ in range(profile.workers):
            cluster.spawn()
        outcome = Outcome()
        problems: list[str] = []
        answerer = CallbackAnswerer(target, effects)
        budget = profile.disruptions
        restarts = profile.server_restarts if restart_server is not None else 0
        restart_at = sorted(rng.uniform(1.0, 6.0) for _ in range(restarts))
        trial_began = time.monotonic()
        next_action = time.monotonic() + rng.uniform(0.2, 1.0)
        pending_restarts: list[float] = []
        deadline = time.monotonic() + profile.deadline
        while True:
            problems += cluster.tick()
            if restart_at and time.monotonic() - trial_began >= restart_at[0]:
                restart_at.pop(0)
                assert restart_server is not None
                down = time.time()
                restart_server()
                cluster.outages.append((down, time.time()))
                outcome.server_restarts += 1
            # A restart still due comes first: the trial promised one, and workers must
            # live through it even when their executions ended early.
            if not restart_at and all_ended(target, len(started)):
                break
            if time.monotonic() > deadline:
                problems.append(
                    f"not every execution ended within {profile.deadline}s: {statuses(target)}"
                )
                break
            answerer.poll()
            while cluster.refused:  # could not open the database while it was down
                cluster.refused.pop()
                cluster.spawn()
            now = time.monotonic()
            for at in [t for t in pending_restarts if t <= now]:
                pending_restarts.remove(at)
                cluster.spawn()
            running = [w for w in cluster.live() if w.stopped_until is None]
            ready = budget > 0 and now >= next_action and running
            if ready and _disrupt(cluster, running, rng, profile, now, pending_restarts):
                budget -= 1
                next_action = now + rng.uniform(0.1, 0.7)
            if not cluster.live() and not pending_restarts:
                cluster.spawn()
            time.sleep(0.05)
        problems += answerer.finish()
        outcome.callbacks_sent = len(answerer.answered)
        problems += cluster.shutdown()
    outcome.seconds = time.monotonic() - began
    outcome.full_trials = int(profile.synchronous.upper() == "FULL")
    check(target, effects, started, cluster, outcome, problems, answerer.accepted)
    return outcome


def _disrupt(
    cluster: Cluster,
    running: list[Worker],
    rng: random.Random,
    profile: Profile,
    now: float,
    pending_restarts: list[float],
) -> bool:
    """Kill a running worker (to restart it soon), pause one past its lease, or start
    one that crashes at a persistence point. A kill or a pause goes, with chance
    `profile.aim`, to a worker inside a step body if there is one. False if it waits
    for a worker inside a body of `profile.aim_kinds` and there is none yet."""
    usual = ("kill", "kill", "stop", "crash") if profile.crash_points else ("kill", "stop")
    action = rng.choice(profile.actions or usual)
    victim = rng.choice(running)
    if action in ("kill", "stop") and profile.aim_kinds is not None:
        inside = cluster.in_body(profile.aim_kinds)
        if not inside or (action == "stop" and len(running) < 2):
            return False
        victim = rng.choice(inside)
    elif action in ("kill", "stop") and rng.random() < profile.aim:
        inside = cluster.in_body()
        if inside:
            victim = rng.choice(inside)
    if action == "kill":
        cluster.kill(victim)
        pending_restarts.append(now + rng.uniform(0.0, 0.6))
    elif action == "stop" and len(running) > 1:
        cluster.stop(victim, profile.lease + rng.uniform(*profile.stop_extra))
    elif action == "crash" and len(cluster.live()) < 4:
        cluster.spawn(crash_at=rng.randint(1, 60))
    return True
