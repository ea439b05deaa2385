"""The views (`get_operations`, `durable-engine history`) show every value the engine
wrote, also those a step or a condition wrote with a codec of its own: read with the
function's codec, else by the serdes header. Only a value that needs a codec the view
does not have (a class registered only in a step's own registry) shows as a
SerDesError, saying so."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

from tests.cli.helpers import cli, env

APP = """
import ast
from dataclasses import dataclass
from decimal import Decimal

import serdes
from durable_engine import (
    DurableContext, Engine, StepConfig, WaitForConditionConfig, WaitForConditionDecision,
)


class ReprCodec:
    \"\"\"A codec from outside serdes: Python literals, no serdes header.\"\"\"

    def serialize(self, value, ctx=None):
        return repr(value).encode()

    def deserialize(self, data, ctx=None):
        return ast.literal_eval(data.decode())


PRIVATE = serdes.TypeRegistry()


@PRIVATE.register
@dataclass
class Badge:
    level: int


engine = Engine("app.db", in_memory_wait=0, serdes=ReprCodec())


def until_two(state, attempt):
    if state >= 2:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(0.01)


@engine.durable_function(name="codecs")
async def codecs(ctx: DurableContext, _: None) -> str:
    await ctx.step(
        lambda _: {"price": Decimal("9.99")},
        name="json_step",
        config=StepConfig(serdes=serdes.JsonSerDes()),
    )
    await ctx.step(lambda _: ["own", 1], name="function_codec_step")
    await ctx.wait_for_condition(
        lambda state, _: state + 1,
        config=WaitForConditionConfig(
            initial_state=0,
            wait_strategy=until_two,
            serdes=serdes.ZstdSerDes(serdes.JsonSerDes(), threshold=0),
        ),
        name="poll",
    )
    await ctx.step(
        lambda _: Badge(3),
        name="private_step",
        config=StepConfig(serdes=serdes.MsgpackSerDes(PRIVATE)),
    )
    return "done"


async def main():
    async with engine:
        handle = await engine.start(codecs, None)
        await handle.result()
        print(handle.execution_id)
        for op in await engine.get_operations(handle.execution_id):
            print(repr((op.name, op.result)))
"""


def test_the_views_read_values_written_with_a_step_or_condition_codec(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    ran = subprocess.run(
        [sys.executable, "-c", "import asyncio, app; asyncio.run(app.main())"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    execution_id, *shown = ran.stdout.splitlines()
    assert shown[:3] == [
        repr(("json_step", {"price": Decimal("9.99")})),
        repr(("function_codec_step", ["own", 1])),
        repr(("poll", 2)),
    ]
    assert shown[3].startswith("('private_step', SerDesError(")
    assert "cannot be read without the codec that wrote it" in shown[3]
    assert "'app.Badge', which is not registered here" in shown[3]

    history = json.loads(
        cli(tmp_path, "history", execution_id, "--app", "app:engine", "--json").stdout
    )
    results = {op["name"]: op["result"] for op in history}
    assert results["json_step"] == {"price": "<Decimal> 9.99"}
    assert results["function_codec_step"] == ["own", 1]
    assert results["poll"] == 2
    assert "without the codec that wrote it" in json.dumps(results["private_step"])
