"""The Store contract: a claim made with the claimer's own observations (`stale`).

A running worker passes, with each claim, the workers whose heartbeat it has itself
seen keep one value for a full lease: only those, at that heartbeat, lose their rows
(and so their executions), whatever the wall clock says; and a claimer whose own row
is gone takes nothing."""

from __future__ import annotations

import pytest

from durable_engine import Store
from durable_engine._store import WorkerGone
from tests.store.helpers import NOW, execution, new, running, worker


async def test_an_expired_owner_is_taken_over_only_if_the_claimer_saw_it_stale(
    store: Store,
) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    await store.register_worker(worker("w2"), NOW + 600)
    await running(store, "held")  # w1's
    # Expired by the wall clock, but not seen unchanged for a full lease: kept.
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 3600, stale={}) == []
    assert {w.worker_id for w, _ in await store.list_workers()} == {"w1", "w2"}
    # Seen stale, but the lease has not expired by the wall clock: kept too.
    stale = {"w1": NOW + 10}
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 9, stale=stale) == []
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 10, stale=stale)
    assert (taken.execution_id, taken.owner, taken.epoch, taken.taken_from) == (
        "held",
        "w2",
        2,
        "w1",
    )
    assert [w.worker_id for w, _ in await store.list_workers()] == ["w2"]


async def test_an_owner_that_renewed_since_it_was_seen_keeps_its_executions(
    store: Store,
) -> None:
    await store.register_worker(worker("w1"), NOW + 10)
    await store.register_worker(worker("w2"), NOW + 600)
    await running(store, "held")
    assert await store.renew_worker("w1", NOW + 11)  # after the claimer last looked
    stale = {"w1": NOW + 10}
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 3600, stale=stale) == []
    assert (await execution(store, "held")).owner == "w1"
    assert {w.worker_id for w, _ in await store.list_workers()} == {"w1", "w2"}


async def test_an_owner_with_no_row_is_taken_over_with_no_observation(store: Store) -> None:
    await store.register_worker(worker("w2"), NOW + 600)
    await running(store, "orphan")
    await store.reap_workers(["w1"])  # w1's row is gone, its execution still w1's
    [taken] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW, stale={})
    assert (taken.execution_id, taken.taken_from) == ("orphan", "w1")


async def test_a_claimer_whose_own_row_is_gone_takes_nothing(store: Store) -> None:
    await store.register_worker(worker("w1"), NOW + 600)
    await store.create_execution(new("fresh", owner=None))
    with pytest.raises(WorkerGone):
        await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW, stale={})
    assert (await execution(store, "fresh")).owner is None
    await store.register_worker(worker("w2"), NOW + 600)  # it rejoins
    [claimed] = await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW, stale={})
    assert (claimed.execution_id, claimed.owner) == ("fresh", "w2")


async def test_a_claim_renews_the_claimers_row_so_an_older_heartbeat_takes_nothing(
    store: Store,
) -> None:
    """A worker whose heartbeats failed (the database was away) claims as soon as it
    can: what it takes must not be taken from it at once by a worker that saw its old
    heartbeat unchanged for a full lease."""
    await store.register_worker(worker("w1"), NOW + 10)  # its last heartbeat
    await store.register_worker(worker("w2"), NOW + 600)
    await store.create_execution(new("due", owner=None))
    [mine] = await store.claim(
        "w1", ["flow@1"], NOW, 10, lease_now=NOW + 20, stale={}, expires_at=NOW + 30
    )
    assert (mine.owner, mine.epoch) == ("w1", 1)
    rows = {w.worker_id: expiry for w, expiry in await store.list_workers()}
    assert rows["w1"] == NOW + 30
    # w2 saw w1's heartbeat at NOW + 10 for a full lease: that heartbeat is gone now.
    stale = {"w1": NOW + 10}
    assert await store.claim("w2", ["flow@1"], NOW, 10, lease_now=NOW + 25, stale=stale) == []
    assert (await execution(store, "due")).owner == "w1"
    # A claimer whose row is gone still takes nothing, and writes no row for itself.
    await store.reap_workers(["w1"])
    with pytest.raises(WorkerGone):
        await store.claim("w1", ["flow@1"], NOW, 10, lease_now=NOW, stale={}, expires_at=NOW + 40)
    assert "w1" not in {w.worker_id for w, _ in await store.list_workers()}
