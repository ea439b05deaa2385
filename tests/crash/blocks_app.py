"""with_retry and saga workflows for crash tests, on the engine of `tests.crash.app`.

Usage: python -m tests.crash.blocks_app DB EFFECTS start|resume ... (as `tests.crash.app`).
Every side effect is appended to EFFECTS, a file outside the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from durable_engine import (
    DurableContext,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
)
from tests.crash.app import EFFECTS, engine, main, record

_ONCE = StepConfig(retry_strategy=RetryPresets.none())


def _seen(line: str) -> int:
    return EFFECTS.read_text().splitlines().count(line) if EFFECTS.exists() else 0


@engine.durable_function(name="retry_block")
async def retry_block(ctx: DurableContext, _: None) -> dict[str, int]:
    async def block(child: DurableContext) -> int:
        def attempt(s: StepContext) -> int:
            tries = _seen("try") + 1
            record("try")
            if tries == 1:
                raise ConnectionError("the bank is down")
            return tries

        return await child.step(attempt, name="charge", config=_ONCE)

    tries = await ctx.with_retry(
        block, name="pay", retry_strategy=RetryPresets.fixed(1.0, max_attempts=3)
    )
    return {"tries": tries}


def _undo(tag: str, *, slow: bool = False, flaky: bool = False) -> Callable[[StepContext], str]:
    def body(s: StepContext) -> str:
        record(f"{tag} start {s.attempt}")
        if slow and _seen(f"{tag} start 1") == 1 and s.attempt == 1:
            time.sleep(60)  # killed here, the first time only
        if flaky and s.attempt == 1:
            raise ConnectionError(f"{tag}: try again")
        record(f"{tag} done")
        return tag

    return body


def _book(item: str) -> Callable[[StepContext], None]:
    return lambda s: record(f"book {item}")


async def _trip(ctx: DurableContext, *, slow: bool, flaky: bool) -> dict[str, str]:
    try:
        async with ctx.saga(name="trip") as saga:
            for item in ("hotel", "flight", "car"):
                await ctx.step(_book(item), name=f"book-{item}")
                flight = item == "flight"
                saga.add_compensation(
                    _undo(f"cancel {item}", slow=slow and flight, flaky=flaky and flight),
                    name=f"cancel-{item}",
                )

            def pay(s: StepContext) -> None:
                record("pay")
                raise RuntimeError("card declined")

            await ctx.step(pay, name="pay", config=_ONCE)
    except StepError as exc:
        return {"error": exc.error_type, "message": exc.message}
    return {"error": "none"}


@engine.durable_function(name="saga_slow")
async def saga_slow(ctx: DurableContext, _: None) -> dict[str, str]:
    """The flight's compensation sleeps on its first run: a test kills it there."""
    return await _trip(ctx, slow=True, flaky=False)


@engine.durable_function(name="saga_flaky")
async def saga_flaky(ctx: DurableContext, _: None) -> dict[str, str]:
    """The flight's compensation fails its first attempt: a test kills it in the delay."""
    return await _trip(ctx, slow=False, flaky=True)


if __name__ == "__main__":
    asyncio.run(main())
