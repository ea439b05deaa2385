"""A database with real executions for the web page's tests, made by the engine itself."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from durable_engine import Engine, ExecutionStatus, StepError
from tests.conftest import wait_for_status

APP = """
from durable_engine import (
    DurableContext, Engine, RetryPresets, StepConfig, WaitForCallbackConfig,
)

engine = Engine("app.db", in_memory_wait=0)
NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())

@engine.durable_function(name="greet")
async def greet(ctx: DurableContext, who: dict) -> str:
    name = await ctx.step(lambda s: who["name"].title(), name="look-up")
    await ctx.wait(0.05, name="pause")
    return await ctx.step(lambda s: f"hello {name}", name="say")

@engine.durable_function(name="explode")
async def explode(ctx: DurableContext, order: dict) -> None:
    def boom(s):
        raise ValueError(f"cannot ship {order['item']}")
    await ctx.step(boom, name="ship", config=NO_RETRY)

@engine.durable_function(name="approve")
async def approve(ctx: DurableContext, order: dict) -> dict:
    await ctx.step(lambda s: order["id"], name="check")
    ctx.set_custom_status({"done": 1, "total": 2})
    answer = await ctx.wait_for_callback(
        lambda callback_id, s: None, name="manager-approval",
        config=WaitForCallbackConfig(timeout=3600),
    )
    return {"order": order["id"], "answer": answer}

@engine.durable_function(name="report")
async def report(ctx: DurableContext, lines: int) -> str:
    return await ctx.step(lambda s: "\\n".join(f"line {i:05d}" for i in range(lines)), name="build")
"""

SCRIPT = "<script>window.pwned = 1; document.title = 'pwned'</script>"
"""Untrusted text, put into an input and an error message: shown, never run."""


@dataclass(frozen=True, slots=True)
class Made:
    db: Path
    succeeded: str
    failed: str
    waiting: str
    big: str


def load_app(folder: Path) -> ModuleType:
    """Write the app into `folder` (where a worker started there imports it) and import it."""
    (folder / "app.py").write_text(APP)
    name = f"web_app_{abs(hash(folder))}"
    spec = importlib.util.spec_from_file_location(name, folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_database(folder: Path) -> Made:
    """app.db in `folder`, with an execution that succeeded, one that failed (its input
    and error hold a <script>), one suspended on a callback, and one with a large result."""
    engine: Engine = load_app(folder).engine
    engine.retarget(folder / "app.db")

    async def main() -> Made:
        async with engine:
            ok = await engine.start("greet", {"name": "ana"}, execution_name="greet-ana")
            await ok.result()
            bad = await engine.start("explode", {"id": 7, "item": SCRIPT})
            with contextlib.suppress(StepError):
                await bad.result()
            big = await engine.start("report", 500)
            await big.result()
            waiting = await engine.start("approve", {"id": 42}, execution_name="order-42")
            await wait_for_status(waiting, ExecutionStatus.SUSPENDED)
        return Made(
            db=folder / "app.db",
            succeeded=ok.execution_id,
            failed=bad.execution_id,
            waiting=waiting.execution_id,
            big=big.execution_id,
        )

    return asyncio.run(main())
