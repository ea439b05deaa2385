"""The long crash profile: `python -m tests.crash --trials N [--minutes M] [--sweep]`.

Runs N chaos trials (2 to 4 worker processes each, SIGKILL, SIGSTOP past the lease,
crash points), optionally the every-crash-point sweep over every workflow, prints
the counts, and exits 1 if any invariant was broken.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.crash.crash_points import sweep
from tests.crash.invariants import Outcome
from tests.crash.mix import Profile, run_trial
from tests.crash.worker_app import FUNCTIONS


def _report(title: str, total: Outcome, trials: int) -> None:
    rows = [
        ("trials", trials),
        ("executions checked", total.executions),
        ("SIGKILLs", total.kills),
        ("SIGSTOPs past the lease", total.stops),
        ("crash-point exits", total.crashes),
        ("takeovers", total.takeovers),
        ("lease-lost events", total.lease_lost),
        ("extra at-least-once runs", total.extra_alo_runs),
        ("interrupted at-most-once attempts", total.interrupted_amo),
        ("callbacks answered", total.callbacks_sent),
        ("invariant violations", len(total.violations)),
    ]
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<36} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash", description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--minutes", type=float, help="stop starting trials after this long")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, choices=[2, 3, 4], help="default: 2 to 4")
    parser.add_argument("--disruptions", type=int, default=6, help="per trial")
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
    for i in range(args.trials):
        if args.minutes is not None and time.monotonic() - began > args.minutes * 60:
            break
        workers = args.workers or rng.choice([2, 3, 4])
        trial_seed = rng.randrange(1 << 30)
        folder = root / f"trial-{i:05d}"
        outcome = run_trial(
            folder, trial_seed, Profile(workers=workers, disruptions=args.disruptions)
        )
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
                f"{done} trials, {total.kills} kills, {total.stops} stops, "
                f"{total.crashes} crash points, {len(total.violations)} violations, "
                f"{time.monotonic() - began:.0f}s",
                flush=True,
            )
    _report(f"chaos trials (seed {seed}, {time.monotonic() - began:.0f}s)", total, done)
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
    if violations == 0 and args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
