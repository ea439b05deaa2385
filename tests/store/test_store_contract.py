"""The Store contract: executions, reads, and what one store sees of another's commits.

Every test here runs against every backend of `conftest.BACKENDS`; a new store
implementation only has to add itself there and pass. The other parts of the
contract are in `test_contract_commits.py`, `test_contract_callbacks.py` and
`test_contract_workers.py`.
"""

from __future__ import annotations

import asyncio

import pytest

from durable_engine import ExecutionStatus, OperationStatus, OperationType, Store, StoreError
from durable_engine._models import ExecutionRecord
from durable_engine._store import Fence, SuspendExecution
from tests.store.conftest import Stores
from tests.store.helpers import NOW, execution, finish, new, op, operations, running


async def test_a_new_execution_owned_by_a_worker_runs_at_epoch_1(store: Store) -> None:
    record, created = await store.create_execution(
        new("e1", name="order-1", parent_id="p", timeout_at=NOW + 60)
    )
    assert created
    expected = ExecutionRecord(
        execution_id="e1",
        name="order-1",
        function="flow",
        status=ExecutionStatus.RUNNING,
        input=b"in",
        result=None,
        error=None,
        parent_id="p",
        created_at=NOW,
        ended_at=None,
        wake_at=None,
        timeout_at=NOW + 60,
        owner="w1",
        epoch=1,
    )
    assert record == expected
    assert await store.get_execution("e1") == expected


async def test_a_new_execution_with_no_owner_is_due_at_once_for_any_worker(store: Store) -> None:
    record, created = await store.create_execution(new("e1", owner=None, input=None))
    assert created
    stored = await execution(store, "e1")
    assert stored == record
    assert (stored.status, stored.owner, stored.epoch, stored.wake_at, stored.input) == (
        ExecutionStatus.RUNNING,
        None,
        0,
        NOW,
        None,
    )


async def test_a_new_execution_for_an_owner_with_no_row_is_stored_unowned_and_due(
    store: Store,
) -> None:
    """A worker whose row was deleted (paused past its lease) must not take new work:
    others may already be taking its old. Gathered, the creations share one batch."""
    await store.reap_workers(["w1"])
    created = await asyncio.gather(
        *(store.create_execution(new(f"e{i}", owner="w1")) for i in range(3))
    )
    for i, (record, was_created) in enumerate(created):
        stored = await execution(store, f"e{i}")
        assert was_created and stored == record
        assert (stored.owner, stored.epoch, stored.wake_at) == (None, 0, NOW)
    [claimed, *_] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW)
    assert (claimed.owner, claimed.epoch, claimed.taken_from) == ("w2", 1, None)


async def test_a_taken_name_returns_the_existing_execution_unchanged(store: Store) -> None:
    first, _ = await store.create_execution(new("e1", name="order-1"))
    again, created = await store.create_execution(
        new("e2", name="order-1", function="other", input=b"different", owner=None)
    )
    assert not created and again == first
    assert await store.get_execution("e2") is None
    assert await store.list_executions() == [first]


async def test_a_taken_id_returns_the_existing_execution_unchanged(store: Store) -> None:
    first, _ = await store.create_execution(new("e1", name="a"))
    again, created = await store.create_execution(new("e1", name="b", input=b"other"))
    assert not created and again == first
    assert await store.list_executions(name="b") == []
    assert await store.list_executions() == [first]


async def test_creations_queued_together_resolve_as_if_one_by_one(store: Store) -> None:
    await store.create_execution(new("old", name="taken"))
    creations = [
        new("a", name="n1"),
        new("b", name="n1"),  # the name "a" takes in the same batch
        new("a"),  # the id "a" takes in the same batch
        new("c", name="taken"),  # a name taken before
        new("old"),  # an id taken before
        *(new(f"x{i}") for i in range(70)),  # more than one statement's worth
    ]
    results = await asyncio.gather(*(store.create_execution(c) for c in creations))
    found = [(record.execution_id, created) for record, created in results]
    assert found[:5] == [("a", True), ("a", False), ("a", False), ("old", False), ("old", False)]
    assert found[5:] == [(f"x{i}", True) for i in range(70)]
    stored = {r.execution_id: r for r in await store.list_executions()}
    assert set(stored) == {"old", "a", *(f"x{i}" for i in range(70))}
    assert stored["a"].name == "n1" and stored["x69"].epoch == 1


async def test_an_unknown_execution_reads_as_nothing(store: Store) -> None:
    assert await store.get_execution("missing") is None
    assert await store.load_operations("missing") == []
    assert await store.load_operation("missing", "1") is None


async def _listing_fixture(store: Store) -> None:
    """Five executions: two functions, two parents, one ended, created out of id order."""
    await store.create_execution(new("e3", name="third", created_at=NOW + 3))
    await store.create_execution(new("e1", name="first", created_at=NOW + 1, parent_id="p1"))
    await store.create_execution(
        new("e2", function="other", created_at=NOW + 2, parent_id="p1", owner=None)
    )
    await store.create_execution(new("e5", created_at=NOW + 3, parent_id="p2"))
    await store.create_execution(new("e4", function="other", created_at=NOW + 4))
    await store.commit(Fence("e3", 1), finish())


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e1", "e2", "e3", "e5", "e4"]),  # by created_at, then by id
        ({"status": ExecutionStatus.SUCCEEDED}, ["e3"]),
        ({"status": ExecutionStatus.RUNNING}, ["e1", "e2", "e5", "e4"]),
        ({"status": ExecutionStatus.FAILED}, []),
        ({"function": "other"}, ["e2", "e4"]),
        ({"parent_id": "p1"}, ["e1", "e2"]),
        ({"name": "third"}, ["e3"]),
        ({"name": "nobody"}, []),
        ({"limit": 2}, ["e1", "e2"]),
        ({"limit": 0}, []),
        ({"function": "flow", "parent_id": "p2"}, ["e5"]),
        ({"function": "other", "status": ExecutionStatus.RUNNING, "limit": 1}, ["e2"]),
    ],
)
async def test_list_executions_applies_every_filter(
    store: Store, filters: dict[str, object], expected: list[str]
) -> None:
    await _listing_fixture(store)
    found = await store.list_executions(**filters)  # type: ignore[arg-type]
    assert [r.execution_id for r in found] == expected
    for record in found:
        assert record == await store.get_execution(record.execution_id)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e4", "e5", "e3", "e2", "e1"]),  # by created_at, then by id, both descending
        ({"limit": 2}, ["e4", "e5"]),  # the two newest, not the two oldest reversed
        ({"limit": 3}, ["e4", "e5", "e3"]),  # a tie on created_at broken by id
        ({"status": ExecutionStatus.RUNNING, "limit": 2}, ["e4", "e5"]),
        ({"function": "other"}, ["e4", "e2"]),
        ({"parent_id": "p1", "limit": 1}, ["e2"]),
        ({"limit": 0}, []),
    ],
)
async def test_list_executions_newest_first_reverses_the_order_before_the_limit(
    store: Store, filters: dict[str, object], expected: list[str]
) -> None:
    await _listing_fixture(store)
    found = await store.list_executions(newest_first=True, **filters)  # type: ignore[arg-type]
    assert [r.execution_id for r in found] == expected
    oldest_first = await store.list_executions(newest_first=False, **filters)  # type: ignore[arg-type]
    if "limit" not in filters:
        assert oldest_first == found[::-1]


async def test_checkpoints_round_trip_in_one_load(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED, started_at=NOW))
    done = op("e1", "1", OperationStatus.SUCCEEDED, result=b"r", started_at=NOW, ended_at=NOW + 1)
    await store.commit(fence, done)
    retry = op("e1", "2", OperationStatus.PENDING, attempt=2, error=b"boom", wake_at=NOW + 5)
    await store.commit(fence, retry)
    child = op("e1", "2/1", OperationStatus.STARTED)._replace(parent_id="2", ref="x")
    await store.commit(fence, child)
    assert await operations(store, "e1") == {"1": done, "2": retry, "2/1": child}
    assert await store.load_operation("e1", "1") == done
    assert await store.load_operation("e1", "3") is None
    loaded = await store.load_operation("e1", "2")
    assert loaded is not None and loaded.status is OperationStatus.PENDING  # the enum, typed
    assert loaded.type is OperationType.STEP


async def test_data_version_moves_for_another_stores_commits_only(shared: Stores) -> None:
    mine, other = await shared.open(), await shared.open()
    before = await mine.data_version()
    await mine.create_execution(new("e1"))
    await mine.commit(Fence("e1", 1), op("e1", "1", OperationStatus.SUCCEEDED))
    assert await mine.data_version() == before  # its own writes do not move it
    await other.create_execution(new("e2"))
    after = await mine.data_version()
    assert after != before
    assert await mine.data_version() == after  # and it stays until the next commit elsewhere
    assert (await execution(mine, "e2")).owner == "w1"  # what moved it can be read


async def test_a_second_store_reads_what_the_first_committed(shared: Stores) -> None:
    first, second = await shared.open(), await shared.open()
    fence = await running(first, "e1")
    await first.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"r"))
    await first.commit(fence, SuspendExecution(wake_at=NOW + 5))
    assert await second.get_execution("e1") == await first.get_execution("e1")
    assert await operations(second, "e1") == await operations(first, "e1")


async def test_a_closed_store_refuses_writes_and_reopens_with_its_data(shared: Stores) -> None:
    store = await shared.open()
    fence = await running(store, "e1")
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED))
    with pytest.raises(StoreError, match="not open"):
        await store.create_execution(new("e2"))
    await store.open()
    assert (await execution(store, "e1")).epoch == 1
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED))
    assert list(await operations(store, "e1")) == ["1"]
    assert await store.get_execution("e2") is None


async def test_close_commits_the_writes_already_queued(shared: Stores) -> None:
    store = await shared.open()
    fence = await running(store, "e1")
    writes = [
        asyncio.ensure_future(store.commit(fence, op("e1", str(i), OperationStatus.SUCCEEDED)))
        for i in range(20)
    ]
    await store.close()
    assert await asyncio.gather(*writes) == [None] * 20
    reader = await shared.open()
    assert sorted(await operations(reader, "e1"), key=int) == [str(i) for i in range(20)]
