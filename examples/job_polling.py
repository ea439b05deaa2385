"""Start a long job, then poll its status with wait_for_condition until it is done.

    python examples/job_polling.py [JOB_SECONDS] [NAME]

Runs on `jobs.db` in the current folder. The job is simulated: it reports RUNNING
with growing progress until JOB_SECONDS have passed since it started. Each poll's
state is checkpointed and the waits between polls are durable, so the poller can be
killed and restarted without losing track of the job: run it again with the same
NAME (default `report`) and it carries on polling the job it submitted, rather than
submitting another. Once that job is done, the same NAME answers at once with its
stored result; a new NAME runs a new job.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from durable_engine import (
    DurableContext,
    Engine,
    JitterStrategy,
    StepContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)

engine = Engine("jobs.db")


def start_job(step: StepContext, seconds: float) -> dict[str, Any]:
    """Stand-in for submitting work to a batch system: returns the job's handle."""
    started = time.time()
    job_id = f"job-{int(started * 1000)}"
    print(f"submitted {job_id}", flush=True)
    return {"job_id": job_id, "started": started, "seconds": seconds}


def job_status(state: dict[str, Any], check: StepContext) -> dict[str, Any]:
    elapsed = time.time() - state["started"]
    done = elapsed >= state["seconds"]
    progress = 100 if done else int(100 * elapsed / state["seconds"])
    print(f"poll {check.attempt}: {progress}%", flush=True)
    return {**state, "state": "DONE" if done else "RUNNING", "progress": progress}


@engine.durable_function(name="run_job")
async def run_job(ctx: DurableContext, seconds: float) -> dict[str, Any]:
    job = await ctx.step(lambda s: start_job(s, seconds), name="start-job")
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda s: s["state"] != "DONE",
            max_attempts=30,
            initial_delay=0.5,
            max_delay=2,
            backoff_rate=1.5,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    final = await ctx.wait_for_condition(
        job_status,
        config=WaitForConditionConfig(
            wait_strategy=strategy, initial_state={**job, "state": "NEW"}
        ),
        name="until-done",
    )
    return {"job_id": final["job_id"], "state": final["state"], "progress": final["progress"]}


async def main(seconds: float, name: str) -> None:
    async with engine:
        # The name makes a restart find the execution it started, not start another.
        result = await engine.run(run_job, seconds, execution_name=f"job-{name}")
        print("result:", result, flush=True)


if __name__ == "__main__":
    asyncio.run(
        main(
            float(sys.argv[1]) if len(sys.argv) > 1 else 3.0,
            sys.argv[2] if len(sys.argv) > 2 else "report",
        )
    )
