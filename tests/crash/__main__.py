"""The long crash profile: `python -m tests.crash --trials N [--minutes M] [--sweep]`.

Runs N chaos trials (2 to 4 worker processes each, SIGKILL, SIGSTOP past the lease,
crash points, callbacks answered twice at once), a share of them with the workers'
SQLite at `synchronous="FULL"`, optionally the every-crash-point sweep over every
workflow, prints the counts, and exits 1 if any invariant was broken.

`--store postgres` runs the trials on a throwaway PostgreSQL cluster instead (a new
database per trial): 4 workers as 2 hosts whose engine clocks are `--clock-offset`
seconds ahead and behind, and the server stopped and started again mid-trial.

`--plant NAME` runs every worker with a planted bug (`tests.crash.plant`): the run
must then report violations, and exits 0 only if it does (1 if the bug went unseen).
With `--aimed` its trials are the short ones aimed at the invariant the bug breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.crash.crash_points import sweep
from tests.crash.invariants import Outcome
from tests.crash.mix import PLANT_PROFILES, Profile, run_trial
from tests.crash.plant import EXPECTED, PLANTS
from tests.crash.worker_app import FUNCTIONS


def _report(title: str, total: Outcome, trials: int) -> None:
    rows = [
        ("trials", trials),
        ("  of them at synchronous=FULL", total.full_trials),
        ("executions checked", total.executions),
        ("SIGKILLs", total.kills),
        ("SIGSTOPs past the lease", total.stops),
        ("crash-point exits", total.crashes),
        ("server restarts", total.server_restarts),
        ("workers refused at start (server down)", total.refused_starts),
        ("takeovers", total.takeovers),
        ("lease-lost events", total.lease_lost),
        ("extra at-least-once runs", total.extra_alo_runs),
        ("interrupted at-most-once attempts", total.interrupted_amo),
        ("callbacks answered (twice at once)", total.callbacks_sent),
        ("invariant violations", len(total.violations)),
    ]
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<40} {value}")


Database = Callable[[int], contextlib.AbstractContextManager[str | None]]
"""The database of trial i: None for a new SQLite file in the trial's folder."""


@contextlib.contextmanager
def _no_server(i: int) -> Iterator[str | None]:
    yield None


@contextlib.contextmanager
def _postgres() -> Iterator[tuple[Database, Callable[[], None]]]:
    """A throwaway PostgreSQL cluster: a new database per trial, and a restart."""
    import asyncpg

    from tests.pg_cluster import running_cluster

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(cluster.admin_url())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    @contextlib.contextmanager
    def database(i: int) -> Iterator[str | None]:
        name = f"trial{i}"
        asyncio.run(admin(f"CREATE DATABASE {name} TEMPLATE template0"))
        try:
            yield cluster.url(name)
        finally:
            asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def restart() -> None:
        cluster.stop("fast")
        time.sleep(0.3)
        cluster.start()

    with running_cluster() as cluster:
        yield database, restart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash", description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--minutes", type=float, help="stop starting trials after this long")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, choices=[2, 3, 4], help="default: 2 to 4")
    parser.add_argument("--disruptions", type=int, default=6, help="per trial")
    parser.add_argument(
        "--full-every",
        type=int,
        default=3,
        metavar="K",
        help="every K-th trial runs its workers at synchronous=FULL (0: none); default 3",
    )
    parser.add_argument("--plant", choices=PLANTS, help="run the workers with a planted bug")
    parser.add_argument(
        "--aimed", action="store_true", help="with --plant: the trials aimed at its invariant"
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--clock-offset",
        type=float,
        default=2.0,
        help="postgres: the two hosts' engine clocks are this many seconds ahead and behind",
    )
    parser.add_argument(
        "--skew",
        choices=["engine", "host"],
        default="engine",
        help="postgres: offset the engine's clock only (engine), or the whole host's wall "
        "clock as the store measures it too (host); default engine",
    )
    parser.add_argument(
        "--server-restarts", type=int, default=1, help="postgres: per trial (default 1)"
    )
    parser.add_argument("--sweep", action="store_true", help="also crash at every point")
    parser.add_argument("--keep", type=Path, help="keep each trial's folder under this one")
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="durable-crash-"))
    print(f"seed {seed}; trial folders under {root}", flush=True)
    total = Outcome()
    began = time.monotonic()
    done = 0
    with contextlib.ExitStack() as stack:
        database: Database = _no_server
        restart: Callable[[], None] | None = None
        if args.store == "postgres":
            database, restart = stack.enter_context(_postgres())
        for i in itertools.count():
            if i >= args.trials:
                break
            if args.minutes is not None and time.monotonic() - began > args.minutes * 60:
                break
            trial_seed = rng.randrange(1 << 30)
            if args.store == "postgres":
                workers = args.workers or 4
                profile = Profile(
                    workers=workers,
                    disruptions=args.disruptions,
                    plant=args.plant,
                    crash_points=False,  # the crash hook is the SQLite store's
                    clock_offsets=(args.clock_offset, -args.clock_offset),
                    skew=args.skew,
                    server_restarts=args.server_restarts,
                )
            else:
                workers = args.workers or rng.choice([2, 3, 4])
                full = args.full_every > 0 and i % args.full_every == args.full_every - 1
                profile = Profile(
                    workers=workers,
                    disruptions=args.disruptions,
                    synchronous="FULL" if full else "NORMAL",
                    plant=args.plant,
                )
            if args.plant is not None and args.aimed:
                profile = dataclasses.replace(PLANT_PROFILES[args.plant], plant=args.plant)
                workers = profile.workers
            folder = root / f"trial-{i:05d}"
            with database(i) as db:
                outcome = run_trial(folder, trial_seed, profile, db=db, restart_server=restart)
            total.add(outcome)
            done += 1
            if outcome.violations:
                print(f"trial {i} (seed {trial_seed}, {workers} workers) broke invariants:")
                for v in outcome.violations:
                    print(f"  {v}")
            elif args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
            if done % 10 == 0:
                print(
                    f"{done} trials ({total.full_trials} FULL), {total.kills} kills, "
                    f"{total.stops} stops, {total.crashes} crash points, "
                    f"{total.server_restarts} server restarts, "
                    f"{len(total.violations)} violations, {time.monotonic() - began:.0f}s",
                    flush=True,
                )
    seconds = time.monotonic() - began
    _report(f"chaos trials on {args.store} (seed {seed}, {seconds:.0f}s)", total, done)
    violations = len(total.violations)
    if args.sweep:
        plan = [(f, 3) for f in FUNCTIONS if f != "stall"]
        result = sweep(root / "sweep", plan)
        _report(
            f"every crash point: crashed at 1..{max(result.crashed_at, default=0)}, "
            f"completed with none at {result.completed_at}",
            result.outcome,
            len(result.crashed_at) + 1,
        )
        for v in result.outcome.violations:
            print(f"  {v}")
        violations += len(result.outcome.violations)
    if args.plant is not None:
        phrase = EXPECTED[args.plant]
        named = sum(phrase in v for v in total.violations)
        print(
            f"planted {args.plant}: caught by {len(total.violations)} violations, "
            f"{named} of them of the {phrase} invariant"
        )
        return 0 if total.violations else 1
    if violations == 0 and args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
