"""A process that runs one traced execution and exports its spans to a JSON-lines file.

`python -m tests.telemetry.otel_app DB SPANS EFFECTS start` starts execution `traced`
and hangs in its second step (the test kills it there); `... resume` runs what is due
until `traced` has ended.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from durable_engine import DurableContext, Engine, Telemetry
from tests.telemetry.spans import JsonLinesExporter


def main(db: str, spans: str, effects: str, mode: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(Path(spans))))
    engine = Engine(db, lease=1.0, telemetry=Telemetry(tracer_provider=provider))

    def record(line: str) -> str:
        with open(effects, "a") as f:
            f.write(line + "\n")
        return line

    async def second(_: object) -> str:
        record(f"second:{mode}")
        if mode == "start":
            await asyncio.sleep(3600)  # killed here
        return "done"

    @engine.durable_function(name="traced")
    async def traced(ctx: DurableContext, _: None) -> list[str]:
        one = await ctx.step(lambda _: record("first"), name="first")
        return [one, await ctx.step(second, name="second")]

    async def run() -> None:
        async with engine:
            if mode == "start":
                await engine.start(traced, None, execution_name="traced")
                await asyncio.sleep(3600)
            else:
                [info] = await engine.list_executions(name="traced")
                await engine.wait_for(info.execution_id)

    asyncio.run(run())


if __name__ == "__main__":
    main(*sys.argv[1:5])
