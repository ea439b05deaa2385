"""Batch ETL: extract records, transform them in slices, load the totals.

    python examples/batch_etl.py [RECORDS] [BATCH_SIZE]

Runs on `etl.db` in the current folder. The sequential variant processes slices in
order, each slice a uniquely named step, with a short durable wait between slices
during which the execution leaves memory, so no single run holds the process for
long. The fan-out variant maps over the records, each in its own child context, at
most 8 at a time. Kill it at any moment and run it again: finished slices are not
redone.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from durable_engine import CompletionConfig, DurableContext, Engine, MapConfig, StepContext

# No wait is kept in memory (the default keeps those under a second): each breather
# between slices suspends the execution, which holds no memory until it is due.
engine = Engine("etl.db", in_memory_wait=0)


def extract(count: int) -> list[dict[str, Any]]:
    """Stand-in for a query against a source system."""
    return [{"id": i, "amount_cents": (i * 37) % 1000, "region": ("eu", "us", "apac")[i % 3]}
            for i in range(count)]  # fmt: skip


def transform(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "amount": record["amount_cents"] / 100, "vat": record["region"] == "eu"}


@engine.durable_function(name="etl_in_slices")
async def etl_in_slices(ctx: DurableContext, job: dict[str, int]) -> dict[str, Any]:
    records = await ctx.step(lambda s: extract(job["records"]), name="extract")
    size = job["batch_size"]
    totals: dict[str, float] = {}
    for start in range(0, len(records), size):
        chunk = records[start : start + size]

        def process(s: StepContext, chunk: list[dict[str, Any]] = chunk) -> dict[str, float]:
            out: dict[str, float] = {}
            for row in map(transform, chunk):
                out[row["region"]] = round(out.get(row["region"], 0.0) + row["amount"], 2)
            return out

        part = await ctx.step(process, name=f"transform-{start}-{start + len(chunk) - 1}")
        for region, amount in part.items():
            totals[region] = round(totals.get(region, 0.0) + amount, 2)
        if start + size < len(records):
            await ctx.wait(timedelta(milliseconds=200), name=f"breather-{start}")
    return await ctx.step(lambda s: {"rows": len(records), "totals": totals}, name="load")


async def transform_one(
    ctx: DurableContext, record: dict[str, Any], index: int, records: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    return await ctx.step(lambda s: transform(record), name="transform")


@engine.durable_function(name="etl_fan_out")
async def etl_fan_out(ctx: DurableContext, job: dict[str, int]) -> dict[str, Any]:
    records = await ctx.step(lambda s: extract(job["records"]), name="extract")
    result = await ctx.map(
        records,
        transform_one,
        name="transform-all",
        config=MapConfig(
            max_concurrency=8,
            completion_config=CompletionConfig(tolerated_failure_percentage=1),
            item_namer=lambda record, index: f"record-{record['id']}",
        ),
    )
    result.throw_if_error()
    totals: dict[str, float] = {}
    for row in result.get_results():
        totals[row["region"]] = round(totals.get(row["region"], 0.0) + row["amount"], 2)
    return await ctx.step(lambda s: {"rows": result.success_count, "totals": totals}, name="load")


async def main(records: int, batch_size: int) -> None:
    job = {"records": records, "batch_size": batch_size}
    async with engine:
        sliced = await engine.run(
            etl_in_slices, job, execution_name=f"etl-slices-{records}-{batch_size}"
        )
        print("in slices:", sliced)
        fanned = await engine.run(
            etl_fan_out, job, execution_name=f"etl-fan-out-{records}-{batch_size}"
        )
        print("fan-out:  ", fanned)
        assert sliced == fanned, "both variants load the same totals"


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [100, 25][len(args) :])))
