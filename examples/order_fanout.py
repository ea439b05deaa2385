"""Order fan-out: one shipment sub-workflow per warehouse, invoked in parallel.

    python examples/order_fanout.py [ORDER_ID] [--packing-seconds 3]

Runs on `fanout.db` in the current folder. The order's lines are grouped by the
warehouse that stocks them, and for each warehouse the order invokes the durable
function `fulfil_shipment` with `ctx.invoke`: a child execution of its own, with its
own history, that picks the items, waits durably while the parcel is packed, and
labels it. The order waits (holding no memory) until every shipment has ended, then
confirms with all the parcels. Kill the script while the parcels are being packed and
run it again with the same ORDER_ID: each shipment carries on from where it was, and
nothing is picked or labelled twice. `python -m durable_engine list --db fanout.db`
shows the order and its child executions.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from durable_engine import DurableContext, Engine, StepContext, durable_step

engine = Engine("fanout.db")

STOCK = {  # which warehouse keeps which article
    "tent": "LYON",
    "stove": "LYON",
    "rope": "GDANSK",
    "boots": "PORTO",
    "map": "PORTO",
}


# The step bodies are async: they run on the event loop, so the three shipments'
# lines never interleave on stdout as bodies running in threads at once could.
@durable_step
async def pick(step: StepContext, warehouse: str, items: list[str]) -> list[str]:
    print(f"picked {', '.join(items)} at {warehouse}", flush=True)
    return items


@durable_step
async def label(step: StepContext, order_id: str, warehouse: str) -> str:
    parcel = f"PCL-{order_id}-{warehouse}"
    print(f"labelled {parcel}", flush=True)
    return parcel


@engine.durable_function(name="fulfil_shipment")
async def fulfil_shipment(ctx: DurableContext, shipment: dict[str, Any]) -> dict[str, Any]:
    """The sub-workflow: one warehouse's part of an order."""
    items = await ctx.step(pick(shipment["warehouse"], shipment["items"]))
    await ctx.wait(shipment["packing_seconds"], name="packing")  # leaves memory
    parcel = await ctx.step(label(shipment["order_id"], shipment["warehouse"]))
    return {"warehouse": shipment["warehouse"], "items": items, "parcel": parcel}


@durable_step
def confirm(step: StepContext, order_id: str, parcels: list[str]) -> str:
    print(f"confirmed {order_id}: {len(parcels)} parcel(s)", flush=True)
    return f"order {order_id} ships in {len(parcels)} parcel(s)"


@engine.durable_function(name="fan_out_order")
async def fan_out_order(ctx: DurableContext, order: dict[str, Any]) -> dict[str, Any]:
    by_warehouse: dict[str, list[str]] = {}
    for item in order["items"]:
        by_warehouse.setdefault(STOCK[item], []).append(item)
    shipments = [
        {
            "order_id": order["id"],
            "warehouse": warehouse,
            "items": items,
            "packing_seconds": order["packing_seconds"],
        }
        for warehouse, items in sorted(by_warehouse.items())
    ]

    async def invoke_one(
        child: DurableContext, shipment: dict[str, Any], index: int, _: Sequence[Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await child.invoke(
            "fulfil_shipment", shipment, name=f"ship-from-{shipment['warehouse']}"
        )
        return result

    done = await ctx.map(shipments, invoke_one, name="shipments")
    done.throw_if_error()
    parcels = done.get_results()
    note = await ctx.step(confirm(order["id"], [p["parcel"] for p in parcels]))
    return {"order": order["id"], "parcels": parcels, "note": note}


async def main(order_id: str, packing_seconds: float) -> None:
    order = {
        "id": order_id,
        "items": ["tent", "rope", "boots", "stove", "map"],
        "packing_seconds": packing_seconds,
    }
    async with engine:
        handle = await engine.start(fan_out_order, order, execution_name=order_id)
        print(f"execution {handle.execution_id} for {order_id}", flush=True)
        result = await handle.result()
        print("note:", result["note"], flush=True)
        for parcel in result["parcels"]:
            print(f"  {parcel['parcel']}: {', '.join(parcel['items'])}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an order fanned out to sub-workflows")
    parser.add_argument("order_id", nargs="?", default="O-77")
    parser.add_argument("--packing-seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.order_id, args.packing_seconds))
