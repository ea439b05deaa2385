"""QuantaSneaks checkout: cart, inventory, payment, risk checks, review, shipping, saga.

    python examples/ecommerce_order.py [--order Q-1001] [--pairs 1] [--country FR]
                                       [--new-customer] [--review-timeout 600]
    python examples/ecommerce_order.py approve CALLBACK_ID    # the reviewer, elsewhere
    python examples/ecommerce_order.py reject CALLBACK_ID

Runs on `shop.db` in the current folder. The cart is checked and priced; then, in a
saga, stock is reserved and the card charged, each with its compensation registered
right after it. Three risk checks run in parallel (amount, account age, destination);
an order scoring 50 or more waits for a person to review it. Shipping comes last. If a
later step fails (the reviewer rejects, nobody reviews in time, no carrier serves the
country: try `--country JP`), the saga refunds the payment and releases the stock, in
that order, and the order ends CANCELLED. A risky order (`--pairs 2 --new-customer`)
waits for its review: kill the script then, answer from another terminal, run it again
with the same arguments, and it carries on without charging twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from durable_engine import (
    CallbackError,
    CallbackTimeoutError,
    DurableContext,
    Engine,
    ExecutionFailedError,
    ParallelBranch,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
    WaitForCallbackConfig,
    durable_step,
)

DATABASE = "shop.db"
engine = Engine(DATABASE)
ONCE = StepConfig(retry_strategy=RetryPresets.none())
CATALOGUE = {"QS-AIR-42": ("Quanta Air, size 42", 189.0)}
SHIPS_TO = {"FR", "DE", "ES", "IT", "NL", "BE", "PT", "AT"}
REVIEW_AT = 50


class OrderRejected(Exception):
    """The review turned the order down: the saga undoes what was done."""


# -- the outside world: each call is a step, and what it changes it prints ------------


@durable_step
def validate_cart(step: StepContext, order: dict[str, Any]) -> dict[str, Any]:
    lines = []
    for item in order["items"]:
        if item["sku"] not in CATALOGUE or item["qty"] < 1:
            raise ValueError(f"cannot sell {item['qty']} of {item['sku']!r}")
        title, price = CATALOGUE[item["sku"]]
        lines.append({**item, "title": title, "price": price})
    total = sum(line["price"] * line["qty"] for line in lines)
    return {"id": order["id"], "lines": lines, "total": total}


@durable_step
def reserve_inventory(step: StepContext, cart: dict[str, Any]) -> str:
    reservation = f"RSV-{cart['id']}"
    print(
        f"reserved {sum(line['qty'] for line in cart['lines'])} pair(s) ({reservation})", flush=True
    )
    return reservation


@durable_step
def release_inventory(step: StepContext, reservation: str) -> None:
    print(f"released {reservation}", flush=True)


@durable_step
def charge_payment(step: StepContext, cart: dict[str, Any]) -> str:
    charge = f"CHG-{cart['id']}"
    print(f"charged {cart['total']:.2f} EUR ({charge})", flush=True)
    return charge


@durable_step
def refund_payment(step: StepContext, charge: str, amount: float) -> None:
    print(f"refunded {amount:.2f} EUR ({charge})", flush=True)


@durable_step
def ship(step: StepContext, cart: dict[str, Any], country: str) -> str:
    if country not in SHIPS_TO:
        raise LookupError(f"no carrier ships to {country}")
    tracking = f"TRK-{cart['id']}-{country}"
    print(f"shipped to {country} ({tracking})", flush=True)
    return tracking


def ask_reviewer(cart: dict[str, Any], score: int) -> Any:
    def send(callback_id: str, step: StepContext) -> None:
        print(
            f"[review] order {cart['id']} of {cart['total']:.2f} EUR scored {score}: "
            f"answer with:\n"
            f"    python examples/ecommerce_order.py approve {callback_id}\n"
            f"    python examples/ecommerce_order.py reject {callback_id}",
            flush=True,
        )

    return send


def risk_checks(cart: dict[str, Any], order: dict[str, Any]) -> list[ParallelBranch[int]]:
    """Three independent checks, each its own child context (scores add up)."""

    def check(name: str, score: int) -> ParallelBranch[int]:
        async def branch(ctx: DurableContext) -> int:
            return await ctx.step(lambda s: score, name=f"{name}-check")

        return ParallelBranch(branch, name=name)

    return [
        check("amount", 40 if cart["total"] > 300 else 5),
        check("account", 30 if order["new_customer"] else 0),
        check("destination", 0 if order["country"] in SHIPS_TO else 20),
    ]


# -- the workflow ---------------------------------------------------------------------


@engine.durable_function(name="checkout")
async def checkout(ctx: DurableContext, order: dict[str, Any]) -> dict[str, Any]:
    cart = await ctx.step(validate_cart(order), config=ONCE)
    try:
        async with ctx.saga(name="checkout") as saga:
            reservation = await ctx.step(reserve_inventory(cart))
            saga.add_compensation(release_inventory(reservation))
            charge = await ctx.step(charge_payment(cart), config=ONCE)
            saga.add_compensation(refund_payment(charge, cart["total"]))

            checks = await ctx.parallel(risk_checks(cart, order), name="risk")
            score = sum(checks.get_results())
            if score >= REVIEW_AT:
                try:
                    review = await ctx.wait_for_callback(
                        ask_reviewer(cart, score),
                        name="review",
                        config=WaitForCallbackConfig(timeout=order["review_timeout"]),
                    )
                except CallbackTimeoutError:
                    raise OrderRejected("nobody reviewed the order in time") from None
                if not review["approved"]:
                    raise OrderRejected("the reviewer rejected the order")

            tracking = await ctx.step(
                ship(cart, order["country"]),
                config=StepConfig(retry_strategy=RetryPresets.fixed(0.5, max_attempts=3)),
            )
    except OrderRejected as exc:
        return {"order": cart["id"], "status": "CANCELLED", "reason": str(exc)}
    except StepError as exc:  # shipping failed for good: compensated already
        return {"order": cart["id"], "status": "CANCELLED", "reason": exc.message}
    return {"order": cart["id"], "status": "SHIPPED", "risk": score, "tracking": tracking}


async def start(order: dict[str, Any]) -> int:
    async with engine:
        handle = await engine.start(checkout, order, execution_name=order["id"])
        print(f"execution {handle.execution_id} for order {order['id']}", flush=True)
        try:
            result = await handle.result()
        except (ExecutionFailedError, StepError) as exc:
            print(f"order refused: {exc.message}", file=sys.stderr)
            return 1
        print("result:", result, flush=True)
        return 0


async def answer(callback_id: str, approved: bool) -> int:
    # An engine with nothing registered: it writes the answer and runs no workflow, so
    # the process that waits for the execution is the one that carries it on.
    async with Engine(DATABASE) as answering:
        try:
            await answering.send_callback_success(callback_id, {"approved": approved})
        except CallbackError as exc:
            print(f"cannot answer: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("approved" if approved else "rejected", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="QuantaSneaks checkout with a saga")
    parser.add_argument("verb", nargs="?", choices=["approve", "reject"])
    parser.add_argument("callback_id", nargs="?")
    parser.add_argument("--order", default="Q-1001", help="the order's id (names the execution)")
    parser.add_argument("--pairs", type=int, default=1, help="pairs of Quanta Air in the cart")
    parser.add_argument("--country", default="FR", help="where to ship")
    parser.add_argument("--new-customer", action="store_true")
    parser.add_argument("--review-timeout", type=float, default=600, help="seconds to review")
    args = parser.parse_args()
    if args.verb is None:
        order = {
            "id": args.order,
            "items": [{"sku": "QS-AIR-42", "qty": args.pairs}],
            "country": args.country,
            "new_customer": args.new_customer,
            "review_timeout": args.review_timeout,
        }
        sys.exit(asyncio.run(start(order)))
    elif not args.callback_id:
        parser.error(f"{args.verb} needs a CALLBACK_ID")
    else:
        sys.exit(asyncio.run(answer(args.callback_id, args.verb == "approve")))


if __name__ == "__main__":
    main()
