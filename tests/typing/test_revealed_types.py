"""mypy sees a durable function's types through the engine: what `run` and
`handle.result()` return, and the parameters a `durable_step` binds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import ROOT

SAMPLE = """
from __future__ import annotations

from dataclasses import dataclass

from durable_engine import DurableContext, Engine, StepContext, durable_step

engine = Engine("typed.db")


@dataclass
class Order:
    id: int


@dataclass
class Receipt:
    order_id: int
    total: float


@durable_step
def price(step: StepContext, order: Order, rate: float = 1.0) -> float:
    return order.id * rate


@durable_step
async def label(step: StepContext, receipt: Receipt) -> str:
    return f"receipt {receipt.order_id}"


@engine.durable_function
async def checkout(ctx: DurableContext, order: Order) -> Receipt:
    total = await ctx.step(price(order, rate=2.0))
    reveal_type(total)
    text = await ctx.step(label(Receipt(order.id, total)))
    reveal_type(text)
    reveal_type(price)
    return Receipt(order.id, total)


async def main() -> None:
    async with engine:
        receipt = await engine.run(checkout, Order(1))
        reveal_type(receipt)
        from_dict = await engine.run(checkout, {"id": 1})
        reveal_type(from_dict)
        handle = await engine.start(checkout, Order(2))
        reveal_type(handle)
        reveal_type(await handle.result())
        reveal_type(await engine.run("checkout", {"id": 3}))
        reveal_type(engine.function("checkout"))
        price(Order(1), rate="high")
        await engine.run(checkout, 42)
"""


def test_mypy_reveals_the_types_of_results_and_bound_steps(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--no-error-summary"),
            *("--config-file", str(ROOT / "pyproject.toml"), "sample.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [re.sub(r"^sample\.py:(\d+): ", r"\1: ", line) for line in proc.stdout.splitlines()]
    revealed = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed" in line]
    assert revealed == [
        '"float"',
        '"str"',
        '"def (order: sample.Order, rate: float =) -> '
        'durable_engine._step_context._BoundStep[float]"',
        '"sample.Receipt"',
        '"sample.Receipt"',
        '"durable_engine._engine.ExecutionHandle[sample.Receipt]"',
        '"sample.Receipt"',
        '"Any"',
        '"durable_engine._registry.DurableFunction[Any, Any]"',
    ], proc.stdout
    errors = [line for line in lines if ": error:" in line]  # the sample's two mistakes
    assert len(errors) == 2, proc.stdout
    assert 'Argument "rate" to "price" has incompatible type "str"; expected "float"' in errors[0]
    assert 'to "run" of "Engine"' in errors[1] and "Callable[[Any, int]" in errors[1]
