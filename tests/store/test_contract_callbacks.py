"""The Store contract: callbacks, and ending an execution from outside its run."""

from __future__ import annotations

import pytest

from durable_engine import (
    CallbackAlreadyResolved,
    CallbackNotFound,
    CallbackNotPending,
    ExecutionNotFound,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    Store,
)
from durable_engine._store import Fence, LeaseLost, SuspendExecution
from tests.store.helpers import NOW, callback, execution, finish, op, operations, running


async def test_a_callback_resolves_once_with_its_operation(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1", timeout_at=NOW + 60))
    assert await store.resolve_callback("cb-1", "SUCCEEDED", b"yes", None, NOW + 5) == ("e1", "1")
    resolved = await store.load_operation("e1", "1")
    assert resolved is not None
    assert (resolved.status, resolved.result, resolved.error, resolved.ended_at) == (
        "SUCCEEDED",
        b"yes",
        None,
        NOW + 5,
    )
    assert (resolved.type, resolved.ref) == ("CALLBACK", "cb-1")
    assert (await execution(store, "e1")).wake_at == NOW + 5  # due to run on
    for status in ("SUCCEEDED", "FAILED"):
        with pytest.raises(CallbackAlreadyResolved):
            await store.resolve_callback("cb-1", status, b"again", None, NOW + 6)
    with pytest.raises(CallbackAlreadyResolved):
        await store.heartbeat_callback("cb-1", NOW + 6)
    assert await store.load_operation("e1", "1") == resolved


async def test_a_failed_callback_keeps_its_error(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1"))
    await store.commit(fence, SuspendExecution(wake_at=None))
    await store.resolve_callback("cb-1", "FAILED", None, b"no", NOW + 2)
    resolved = await store.load_operation("e1", "1")
    assert resolved is not None and (resolved.status, resolved.error) == ("FAILED", b"no")
    record = await execution(store, "e1")
    assert (record.status, record.owner, record.wake_at) == (
        ExecutionStatus.SUSPENDED,
        None,
        NOW + 2,
    )


async def test_an_unknown_callback_id_is_not_found(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1"))
    for unknown in ("cb-2", "CB-1", "cb-1 ", ""):
        with pytest.raises(CallbackNotFound):
            await store.resolve_callback(unknown, "SUCCEEDED", b"x", None, NOW)
        with pytest.raises(CallbackNotFound):
            await store.heartbeat_callback(unknown, NOW)
        assert await store.callback_function(unknown) is None
    assert await store.load_operations("e1") == [callback("e1", "1", "cb-1").operation]


async def test_a_callback_past_its_deadline_is_no_longer_pending(store: Store) -> None:
    fence = await running(store, "e1")
    put = callback("e1", "1", "cb-1", timeout_at=NOW + 10)
    await store.commit(fence, put)
    with pytest.raises(CallbackNotPending, match="timed out"):
        await store.resolve_callback("cb-1", "SUCCEEDED", b"late", None, NOW + 10)
    with pytest.raises(CallbackNotPending, match="timed out"):
        await store.heartbeat_callback("cb-1", NOW + 11)
    assert await store.load_operations("e1") == [put.operation]
    assert (await execution(store, "e1")).wake_at is None
    assert await store.resolve_callback("cb-1", "SUCCEEDED", b"x", None, NOW + 9) == ("e1", "1")


@pytest.mark.parametrize("ending", ["finish", "stop", "time_out"])
async def test_a_callback_of_an_ended_execution_is_no_longer_pending(
    store: Store, ending: str
) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1"))
    if ending == "finish":
        await store.commit(fence, finish())  # open_ops left out: the callback stays PENDING
    elif ending == "stop":
        await store.stop_execution("e1", NOW + 1, b"stopped")
    else:
        await store.time_out_execution(fence, NOW + 1, b"timed out")
    before = await store.load_operations("e1")
    with pytest.raises(CallbackNotPending, match="ended"):
        await store.resolve_callback("cb-1", "SUCCEEDED", b"x", None, NOW + 2)
    with pytest.raises(CallbackNotPending, match="ended"):
        await store.heartbeat_callback("cb-1", NOW + 2)
    assert await store.load_operations("e1") == before
    assert await store.callback_function("cb-1") == "flow"  # whatever its state


async def test_a_heartbeat_moves_the_deadline_and_the_suspended_wake_up(store: Store) -> None:
    fence = await running(store, "e1")
    put = callback("e1", "1", "cb-1", heartbeat_timeout=30, timeout_at=NOW + 100)
    await store.commit(fence, put)
    await store.commit(fence, SuspendExecution(wake_at=NOW + 30))  # the callback's deadline
    assert await store.heartbeat_callback("cb-1", NOW + 20) == ("e1", "1")
    moved = await store.load_operation("e1", "1")
    assert moved is not None and moved.wake_at == NOW + 50
    assert moved._replace(wake_at=put.operation.wake_at) == put.operation  # nothing else
    assert (await execution(store, "e1")).wake_at == NOW + 50
    # Past the first deadline but within the new one, it can still be answered.
    assert await store.resolve_callback("cb-1", "SUCCEEDED", b"ok", None, NOW + 40) == ("e1", "1")


async def test_a_heartbeat_deadline_is_capped_by_the_timeout_and_other_timers(
    store: Store,
) -> None:
    fence = await running(store, "e1")
    await store.commit(
        fence, callback("e1", "1", "cb-1", heartbeat_timeout=30, timeout_at=NOW + 45)
    )
    timer = op("e1", "2", OperationStatus.STARTED, type=OperationType.WAIT, wake_at=NOW + 40)
    await store.commit(fence, timer)
    await store.commit(fence, SuspendExecution(wake_at=NOW + 30))
    await store.heartbeat_callback("cb-1", NOW + 25)
    moved = await store.load_operation("e1", "1")
    assert moved is not None and moved.wake_at == NOW + 45  # not NOW + 55: its timeout
    assert (await execution(store, "e1")).wake_at == NOW + 40  # the timer comes first


async def test_a_heartbeat_leaves_a_running_execution_alone(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1", heartbeat_timeout=30))
    await store.heartbeat_callback("cb-1", NOW + 10)
    record = await execution(store, "e1")
    assert (record.status, record.owner, record.wake_at) == (ExecutionStatus.RUNNING, "w1", None)


async def test_time_out_callback_ends_a_due_callback_only(store: Store) -> None:
    fence = await running(store, "e1")
    put = callback("e1", "1", "cb-1", timeout_at=NOW + 10)
    await store.commit(fence, put)
    early = await store.time_out_callback(fence, "cb-1", "1", NOW + 9, b"timeout")
    assert early == put.operation  # not due yet: unchanged
    timed_out = await store.time_out_callback(fence, "cb-1", "1", NOW + 10, b"timeout")
    assert (timed_out.status, timed_out.error, timed_out.ended_at) == (
        "TIMED_OUT",
        b"timeout",
        NOW + 10,
    )
    assert await store.load_operation("e1", "1") == timed_out
    with pytest.raises(CallbackNotPending):
        await store.resolve_callback("cb-1", "SUCCEEDED", b"late", None, NOW + 5)
    again = await store.time_out_callback(fence, "cb-1", "1", NOW + 20, b"other")
    assert again == timed_out


async def test_time_out_callback_keeps_an_answer_that_came_first(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1", timeout_at=NOW + 10))
    await store.resolve_callback("cb-1", "SUCCEEDED", b"yes", None, NOW + 9)
    answered = await store.time_out_callback(fence, "cb-1", "1", NOW + 10, b"timeout")
    assert (answered.status, answered.result) == ("SUCCEEDED", b"yes")


async def test_time_out_callback_is_fenced(store: Store) -> None:
    fence = await running(store, "e1")
    put = callback("e1", "1", "cb-1", timeout_at=NOW + 10)
    await store.commit(fence, put)
    with pytest.raises(LeaseLost):
        await store.time_out_callback(Fence("e1", 2), "cb-1", "1", NOW + 20, b"timeout")
    assert await store.load_operations("e1") == [put.operation]
    await store.commit(fence, finish())
    with pytest.raises(LeaseLost):
        await store.time_out_callback(fence, "cb-1", "1", NOW + 20, b"timeout")
    assert await store.load_operations("e1") == [put.operation]


async def test_callback_function_names_the_executions_function(store: Store) -> None:
    fence = await running(store, "e1", function="approvals")
    await store.commit(fence, callback("e1", "1", "cb-1"))
    assert await store.callback_function("cb-1") == "approvals"
    await store.resolve_callback("cb-1", "SUCCEEDED", b"yes", None, NOW)
    assert await store.callback_function("cb-1") == "approvals"
    assert await store.callback_function("cb-2") is None


async def test_stop_ends_the_execution_for_good(store: Store) -> None:
    parent = await running(store, "parent")
    await store.commit(parent, SuspendExecution(wake_at=None))
    fence = await running(store, "e1", parent_id="parent")
    done = op("e1", "1", OperationStatus.SUCCEEDED, result=b"r")
    await store.commit(fence, done)
    await store.commit(fence, op("e1", "2", OperationStatus.STARTED, type=OperationType.WAIT))
    await store.commit(fence, op("e1", "3", OperationStatus.PENDING, attempt=2))
    await store.commit(fence, callback("e1", "4", "cb-4"))
    assert await store.stop_execution("e1", NOW + 5, b"stop") is None
    record = await execution(store, "e1")
    assert (record.status, record.result, record.error, record.ended_at) == (
        ExecutionStatus.STOPPED,
        None,
        b"stop",
        NOW + 5,
    )
    assert (record.owner, record.wake_at, record.epoch) == (None, None, 2)
    ops = await operations(store, "e1")
    assert ops["1"] == done
    assert {k: (ops[k].status, ops[k].ended_at) for k in ("2", "3", "4")} == {
        k: ("CANCELLED", NOW + 5) for k in ("2", "3", "4")
    }
    with pytest.raises(CallbackNotPending):
        await store.resolve_callback("cb-4", "SUCCEEDED", b"x", None, NOW + 6)
    with pytest.raises(LeaseLost):  # the run still going somewhere cannot write
        await store.commit(fence, op("e1", "5", OperationStatus.SUCCEEDED))
    assert (await execution(store, "parent")).wake_at == NOW + 5
    assert await store.stop_execution("e1", NOW + 9, b"again") == "STOPPED"
    assert await execution(store, "e1") == record


async def test_stopping_an_ended_or_unknown_execution_changes_nothing(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, finish())
    ended = await execution(store, "e1")
    assert await store.stop_execution("e1", NOW + 20, b"stop") == "SUCCEEDED"
    assert await execution(store, "e1") == ended
    with pytest.raises(ExecutionNotFound):
        await store.stop_execution("missing", NOW, b"stop")
    assert await store.get_execution("missing") is None


async def test_time_out_execution_ends_it_under_its_fence(store: Store) -> None:
    fence = await running(store, "e1", timeout_at=NOW + 30)
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED, type=OperationType.WAIT))
    await store.commit(fence, callback("e1", "2", "cb-2"))
    await store.time_out_execution(fence, NOW + 30, b"too slow")
    record = await execution(store, "e1")
    assert (record.status, record.error, record.ended_at, record.epoch, record.owner) == (
        ExecutionStatus.TIMED_OUT,
        b"too slow",
        NOW + 30,
        2,
        None,
    )
    assert [cp.status for cp in await store.load_operations("e1")] == ["CANCELLED"] * 2
    with pytest.raises(CallbackNotPending):
        await store.resolve_callback("cb-2", "SUCCEEDED", b"x", None, NOW + 31)
    with pytest.raises(LeaseLost):  # ended, and at a new epoch
        await store.time_out_execution(Fence("e1", 2), NOW + 31, b"again")
    assert await execution(store, "e1") == record


async def test_a_stale_time_out_changes_nothing(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED))
    before = (await execution(store, "e1"), await store.load_operations("e1"))
    for stale in (Fence("e1", 0), Fence("e1", 2), Fence("missing", 1)):
        with pytest.raises(LeaseLost):
            await store.time_out_execution(stale, NOW, b"late")
    assert (await execution(store, "e1"), await store.load_operations("e1")) == before
