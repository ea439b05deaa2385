"""The Store contract for purging ended executions, custom status and reruns."""

from __future__ import annotations

import pytest

from durable_engine import CallbackNotFound, ExecutionStatus, OperationStatus, Store
from durable_engine._store import EndAttempt, Fence, LeaseLost, SetCustomStatus, SuspendExecution
from tests.store.helpers import NOW, callback, execution, finish, new, op, operations, running

ENDED = NOW + 10


async def ended(
    store: Store,
    execution_id: str,
    status: ExecutionStatus = ExecutionStatus.SUCCEEDED,
    *,
    ended_at: float = ENDED,
    function: str = "flow",
    name: str | None = None,
    parent_id: str | None = None,
) -> Fence:
    """An execution with a step and a callback, ended with `status` at `ended_at`."""
    await store.create_execution(
        new(execution_id, function=function, name=name, parent_id=parent_id)
    )
    fence = Fence(execution_id, 1)
    await store.commit(fence, op(execution_id, "1", OperationStatus.SUCCEEDED, result=b"r"))
    await store.commit(fence, callback(execution_id, "2", f"cb-{execution_id}"))
    await store.commit(fence, finish(status, ended_at=ended_at, open_ops=("2",)))
    return fence


async def test_a_purge_deletes_ended_executions_whole_and_keeps_the_rest(store: Store) -> None:
    await ended(store, "old")
    await ended(store, "recent", ended_at=NOW + 100)
    waiting = await running(store, "waiting")
    await store.commit(waiting, SuspendExecution(wake_at=NOW + 60))

    assert await store.find_purgeable(NOW + 50) == ["old"]
    assert await store.purge_executions(NOW + 50, limit=100) == ["old"]

    assert await store.get_execution("old") is None
    assert await operations(store, "old") == {}
    with pytest.raises(CallbackNotFound):  # its callback went with it
        await store.resolve_callback("cb-old", "SUCCEEDED", b"x", None, NOW + 200)
    assert (await execution(store, "recent")).status is ExecutionStatus.SUCCEEDED
    assert set(await operations(store, "recent")) == {"1", "2"}
    assert (await execution(store, "waiting")).status is ExecutionStatus.SUSPENDED
    # Nothing unfinished is ever purged, however old.
    assert await store.purge_executions(NOW + 10_000, limit=100) == ["recent"]
    assert await store.get_execution("waiting") is not None


async def test_filters_limit_and_order(store: Store) -> None:
    await ended(store, "f3", ExecutionStatus.FAILED, ended_at=NOW + 3)
    await ended(store, "s1", ended_at=NOW + 1)
    await ended(store, "t2", ExecutionStatus.TIMED_OUT, ended_at=NOW + 2)
    await ended(store, "x4", ExecutionStatus.STOPPED, ended_at=NOW + 4, function="other")
    before = NOW + 100

    assert await store.find_purgeable(before) == ["s1", "t2", "f3", "x4"]  # oldest end first
    assert await store.find_purgeable(before, limit=2) == ["s1", "t2"]
    failed = [ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT]
    assert await store.find_purgeable(before, statuses=failed) == ["t2", "f3"]
    assert await store.find_purgeable(before, statuses=[ExecutionStatus.RUNNING]) == []
    assert await store.find_purgeable(before, function="other") == ["x4"]
    assert await store.find_purgeable(NOW + 2) == ["s1"]  # strictly before

    assert await store.purge_executions(before, statuses=failed, limit=1) == ["t2"]
    assert await store.purge_executions(before, limit=2) == ["s1", "f3"]
    assert [r.execution_id for r in await store.list_executions()] == ["x4"]


async def test_children_lose_their_link_and_a_running_parents_child_stays(store: Store) -> None:
    await ended(store, "parent")
    child = await running(store, "child", parent_id="parent")
    await ended(store, "done-child", parent_id="parent")
    live = await running(store, "live-parent")
    await ended(store, "kept-child", parent_id="live-parent")

    # Ended at the same instant: by id.
    assert await store.purge_executions(NOW + 100, limit=100) == ["done-child", "parent"]

    orphan = await execution(store, "child")
    assert orphan.parent_id is None and orphan.status is ExecutionStatus.RUNNING
    await store.commit(child, finish())  # it goes on and ends as usual
    assert (await execution(store, "child")).status is ExecutionStatus.SUCCEEDED
    kept = await execution(store, "kept-child")  # its parent may still read its end
    assert kept.parent_id == "live-parent"
    await store.commit(live, finish(ended_at=NOW + 20))
    assert await store.purge_executions(NOW + 100, limit=100) == [
        "child",
        "kept-child",
        "live-parent",
    ]


async def test_a_purged_executions_name_can_be_used_again(store: Store) -> None:
    await ended(store, "first", name="order-1")
    assert await store.purge_executions(NOW + 100, limit=100) == ["first"]
    record, created = await store.create_execution(new("second", name="order-1"))
    assert created and record.execution_id == "second"


async def test_custom_status_is_stored_with_the_runs_writes_and_fenced(store: Store) -> None:
    fence = await running(store, "e1")
    assert (await execution(store, "e1")).custom_status is None
    await store.commit(fence, SetCustomStatus(b"half"))
    assert (await execution(store, "e1")).custom_status == b"half"
    # Queued together, the status and the ending commit together.
    status = store.commit(fence, SetCustomStatus(b"all"))
    await store.commit(fence, finish())
    await status
    stored = await execution(store, "e1")
    assert (stored.custom_status, stored.status) == (b"all", ExecutionStatus.SUCCEEDED)
    with pytest.raises(LeaseLost):
        await store.commit(fence, SetCustomStatus(b"late"))
    assert (await execution(store, "e1")).custom_status == b"all"
    with pytest.raises(LeaseLost):
        await store.commit(Fence("e1", 7), SetCustomStatus(b"stale"))


async def test_rerun_of_is_stored_as_given(store: Store) -> None:
    record, _ = await store.create_execution(new("again")._replace(rerun_of="first"))
    assert record.rerun_of == "first"
    assert (await execution(store, "again")).rerun_of == "first"
    assert [r.rerun_of for r in await store.list_executions()] == ["first"]


async def test_a_purge_takes_the_kept_attempts_and_events_with_the_execution(
    store: Store,
) -> None:
    fence = await running(store, "retried")
    failed = op("retried", "1", OperationStatus.PENDING, attempt=1, error=b"boom")
    await store.commit(fence, EndAttempt(operation=failed, started_at=NOW, ended_at=NOW + 1))
    await store.send_event("retried", "nudge", b"p", NOW + 2)
    await store.commit(fence, finish(ExecutionStatus.FAILED, ended_at=ENDED))
    kept = await running(store, "kept")
    await store.commit(
        kept,
        EndAttempt(
            operation=op("kept", "1", OperationStatus.PENDING, attempt=1),
            started_at=NOW,
            ended_at=NOW + 1,
        ),
    )

    assert [a.attempt for a in await store.load_attempts("retried")] == [1]
    assert await store.purge_executions(NOW + 50, limit=100) == ["retried"]
    assert await store.load_attempts("retried") == []
    assert [a.attempt for a in await store.load_attempts("kept")] == [1]  # another's stay
