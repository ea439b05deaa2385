"""Planted bugs, for showing that the crash harness catches what it claims to catch.

A worker process started with `DURABLE_PLANT=<name>` breaks the engine in memory as
its app module (`tests.crash.worker_app`) is imported, before the worker starts; the
engine's own code is never changed on disk and never reads the variable. The harness
must then report a violation of the invariant named beside each plant:

- `no-started-record`: an at-most-once step's STARTED record is not written before
  its body runs (a kill mid-body then lets the same attempt run twice) -> the
  at-most-once invariant;
- `no-fencing`: a commit's epoch is not compared with the execution's (a worker
  paused past its lease lands its writes after a takeover) -> the stale-write
  invariant;
- `early-timers`: every `ctx.wait` sleeps 30% of its duration (the stored due time
  agrees with the shortened wait, so only the effects' clock can tell) -> the timer
  invariant.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["EXPECTED", "PLANTS", "PLANT_VAR", "install_from_environment"]

PLANT_VAR = "DURABLE_PLANT"
EXPECTED = {
    "no-started-record": "at-most-once",
    "no-fencing": "stale write",
    "early-timers": "timer",
}
"""Each plant, and a phrase every violation message of the invariant it breaks holds."""
PLANTS = tuple(EXPECTED)


def _no_started_record() -> None:
    from durable_engine._models import Checkpoint, OperationStatus, OperationType
    from durable_engine._operations import step

    written = step._written

    async def skip_started(run: Any, checkpoint: Any) -> None:
        if (
            type(checkpoint) is Checkpoint
            and checkpoint.type == OperationType.STEP
            and checkpoint.status == OperationStatus.STARTED
        ):
            return  # the body runs with nothing recorded
        await written(run, checkpoint)

    step._written = skip_started


def _no_fencing() -> None:
    from durable_engine._store import group_commit

    fence_state = group_commit._fence_state

    def epochs_always_match(conn: Any, commits: Any) -> Any:
        state = fence_state(conn, commits)
        claimed = {job[2].execution_id: job[2].epoch for job in commits}
        return {
            x: (claimed.get(x, epoch), status, parent)
            for x, (epoch, status, parent) in state.items()
        }

    group_commit._fence_state = epochs_always_match


def _early_timers() -> None:
    from durable_engine._operations import wait

    run_wait = wait.run_wait

    async def shortened(
        run: Any, op_id: str, parent_id: str | None, seconds: float, name: str | None
    ) -> None:
        await run_wait(run, op_id, parent_id, seconds * 0.3, name)

    wait.run_wait = shortened


def install_from_environment() -> None:
    """Apply the plant `$DURABLE_PLANT` names, if any."""
    plant = os.environ.get(PLANT_VAR, "")
    if not plant:
        return
    if plant not in EXPECTED:
        raise SystemExit(f"{PLANT_VAR}={plant!r}: not one of {', '.join(PLANTS)}")
    {
        "no-started-record": _no_started_record,
        "no-fencing": _no_fencing,
        "early-timers": _early_timers,
    }[plant]()
