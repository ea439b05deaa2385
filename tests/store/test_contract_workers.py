"""The Store contract: worker rows, claims and takeovers, and the fence after a takeover."""

from __future__ import annotations

import asyncio

import pytest

from durable_engine import ExecutionStatus, OperationStatus, Store
from durable_engine._models import ExecutionRecord
from durable_engine._store import CancelOperations, Fence, LeaseLost, Mutation, SuspendExecution
from tests.store.conftest import Stores
from tests.store.helpers import (
    NOW,
    callback,
    execution,
    finish,
    new,
    op,
    operations,
    running,
    worker,
)


async def _due(store: Store, execution_id: str, wake_at: float, function: str = "flow") -> None:
    """An execution that ran, then suspended until `wake_at` (epoch 1, unowned)."""
    fence = await running(store, execution_id, function=function)
    await store.commit(fence, SuspendExecution(wake_at=wake_at))


def _ids(records: list[ExecutionRecord]) -> set[str]:
    return {r.execution_id for r in records}


async def test_workers_register_list_and_are_replaced(store: Store) -> None:
    await store.reap_workers(["w1"])  # registered by the fixture
    assert await store.list_workers() == []
    await store.register_worker(worker("w1"), NOW + 10)
    await store.register_worker(worker("w2", pid=2), NOW + 20)
    assert sorted(await store.list_workers(), key=lambda w: w[0].worker_id) == [
        (worker("w1"), NOW + 10),
        (worker("w2", pid=2), NOW + 20),
    ]
    await store.register_worker(worker("w1", pid=7), NOW + 30)  # the same id again
    assert sorted(await store.list_workers(), key=lambda w: w[0].worker_id) == [
        (worker("w1", pid=7), NOW + 30),
        (worker("w2", pid=2), NOW + 20),
    ]


async def test_renew_extends_a_lease_and_reports_a_worker_given_up(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    assert await store.renew_worker("w1", NOW + 40)
    assert await store.list_workers() == [(worker("w1"), NOW + 40)]
    await store.reap_workers(["w1"])
    assert not await store.renew_worker("w1", NOW + 50)
    assert not await store.renew_worker("never", NOW + 50)
    assert await store.list_workers() == []  # a failed renewal creates nothing


async def test_remove_worker_releases_what_it_owns(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    await store.register_worker(worker("w2"), NOW + 10)
    await running(store, "idle")
    answered = await running(store, "answered")
    await store.commit(answered, callback("answered", "1", "cb-1"))
    await store.resolve_callback("cb-1", "SUCCEEDED", b"yes", None, NOW + 5)  # due at NOW + 5
    await store.create_execution(new("theirs", owner="w2"))
    await store.remove_worker("w1", NOW + 100)
    idle, early, theirs = [await execution(store, x) for x in ("idle", "answered", "theirs")]
    assert (idle.status, idle.owner, idle.wake_at, idle.epoch) == (
        ExecutionStatus.SUSPENDED,
        None,
        NOW + 100,
        1,
    )
    assert (early.status, early.owner, early.wake_at) == (ExecutionStatus.SUSPENDED, None, NOW + 5)
    assert (theirs.status, theirs.owner, theirs.wake_at) == (ExecutionStatus.RUNNING, "w2", None)
    assert [w.worker_id for w, _ in await store.list_workers()] == ["w2"]


async def test_reaped_workers_rows_go_and_their_executions_wait_for_a_claim(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 600)
    await store.register_worker(worker("w2"), NOW + 600)
    await running(store, "e1")  # owned by w1
    await store.reap_workers(["w1", "unknown"])
    assert [w.worker_id for w, _ in await store.list_workers()] == ["w2"]
    assert (await execution(store, "e1")).owner == "w1"  # until someone takes it
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW)
    assert (taken.execution_id, taken.owner, taken.taken_from, taken.epoch) == ("e1", "w2", "w1", 2)


async def test_next_wake_at_is_the_earliest_unowned_wake_up(store: Store) -> None:
    assert await store.next_wake_at(["flow@1"]) is None
    await _due(store, "later", NOW + 50)
    await _due(store, "sooner", NOW + 5)
    await _due(store, "other", NOW + 3, function="other")
    waiting = await running(store, "waiting")
    await store.commit(waiting, SuspendExecution(wake_at=None))
    await running(store, "owned")
    assert await store.next_wake_at(["flow@1"]) == NOW + 5
    assert await store.next_wake_at(["flow@1", "other@1"]) == NOW + 3
    assert await store.next_wake_at(["nothing"]) is None
    assert await store.next_wake_at([]) is None
    await store.create_execution(new("fresh", owner=None, created_at=NOW - 1))
    assert await store.next_wake_at(["flow@1"]) == NOW - 1  # a new unowned one is due at once


async def test_claim_takes_what_is_due_and_nothing_else(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 600)
    await store.register_worker(worker("w2"), NOW + 600)
    await _due(store, "past", NOW - 1)
    await _due(store, "now", NOW)
    await _due(store, "later", NOW + 60)
    waiting = await running(store, "waiting")
    await store.commit(waiting, SuspendExecution(wake_at=None))
    await store.create_execution(new("fresh", owner=None))  # due at its creation
    await running(store, "held")  # w1's, and w1 is alive
    ended = await running(store, "ended")
    await store.commit(ended, finish())
    claimed = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW)
    assert _ids(claimed) == {"past", "now", "fresh"}
    epochs = {r.execution_id: r.epoch for r in claimed}
    assert epochs == {"past": 2, "now": 2, "fresh": 1}
    for record in claimed:
        assert (record.status, record.owner, record.wake_at, record.taken_from) == (
            ExecutionStatus.RUNNING,
            "w2",
            None,
            None,
        )
        assert await store.get_execution(record.execution_id) == record
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW) == []  # its own already
    assert (await execution(store, "later")).owner is None
    assert (await execution(store, "held")).owner == "w1"
    assert (await execution(store, "ended")).status is ExecutionStatus.SUCCEEDED


async def test_claim_takes_only_the_functions_named(store: Store) -> None:
    await store.register_worker(worker("w2"), NOW + 600)
    await _due(store, "a", NOW, function="flow")
    await _due(store, "b", NOW, function="other")
    await _due(store, "c", NOW, function="third")
    assert await store.claim("w2", [], NOW, 10, lease_now=NOW) == []
    assert _ids(await store.claim("w2", ["other@1"], NOW, 10, lease_now=NOW)) == {"b"}
    assert _ids(await store.claim("w2", ["flow@1", "third@1"], NOW, 10, lease_now=NOW)) == {
        "a",
        "c",
    }


async def test_claim_takes_at_most_its_limit(store: Store) -> None:
    await store.register_worker(worker("w2"), NOW + 600)
    for i in range(5):
        await _due(store, f"e{i}", NOW - i)
    first = await store.claim("w2", ["flow@1"], NOW, 2, lease_now=NOW)
    rest = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW)
    assert len(first) == 2 and len(rest) == 3
    assert _ids(first) | _ids(rest) == {f"e{i}" for i in range(5)}
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW) == []


async def test_claim_takes_over_when_the_owners_lease_expired(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    await store.register_worker(worker("w2"), NOW + 600)
    await running(store, "held")
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 9) == []
    assert {w.worker_id for w, _ in await store.list_workers()} == {"w1", "w2"}
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 10)
    assert (taken.execution_id, taken.owner, taken.epoch, taken.taken_from) == (
        "held",
        "w2",
        2,
        "w1",
    )
    assert taken.status is ExecutionStatus.RUNNING
    assert [w.worker_id for w, _ in await store.list_workers()] == ["w2"]  # w1's row is gone
    assert not await store.renew_worker("w1", NOW + 20)  # w1 learns it was given up


async def test_claim_takes_over_an_execution_whose_owner_has_no_row(store: Store) -> None:
    await store.register_worker(worker("ghost"), NOW + 600)
    await store.create_execution(new("orphan", owner="ghost"))
    await store.reap_workers(["ghost"])  # its row is gone, its execution still its own
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW)
    assert (taken.execution_id, taken.owner, taken.epoch, taken.taken_from) == (
        "orphan",
        "w2",
        2,
        "ghost",
    )


async def test_claimers_racing_on_one_store_get_disjoint_sets(store: Store) -> None:
    for w in ("w1", "w2", "w3"):
        await store.register_worker(worker(w), NOW + 600)
    for i in range(40):
        await _due(store, f"e{i}", NOW)
    results = await asyncio.gather(
        *(store.claim(w, ["flow@1"], NOW, 15, lease_now=NOW) for w in ("w1", "w2", "w3"))
    )
    _assert_disjoint_and_owned([_ids(r) for r in results], 40)
    for w, records in zip(("w1", "w2", "w3"), results, strict=True):
        for record in records:
            assert (await execution(store, record.execution_id)).owner == w


async def test_claimers_racing_from_two_stores_get_disjoint_sets(shared: Stores) -> None:
    first, second = await shared.open(), await shared.open()
    for w in ("w1", "w2"):
        await first.register_worker(worker(w), NOW + 600)
    for i in range(60):
        await _due(first, f"e{i}", NOW)
    results = await asyncio.gather(
        *(
            store.claim(w, ["flow@1"], NOW, 7, lease_now=NOW)
            for _ in range(5)
            for store, w in ((first, "w1"), (second, "w2"))
        )
    )
    _assert_disjoint_and_owned([_ids(r) for r in results], 60)
    owners = {r.execution_id: r.owner for records in results for r in records}
    for execution_id, owner in owners.items():
        assert (await execution(second, execution_id)).owner == owner


def _assert_disjoint_and_owned(claims: list[set[str]], total: int) -> None:
    everything = set().union(*claims)
    assert sum(len(c) for c in claims) == len(everything)  # no execution claimed twice
    assert everything == {f"e{i}" for i in range(total)}  # the limits add up to more


@pytest.mark.parametrize(
    "write",
    ["checkpoint", "finish", "suspend", "put", "cancel", "time_out", "time_out_callback"],
)
async def test_a_taken_over_runs_writes_are_refused_and_write_nothing(
    store: Store, write: str
) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    old = await running(store, "e1")
    await store.commit(old, op("e1", "1", OperationStatus.STARTED))
    await store.commit(old, callback("e1", "2", "cb-2", timeout_at=NOW + 5))
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 10)
    before = (await execution(store, "e1"), await operations(store, "e1"))
    assert before[0] == taken._replace(taken_from=None)
    with pytest.raises(LeaseLost):
        await _write(store, old, write)
    assert (await execution(store, "e1"), await operations(store, "e1")) == before
    await _write(store, Fence("e1", taken.epoch), write)  # the new owner's write lands
    assert (await execution(store, "e1"), await operations(store, "e1")) != before


async def _write(store: Store, fence: Fence, write: str) -> None:
    if write == "time_out":
        await store.time_out_execution(fence, NOW + 20, b"timed out")
    elif write == "time_out_callback":
        await store.time_out_callback(fence, "cb-2", "2", NOW + 20, b"timed out")
    else:
        mutations: dict[str, Mutation] = {
            "checkpoint": op("e1", "1", OperationStatus.SUCCEEDED, result=b"stale"),
            "finish": finish(),
            "suspend": SuspendExecution(wake_at=NOW + 30),
            "put": callback("e1", "3", "cb-3"),
            "cancel": CancelOperations(
                operation=op("e1", "4", OperationStatus.SUCCEEDED),
                records=(),
                open_ops=("1",),
                ended_at=NOW,
            ),
        }
        await store.commit(fence, mutations[write])
