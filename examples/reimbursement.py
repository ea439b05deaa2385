"""Employee reimbursement: submission, manager approval with escalation, payment, notice.

    python examples/reimbursement.py [--claim C-1001] [--amount 240] [--timeout 300]
    python examples/reimbursement.py approve CALLBACK_ID     # from another terminal
    python examples/reimbursement.py reject CALLBACK_ID

Runs on `reimbursements.db` in the current folder. The claim is checked and recorded,
then the employee's manager is asked to approve it; if the manager does not answer
within `--timeout` seconds the request escalates to a director (`--escalation-timeout`);
if nobody answers, the claim is rejected. An approved claim is paid, and the employee
is notified either way. The claim id names the execution: stop the script while it
waits (Ctrl-C, or kill it), answer from another terminal, and run it again with the
same arguments: it picks the claim up where it was, without submitting or paying twice.
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
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
    WaitForCallbackConfig,
    durable_step,
)

DATABASE = "reimbursements.db"
engine = Engine(DATABASE)
ONCE = StepConfig(retry_strategy=RetryPresets.none())


@durable_step
def submit(step: StepContext, claim: dict[str, Any]) -> dict[str, Any]:
    """Check the claim and file it (a real system would store it and its receipts)."""
    if not claim.get("employee") or not claim.get("description"):
        raise ValueError("a claim needs an employee and a description")
    if not 0 < claim["amount"] <= 5000:
        raise ValueError(f"amount must be between 0 and 5000, not {claim['amount']}")
    print(
        f"submitted {claim['id']}: {claim['amount']:.2f} EUR for {claim['description']}", flush=True
    )
    return {**claim, "status": "SUBMITTED"}


def ask(role: str, claim: dict[str, Any]) -> Any:
    """The submitter of an approval: where a real system would e-mail a link."""

    def send(callback_id: str, step: StepContext) -> None:
        print(
            f"[{role}] approve {claim['amount']:.2f} EUR for {claim['employee']} "
            f"({claim['description']})? answer with:\n"
            f"    python examples/reimbursement.py approve {callback_id}\n"
            f"    python examples/reimbursement.py reject {callback_id}",
            flush=True,
        )

    return send


@durable_step
def pay(step: StepContext, claim: dict[str, Any]) -> dict[str, Any]:
    """Stand-in for the payroll system's transfer; the claim id makes it idempotent."""
    payment = {"payment_id": f"PAY-{claim['id']}", "amount": claim["amount"]}
    print(
        f"paid {claim['amount']:.2f} EUR to {claim['employee']} ({payment['payment_id']})",
        flush=True,
    )
    return payment


@durable_step
def notify(step: StepContext, claim: dict[str, Any], outcome: str) -> str:
    message = f"notified {claim['employee']}: claim {claim['id']} {outcome}"
    print(message, flush=True)
    return message


@engine.durable_function(name="reimbursement")
async def reimbursement(ctx: DurableContext, claim: dict[str, Any]) -> dict[str, Any]:
    filed = await ctx.step(submit(claim), config=ONCE)
    timeouts = {"manager": claim["timeout"], "director": claim["escalation_timeout"]}
    decision: dict[str, Any] = {"approved": False, "by": "nobody (timed out)"}
    for role in ("manager", "director"):  # escalate once when the first answer is late
        try:
            answer = await ctx.wait_for_callback(
                ask(role, filed),
                name=f"{role}-approval",
                config=WaitForCallbackConfig(timeout=timeouts[role]),
            )
        except CallbackTimeoutError:
            ctx.logger.warning("%s did not answer in time", role)
            continue
        decision = {"approved": bool(answer["approved"]), "by": role}
        break
    payment = None
    if decision["approved"]:
        payment = await ctx.step(
            pay(filed), config=StepConfig(retry_strategy=RetryPresets.transient())
        )
        outcome = f"approved by {decision['by']} and paid"
    else:
        outcome = f"rejected by {decision['by']}"
    await ctx.step(notify(filed, outcome))
    return {"claim": claim["id"], **decision, "payment": payment}


async def start(claim: dict[str, Any]) -> int:
    async with engine:
        handle = await engine.start(reimbursement, claim, execution_name=claim["id"])
        print(f"execution {handle.execution_id} for claim {claim['id']}", flush=True)
        try:
            result = await handle.result()
        except (ExecutionFailedError, StepError) as exc:
            print(f"claim refused: {exc.message}", file=sys.stderr)
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
    parser = argparse.ArgumentParser(description="employee reimbursement with approvals")
    parser.add_argument("verb", nargs="?", choices=["approve", "reject"])
    parser.add_argument("callback_id", nargs="?")
    parser.add_argument("--claim", default="C-1001", help="the claim's id (names the execution)")
    parser.add_argument("--employee", default="sam")
    parser.add_argument("--amount", type=float, default=240.0)
    parser.add_argument("--description", default="train tickets to the Lyon office")
    parser.add_argument("--timeout", type=float, default=300, help="seconds the manager has")
    parser.add_argument(
        "--escalation-timeout", type=float, default=600, help="seconds the director has"
    )
    args = parser.parse_args()
    if args.verb is None:
        claim = {
            "id": args.claim,
            "employee": args.employee,
            "amount": args.amount,
            "description": args.description,
            "timeout": args.timeout,
            "escalation_timeout": args.escalation_timeout,
        }
        sys.exit(asyncio.run(start(claim)))
    elif not args.callback_id:
        parser.error(f"{args.verb} needs a CALLBACK_ID")
    else:
        sys.exit(asyncio.run(answer(args.callback_id, args.verb == "approve")))


if __name__ == "__main__":
    main()
