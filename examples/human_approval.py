"""Human-in-the-loop approval: request, wait for a decision, escalate on timeout.

    python examples/human_approval.py [--amount 1200] [--timeout 300]  # starts and waits
    python examples/human_approval.py approve CALLBACK_ID               # from another terminal
    python examples/human_approval.py reject CALLBACK_ID

Runs on `approvals.db` in the current folder. The workflow asks a manager; if nobody
answers within the timeout it escalates to a director with a timeout of its own; if
that passes too, the request is rejected. While it waits it holds no memory, and the
answer may come from any process that opens the same file.
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
    StepContext,
    WaitForCallbackConfig,
)

engine = Engine("approvals.db")


def ask(role: str, request: dict[str, Any]) -> Any:
    """The submitter: where a real system would send an e-mail with a link."""

    def submit(callback_id: str, step: StepContext) -> None:
        print(
            f"[{role}] approve {request['amount']} for {request['requester']}? answer with:\n"
            f"    python examples/human_approval.py approve {callback_id}\n"
            f"    python examples/human_approval.py reject {callback_id}",
            flush=True,
        )

    return submit


@engine.durable_function(name="expense_approval")
async def expense_approval(ctx: DurableContext, request: dict[str, Any]) -> dict[str, Any]:
    timeouts = {"manager": request["timeout"], "director": request["escalation_timeout"]}
    for role in ("manager", "director"):  # escalate once when the first answer is late
        try:
            decision = await ctx.wait_for_callback(
                ask(role, request),
                name=f"{role}-decision",
                config=WaitForCallbackConfig(timeout=timeouts[role]),
            )
        except CallbackTimeoutError:
            ctx.logger.warning("%s did not answer in time", role)
            continue
        return {"request": request, "approved": bool(decision["approved"]), "by": role}
    return {"request": request, "approved": False, "by": "nobody (timed out)"}


async def start(amount: int, answer_within: float, escalation_within: float) -> None:
    request = {
        "requester": "sam",
        "amount": amount,
        "timeout": answer_within,
        "escalation_timeout": escalation_within,
    }
    async with engine:
        result = await engine.run(expense_approval, request)
        print("result:", result, flush=True)


async def answer(callback_id: str, approved: bool) -> int:
    async with engine:  # needs nothing registered: the answer is just a write
        try:
            await engine.send_callback_success(callback_id, {"approved": approved})
        except CallbackError as exc:
            print(f"cannot answer: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("approved" if approved else "rejected", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="expense approval with escalation")
    parser.add_argument("verb", nargs="?", choices=["approve", "reject"])
    parser.add_argument("callback_id", nargs="?")
    parser.add_argument("--amount", type=int, default=1200)
    parser.add_argument("--timeout", type=float, default=300, help="seconds the manager has")
    parser.add_argument(
        "--escalation-timeout", type=float, default=600, help="seconds the director has"
    )
    args = parser.parse_args()
    if args.verb is None:
        asyncio.run(start(args.amount, args.timeout, args.escalation_timeout))
    elif not args.callback_id:
        parser.error(f"{args.verb} needs a CALLBACK_ID")
    else:
        sys.exit(asyncio.run(answer(args.callback_id, args.verb == "approve")))


if __name__ == "__main__":
    main()
