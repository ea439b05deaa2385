"""Parallel and map: branches as child contexts of one execution, with a recorded decision.

Branch i of batch operation `op` is the child context `op/i+1`, whatever order the
branches finish in. When the batch is decided, branches not started never start,
running ones are cancelled and their later writes are refused; the decision (why,
and which branches counted) is checkpointed, so replay reuses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..batch import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionReason,
    decide,
)
from ..execution import Dropped, ExecutionRun, Suspend
from ..journal import Completed, Mismatch
from ..models import OperationStatus, OperationType
from .child import run_child

if TYPE_CHECKING:
    from ..context import DurableContext

__all__ = ["Branch", "run_batch"]

Branch = tuple[str | None, Callable[["DurableContext"], Awaitable[Any]]]


async def run_batch(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    op_type: OperationType,
    name: str | None,
    branches: Sequence[Branch],
    max_concurrency: int | None,
    completion: CompletionConfig,
) -> BatchResult[Any]:
    total = len(branches)
    completion.validate(total)
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    recorded: dict[str, Any] | None = None
    match run.journal.resolve(op_id, op_type, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            recorded = run.outcome(cp, None)
        case _:
            pass
    if recorded is not None:
        return await _replay(run, op_id, branches, recorded)

    started_at = run.now()
    items: list[BatchItem[Any] | None] = [None] * total
    started = [False] * total
    counts = {"ok": 0, "failed": 0}
    reason: CompletionReason | None = CompletionReason.ALL_COMPLETED if total == 0 else None
    gate = asyncio.Semaphore(max_concurrency or max(total, 1))
    decided = asyncio.Event()
    if total == 0:
        decided.set()

    async def branch(index: int) -> None:
        nonlocal reason
        label, fn = branches[index]
        async with gate:
            if decided.is_set():
                return
            if run.suspended:
                raise Suspend()
            started[index] = True
            try:
                value = await run_child(run, f"{op_id}/{index + 1}", op_id, fn, label)
            except Exception as exc:
                items[index] = BatchItem(index, label, BatchItemStatus.FAILED, None, exc)
                counts["failed"] += 1
            else:
                items[index] = BatchItem(index, label, BatchItemStatus.SUCCEEDED, value)
                counts["ok"] += 1
            if reason is None:
                reason = decide(completion, total, counts["ok"], counts["failed"])
                if reason is not None:
                    decided.set()

    tasks = [asyncio.create_task(branch(i)) for i in range(total)]
    waiter = asyncio.create_task(decided.wait())
    try:
        pending = set(tasks)
        while pending and not decided.is_set():
            await asyncio.wait([*pending, waiter], return_when=asyncio.FIRST_COMPLETED)
            pending = {t for t in tasks if not t.done()}
            _raise_signals(tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        waiter.cancel()
    # Decided: stop what still runs, and refuse any write it might still make.
    for index, task in enumerate(tasks):
        if not task.done():
            run.close_prefix(f"{op_id}/{index + 1}")
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    final = [
        item
        if item is not None
        else BatchItem(
            index,
            branches[index][0],
            BatchItemStatus.CANCELLED if started[index] else BatchItemStatus.NOT_STARTED,
        )
        for index, item in enumerate(items)
    ]
    assert reason is not None
    summary = {"reason": reason.value, "statuses": [item.status.value for item in final]}
    await run.checkpoint(
        run.put(
            op_id,
            parent_id,
            op_type,
            name,
            OperationStatus.SUCCEEDED,
            result=run.serialize(summary, None, op_id, "batch summary"),
            started_at=started_at,
            ended_at=run.now(),
        )
    )
    return BatchResult(final, reason)


def _raise_signals(tasks: list[asyncio.Task[None]]) -> None:
    """A branch that suspended or lost the lease takes the whole batch with it."""
    for task in tasks:
        if task.done() and not task.cancelled():
            exc = task.exception()
            if isinstance(exc, Suspend | Dropped):
                raise exc


async def _replay(
    run: ExecutionRun, op_id: str, branches: Sequence[Branch], recorded: dict[str, Any]
) -> BatchResult[Any]:
    """Rebuild the recorded result: counted branches replay from their checkpoints."""
    statuses = [BatchItemStatus(s) for s in recorded["statuses"]]
    final: list[BatchItem[Any]] = []
    for index, status in enumerate(statuses):
        label, fn = branches[index]
        if status is BatchItemStatus.SUCCEEDED:
            value = await run_child(run, f"{op_id}/{index + 1}", op_id, fn, label)
            final.append(BatchItem(index, label, status, value))
        elif status is BatchItemStatus.FAILED:
            try:
                await run_child(run, f"{op_id}/{index + 1}", op_id, fn, label)
            except Exception as exc:
                final.append(BatchItem(index, label, status, None, exc))
            else:  # pragma: no cover - a recorded failure replays as a failure
                raise RuntimeError(f"branch {index} of {op_id} replayed without its failure")
        else:
            final.append(BatchItem(index, label, status))
    return BatchResult(final, CompletionReason(recorded["reason"]))
