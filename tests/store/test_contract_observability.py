"""The Store contract for what observability reads and keeps: a step's attempts, an
execution's trace context, the counts of waiting and suspended executions."""

from __future__ import annotations

import pytest

from durable_engine import OperationStatus, Store
from durable_engine._store import Attempt, EndAttempt, Fence, LeaseLost, SuspendExecution
from tests.store.helpers import NOW, execution, new, op, operations, running


async def test_end_attempt_writes_the_operation_and_keeps_the_attempt(store: Store) -> None:
    fence = await running(store, "e1")
    first = op("e1", "1", OperationStatus.PENDING, error=b"boom", started_at=NOW, wake_at=NOW + 5)
    await store.commit(fence, EndAttempt(operation=first, started_at=NOW, ended_at=NOW + 1))
    done = op("e1", "1", OperationStatus.SUCCEEDED, attempt=2, result=b"ok", started_at=NOW)
    await store.commit(fence, EndAttempt(operation=done, started_at=NOW + 5, ended_at=NOW + 6))
    await store.commit(fence, op("e1", "2", OperationStatus.SUCCEEDED, result=b"x"))
    assert (await operations(store, "e1"))["1"] == done
    assert await store.load_attempts("e1") == [
        Attempt("1", 1, NOW, NOW + 1, b"boom"),
        Attempt("1", 2, NOW + 5, NOW + 6, None),
    ]
    assert await store.load_attempts("unknown") == []


async def test_end_attempt_is_fenced(store: Store) -> None:
    await running(store, "e1")
    stale = op("e1", "1", OperationStatus.PENDING, error=b"boom")

    with pytest.raises(LeaseLost):
        await store.commit(
            Fence("e1", 7), EndAttempt(operation=stale, started_at=NOW, ended_at=NOW)
        )
    assert await store.load_attempts("e1") == []
    assert await operations(store, "e1") == {}


async def test_trace_context_is_kept_from_creation_or_set_once(store: Store) -> None:
    record, _ = await store.create_execution(new("e1")._replace(trace_context='{"t": 1}'))
    assert record.trace_context == '{"t": 1}'
    assert (await execution(store, "e1")).trace_context == '{"t": 1}'
    assert await store.set_trace_context("e1", '{"t": 2}') == '{"t": 1}'  # kept as it was
    await store.create_execution(new("e2"))
    assert (await execution(store, "e2")).trace_context is None
    assert await store.set_trace_context("e2", '{"t": 3}') == '{"t": 3}'
    assert (await execution(store, "e2")).trace_context == '{"t": 3}'
    assert await store.set_trace_context("unknown", "x") is None


async def test_count_waiting_counts_due_unowned_and_suspended(store: Store) -> None:
    await store.create_execution(new("due", owner=None))  # due at its creation
    await store.create_execution(new("later", owner=None, created_at=NOW + 100))
    fence = await running(store, "mine")
    assert await store.count_waiting(NOW) == (1, 0)
    await store.commit(fence, SuspendExecution(NOW + 10))
    assert await store.count_waiting(NOW) == (1, 1)
    assert await store.count_waiting(NOW + 100) == (3, 1)
