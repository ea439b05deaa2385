"""The Store contract for executions held by a diverging deploy: block, retry, resume."""

from __future__ import annotations

import pytest

from durable_engine import ExecutionNotFound, ExecutionStatus, OperationStatus, Store
from durable_engine._store import BlockExecution, SuspendExecution
from tests.store.helpers import FLOW, NOW, execution, finish, op, operations, running


@pytest.mark.parametrize("timeout_at", [None, NOW + 50], ids=["no-timeout", "timeout"])
async def test_block_holds_the_execution_unowned_with_its_divergence(
    store: Store, timeout_at: float | None
) -> None:
    fence = await running(store, "e1", timeout_at=timeout_at)
    started = op("e1", "1", OperationStatus.STARTED)
    await store.commit(fence, started)
    await store.commit(fence, BlockExecution(b"diverged"))
    record = await execution(store, "e1")
    assert (record.status, record.owner, record.error, record.epoch) == (
        ExecutionStatus.BLOCKED,
        None,
        b"diverged",
        1,
    )
    assert record.wake_at == timeout_at  # due only when its timeout passes
    assert await operations(store, "e1") == {"1": started}  # left as they were
    assert await store.claim("w2", [f"{FLOW}@1"], NOW + 10, 10, lease_now=NOW + 10) == []


async def test_retry_and_resume_make_it_due_and_a_claim_clears_the_divergence(
    store: Store,
) -> None:
    for execution_id in ("e1", "e2"):
        fence = await running(store, execution_id)
        await store.commit(fence, BlockExecution(b"diverged"))
    other = await running(store, "e3", function="other")
    await store.commit(other, BlockExecution(b"diverged"))

    assert await store.retry_blocked([f"{FLOW}@1"], NOW + 1) == 2
    assert (await execution(store, "e3")).wake_at is None  # another function's
    assert await store.resume_execution("e3", NOW + 2) is ExecutionStatus.BLOCKED
    assert (await execution(store, "e3")).wake_at == NOW + 2

    claimed = await store.claim("w2", [f"{FLOW}@1", "other@1"], NOW + 5, 10, lease_now=NOW + 5)
    assert sorted((r.execution_id, r.status, r.error, r.epoch) for r in claimed) == [
        ("e1", ExecutionStatus.RUNNING, None, 2),
        ("e2", ExecutionStatus.RUNNING, None, 2),
        ("e3", ExecutionStatus.RUNNING, None, 2),
    ]


async def test_resume_leaves_any_other_status_as_it_is(store: Store) -> None:
    suspended = await running(store, "e1")
    await store.commit(suspended, SuspendExecution(wake_at=NOW + 100))
    ended = await running(store, "e2")
    await store.commit(ended, finish(ExecutionStatus.SUCCEEDED))

    assert await store.resume_execution("e1", NOW) is ExecutionStatus.SUSPENDED
    assert (await execution(store, "e1")).wake_at == NOW + 100
    assert await store.resume_execution("e2", NOW) is ExecutionStatus.SUCCEEDED
    with pytest.raises(ExecutionNotFound):
        await store.resume_execution("nope", NOW)
