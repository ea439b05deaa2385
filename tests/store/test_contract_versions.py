"""The Store contract for function versions: an execution is claimed only by a worker
that runs its version, and listed by it."""

from __future__ import annotations

from durable_engine import ExecutionStatus, Store
from durable_engine._store import SuspendExecution
from tests.store.helpers import NOW, execution, finish, new, running


async def test_a_claim_takes_only_the_versions_it_names(store: Store) -> None:
    for execution_id, version in (("v1", 1), ("v2", 2), ("v3", 3)):
        await store.create_execution(new(execution_id, owner=None, version=version))
    assert await store.next_wake_at(["flow@4"]) is None
    assert await store.next_wake_at(["flow@2"]) == NOW

    claimed = await store.claim("w1", ["flow@1", "flow@3"], NOW, 10, lease_now=NOW)
    assert sorted((r.execution_id, r.version) for r in claimed) == [("v1", 1), ("v3", 3)]
    assert (await execution(store, "v2")).owner is None
    [taken] = await store.claim("w2", ["flow@2"], NOW, 10, lease_now=NOW)
    assert (taken.execution_id, taken.version) == ("v2", 2)


async def test_executions_are_listed_by_version_and_unfinished(store: Store) -> None:
    ended = await running(store, "ended")  # version 1, by default
    await store.commit(ended, finish(ExecutionStatus.SUCCEEDED))
    waiting = await running(store, "waiting")
    await store.commit(waiting, SuspendExecution(wake_at=NOW + 60))
    await store.create_execution(new("newer", version=2))

    assert [r.execution_id for r in await store.list_executions(version=1)] == [
        "ended",
        "waiting",
    ]
    unfinished = await store.list_executions(function="flow", version=1, unfinished=True)
    assert [r.execution_id for r in unfinished] == ["waiting"]
    assert [r.execution_id for r in await store.list_executions(unfinished=True)] == [
        "newer",  # created at the same instant: by id
        "waiting",
    ]
