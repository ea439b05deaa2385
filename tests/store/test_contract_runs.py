"""The Store contract for continuing as new: one fenced write switches an execution to
its next run, and the operations of runs continued with keep_history stay readable."""

from __future__ import annotations

import pytest

from durable_engine import (
    CallbackNotPending,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    Store,
)
from durable_engine._store import EndAttempt, Fence, LeaseLost, SetCustomStatus
from tests.store.helpers import NOW, callback, execution, finish, op, operations, running
from tests.store.test_contract_events import waiting


async def _run_one(store: Store, fence: Fence) -> None:
    """What a first run leaves: a step, a retried step, a pending callback, a timer,
    an event received and one still waiting."""
    eid = fence.execution_id
    await store.commit(fence, op(eid, "1", OperationStatus.SUCCEEDED, result=b"r1"))
    retried = op(eid, "2", OperationStatus.SUCCEEDED, attempt=2, result=b"r2")
    await store.commit(fence, EndAttempt(operation=retried, started_at=NOW, ended_at=NOW + 1))
    await store.commit(fence, callback(eid, "3", "cb-old"))
    timer = op(eid, "4", OperationStatus.STARTED, type=OperationType.WAIT, wake_at=NOW + 99)
    await store.commit(fence, timer)
    await store.send_event(eid, "go", b"first", NOW + 1)
    await store.receive_event(fence, waiting(eid, "5", "go"), NOW + 2)
    await store.send_event(eid, "go", b"second", NOW + 3)  # sent, not received yet
    await store.commit(fence, SetCustomStatus(b"status of run 1"))


async def test_continuing_drops_the_run_and_starts_the_next_at_once(store: Store) -> None:
    fence = await running(store, "e1", timeout_at=NOW + 1000)
    await _run_one(store, fence)
    record = await store.continue_as_new(fence, b"next", NOW + 5, keep_history=False)
    assert (record.run_number, record.input, record.status) == (2, b"next", "RUNNING")
    assert (record.owner, record.epoch, record.wake_at) == ("w1", 2, None)
    assert (record.result, record.error) == (None, None)
    # Custom status and the execution's timeout carry over; so do name and creation.
    assert record.custom_status == b"status of run 1" and record.timeout_at == NOW + 1000
    assert await execution(store, "e1") == record
    assert await store.load_operations("e1") == []
    assert await store.load_attempts("e1") == []
    assert await store.kept_runs("e1") == []
    assert await store.load_kept_operations("e1", 1) == []
    # The old run's callback was cancelled: an answer now is refused.
    with pytest.raises(CallbackNotPending):
        await store.resolve_callback("cb-old", "SUCCEEDED", b"late", None, NOW + 6)
    # The event sent and not received carries over to the next run; the received one is gone.
    new_fence = Fence("e1", 2)
    got = await store.receive_event(new_fence, waiting("e1", "1", "go"), NOW + 7)
    assert (got.status, got.result) == ("SUCCEEDED", b"second")
    after = await store.receive_event(new_fence, waiting("e1", "2", "go"), NOW + 8)
    assert after.status == "STARTED"


async def test_the_switch_is_fenced(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"r"))
    with pytest.raises(LeaseLost):  # a stale epoch writes nothing
        await store.continue_as_new(Fence("e1", 7), b"next", NOW, keep_history=False)
    assert (await execution(store, "e1")).run_number == 1
    assert set(await operations(store, "e1")) == {"1"}
    await store.continue_as_new(fence, b"next", NOW, keep_history=False)
    # The run that ended cannot write into the next one, nor switch it again.
    with pytest.raises(LeaseLost):
        await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"stale"))
    with pytest.raises(LeaseLost):
        await store.continue_as_new(fence, b"again", NOW, keep_history=False)
    assert await store.load_operations("e1") == []
    second = Fence("e1", 2)
    await store.commit(second, finish(ExecutionStatus.SUCCEEDED, result=b"end"))
    with pytest.raises(LeaseLost):  # an ended execution does not continue
        await store.continue_as_new(second, b"x", NOW, keep_history=False)
    assert (await execution(store, "e1")).run_number == 2


async def test_kept_runs_are_read_back_by_number_and_purged_with_the_execution(
    store: Store,
) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"run1"))
    await store.continue_as_new(fence, b"in2", NOW + 1, keep_history=True)
    fence = Fence("e1", 2)
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"run2"))
    await store.commit(fence, op("e1", "2", OperationStatus.SUCCEEDED, result=b"run2b"))
    await store.continue_as_new(fence, b"in3", NOW + 2, keep_history=True)
    fence = Fence("e1", 3)
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"run3"))
    await store.continue_as_new(fence, b"in4", NOW + 3, keep_history=False)
    assert (await execution(store, "e1")).run_number == 4
    assert await store.kept_runs("e1") == [1, 2]
    one = await store.load_kept_operations("e1", 1)
    assert [(cp.op_id, cp.result) for cp in one] == [("1", b"run1")]
    two = sorted(await store.load_kept_operations("e1", 2))
    assert [(cp.op_id, cp.result) for cp in two] == [("1", b"run2"), ("2", b"run2b")]
    assert await store.load_kept_operations("e1", 3) == []  # continued without keeping
    assert await store.load_kept_operations("other", 1) == []
    await store.commit(Fence("e1", 4), finish(ended_at=NOW + 10))
    assert await store.purge_executions(NOW + 20, limit=10) == ["e1"]
    assert await store.kept_runs("e1") == []
    assert await store.load_kept_operations("e1", 2) == []


async def test_a_kept_run_keeps_its_open_operations_as_cancelled(store: Store) -> None:
    fence = await running(store, "e1")
    await _run_one(store, fence)
    await store.continue_as_new(fence, b"next", NOW + 5, keep_history=True)
    kept = {cp.op_id: cp for cp in await store.load_kept_operations("e1", 1)}
    assert {k: (cp.status, cp.result) for k, cp in kept.items()} == {
        "1": ("SUCCEEDED", b"r1"),
        "2": ("SUCCEEDED", b"r2"),
        "3": ("CANCELLED", None),  # the callback no one answered
        "4": ("CANCELLED", None),  # the timer
        "5": ("SUCCEEDED", b"first"),  # the event received
    }
    assert kept["3"].ended_at == kept["4"].ended_at == NOW + 5
    assert kept["1"].ended_at is None  # as written: the others keep their own
    assert kept["2"].attempt == 2 and kept["3"].ref == "cb-old"
