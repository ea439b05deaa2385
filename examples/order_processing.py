"""Order processing: validate, enrich, wait durably, finalize.

    python examples/order_processing.py [ORDER_ID]

Runs on `orders.db` in the current folder. Validation rejects a bad order before any
step runs: the execution fails with the reason, which the script prints in one line
(exit status 1). Enrichment calls a registered enricher inside a checkpointed
step with retries; a durable 2-second wait lets the execution leave memory; the
finalize step builds the result. Run it again with the same ORDER_ID and the stored
execution answers at once, without running any step twice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionFailedError,
    RetryPresets,
    StepConfig,
    StepContext,
    durable_step,
)

engine = Engine("orders.db")

Enricher = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
ENRICHERS: dict[str, Enricher] = {}


def enricher(name: str) -> Callable[[Enricher], Enricher]:
    """Register a plain (non-durable) function that enriches an order."""

    def register(fn: Enricher) -> Enricher:
        ENRICHERS[name] = fn
        return fn

    return register


@enricher("customer")
async def enrich_with_customer(order: dict[str, Any]) -> dict[str, Any]:
    # A real service would call a CRM here; this one derives a customer record.
    customer_id = f"CUST-{sum(map(ord, order['orderId'])) % 10_000:04d}"
    return {"statusCode": 200, "customerId": customer_id, "tier": "gold", "region": "eu-west"}


def validate(order: Any) -> dict[str, Any]:
    if not isinstance(order, dict) or not str(order.get("orderId", "")).strip():
        raise ValueError("an order needs a non-empty 'orderId'")
    return order


@durable_step
async def enrich(step: StepContext, order: dict[str, Any], using: str) -> dict[str, Any]:
    step.logger.info("enriching %s (attempt %d)", order["orderId"], step.attempt)
    return await ENRICHERS[using](order)


@durable_step
def finalize(
    step: StepContext, order: dict[str, Any], enrichment: dict[str, Any]
) -> dict[str, Any]:
    return {
        "success": True,
        "orderId": order["orderId"],
        "enrichmentResult": enrichment,
        "status": "FINALIZED",
        "finalizedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@engine.durable_function(name="process_order")
async def process_order(ctx: DurableContext, order: dict[str, Any]) -> dict[str, Any]:
    order = validate(order)
    ctx.logger.info("processing order %s", order["orderId"])
    enrichment = await ctx.step(
        enrich(order, "customer"), config=StepConfig(retry_strategy=RetryPresets.transient())
    )
    await ctx.wait(timedelta(seconds=2), name="cool-off")
    return await ctx.step(finalize(order, enrichment))


async def main(order_id: str) -> None:
    async with engine:
        # The order id names the execution, so a retried run finds it (none if it is empty:
        # the workflow rejects such an order itself).
        handle = await engine.start(
            process_order, {"orderId": order_id}, execution_name=order_id or None
        )
        print(f"execution {handle.execution_id} for {order_id}")
        try:
            result = await handle.result()
        except ExecutionFailedError as exc:
            sys.exit(f"order rejected: {exc.message}")
        print("result:", result)
        print(f"{'id':4} {'type':8} {'name':10} {'status':10} {'attempt':>7}")
        for op in await engine.get_operations(handle.execution_id):
            print(
                f"{op.operation_id:4} {op.type:8} {op.name or '':10} {op.status:10} {op.attempt:>7}"
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ORDER-123"))
