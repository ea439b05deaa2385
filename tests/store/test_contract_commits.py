"""The Store contract: `commit` of each mutation, its fencing, and batches of commits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from durable_engine import (
    CallbackNotPending,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    Store,
)
from durable_engine._store import CancelOperations, Fence, LeaseLost, Mutation, SuspendExecution
from tests.store.helpers import (
    NOW,
    callback,
    execution,
    finish,
    new,
    op,
    operations,
    running,
)


async def test_a_checkpoint_inserts_then_replaces_its_operation(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED, attempt=1))
    replaced = op("e1", "1", OperationStatus.FAILED, attempt=2, error=b"e", ended_at=NOW)
    await store.commit(fence, replaced)
    assert await store.load_operations("e1") == [replaced]
    record = await execution(store, "e1")
    assert (record.status, record.owner, record.epoch) == (ExecutionStatus.RUNNING, "w1", 1)


async def test_finish_ends_the_execution_and_releases_it(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"r"))
    failed = finish(ExecutionStatus.FAILED, result=None, error=b"err", ended_at=NOW + 7)
    await store.commit(fence, failed)
    record = await execution(store, "e1")
    assert (record.status, record.result, record.error, record.ended_at) == (
        ExecutionStatus.FAILED,
        None,
        b"err",
        NOW + 7,
    )
    assert (record.owner, record.wake_at, record.epoch) == (None, None, 1)
    assert [cp.status for cp in await store.load_operations("e1")] == ["SUCCEEDED"]
    with pytest.raises(LeaseLost):  # an ended execution takes no more writes
        await store.commit(fence, op("e1", "2", OperationStatus.SUCCEEDED))
    with pytest.raises(LeaseLost):
        await store.commit(fence, finish())
    assert (await execution(store, "e1")).status is ExecutionStatus.FAILED
    assert list(await operations(store, "e1")) == ["1"]


async def test_finish_cancels_the_operations_left_open_and_their_callbacks(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED, type=OperationType.WAIT))
    await store.commit(fence, op("e1", "2", OperationStatus.PENDING, attempt=2))
    await store.commit(fence, callback("e1", "3", "cb-3"))
    done = op("e1", "4", OperationStatus.SUCCEEDED, result=b"r")
    await store.commit(fence, done)
    await store.commit(fence, op("e1", "5", OperationStatus.STARTED))  # not listed: left as is
    await store.commit(fence, finish(open_ops=("1", "2", "3", "4"), ended_at=NOW + 9))
    ops = await operations(store, "e1")
    assert {k: (v.status, v.ended_at) for k, v in ops.items() if k != "4"} == {
        "1": ("CANCELLED", NOW + 9),
        "2": ("CANCELLED", NOW + 9),
        "3": ("CANCELLED", NOW + 9),
        "5": ("STARTED", None),
    }
    assert ops["4"] == done  # an operation that ended keeps its outcome
    with pytest.raises(CallbackNotPending):
        await store.resolve_callback("cb-3", "SUCCEEDED", b"late", None, NOW + 10)


async def test_finishing_an_invoked_execution_wakes_its_parent(store: Store) -> None:
    parent = await running(store, "parent")
    await store.commit(parent, SuspendExecution(wake_at=None))
    assert (await execution(store, "parent")).wake_at is None
    child = await running(store, "child", parent_id="parent")
    await store.commit(child, finish(ended_at=NOW + 3))
    record = await execution(store, "parent")
    assert (record.status, record.owner) == (ExecutionStatus.SUSPENDED, None)
    assert record.wake_at == NOW + 3


async def test_an_ended_parent_is_not_woken(store: Store) -> None:
    parent = await running(store, "parent")
    await store.commit(parent, finish(ended_at=NOW + 1))
    child = await running(store, "child", parent_id="parent")
    await store.commit(child, finish(ended_at=NOW + 3))
    record = await execution(store, "parent")
    assert (record.status, record.wake_at) == (ExecutionStatus.SUCCEEDED, None)


@pytest.mark.parametrize(
    ("wake_at", "timeout_at", "expected"),
    [
        (NOW + 50, None, NOW + 50),
        (NOW + 50, NOW + 20, NOW + 20),  # clamped to the execution's timeout
        (NOW + 10, NOW + 20, NOW + 10),
        (None, NOW + 20, NOW + 20),  # waits for something, but no longer than the timeout
        (None, None, None),  # waits for something to wake it
    ],
)
async def test_suspend_releases_the_execution_until_its_earliest_instant(
    store: Store, wake_at: float | None, timeout_at: float | None, expected: float | None
) -> None:
    fence = await running(store, "e1", timeout_at=timeout_at)
    await store.commit(fence, SuspendExecution(wake_at=wake_at))
    record = await execution(store, "e1")
    assert (record.status, record.owner, record.epoch, record.wake_at) == (
        ExecutionStatus.SUSPENDED,
        None,
        1,
        expected,
    )


async def test_a_wake_up_recorded_while_running_survives_suspension(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, callback("e1", "1", "cb-1"))
    await store.resolve_callback("cb-1", "SUCCEEDED", b"yes", None, NOW + 4)
    await store.commit(fence, SuspendExecution(wake_at=NOW + 100))
    assert (await execution(store, "e1")).wake_at == NOW + 4


async def test_put_callback_writes_the_operation_and_a_pending_callback(store: Store) -> None:
    fence = await running(store, "e1")
    put = callback("e1", "1", "cb-1", timeout_at=NOW + 60, heartbeat_timeout=30)
    await store.commit(fence, put)
    assert await store.load_operations("e1") == [put.operation]
    assert put.operation.wake_at == NOW + 30
    assert await store.callback_function("cb-1") == "flow"
    assert await store.heartbeat_callback("cb-1", NOW + 1) == ("e1", "1")  # it is pending


async def test_cancel_operations_writes_the_decision_and_cancels_what_was_open(
    store: Store,
) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED, type=OperationType.MAP))
    await store.commit(fence, op("e1", "1/2/1", OperationStatus.STARTED, type=OperationType.WAIT))
    await store.commit(fence, callback("e1", "1/3/1", "cb-3"))
    await store.commit(fence, callback("e1", "1/4/1", "cb-4"))
    await store.resolve_callback("cb-4", "SUCCEEDED", b"in time", None, NOW + 1)
    decided = op("e1", "1", OperationStatus.SUCCEEDED, type=OperationType.MAP, result=b"batch")
    branches = tuple(
        op("e1", f"1/{n}", OperationStatus.CANCELLED, type=OperationType.CONTEXT) for n in (2, 3, 4)
    )
    cancel = CancelOperations(
        operation=decided, records=branches, open_ops=("1/2/1", "1/3/1", "1/4/1"), ended_at=NOW + 2
    )
    await store.commit(fence, cancel)
    ops = await operations(store, "e1")
    assert ops["1"] == decided
    assert [ops[f"1/{n}"] for n in (2, 3, 4)] == list(branches)
    assert (ops["1/2/1"].status, ops["1/2/1"].ended_at) == ("CANCELLED", NOW + 2)
    assert (ops["1/3/1"].status, ops["1/3/1"].ended_at) == ("CANCELLED", NOW + 2)
    assert (ops["1/4/1"].status, ops["1/4/1"].result) == ("SUCCEEDED", b"in time")
    with pytest.raises(CallbackNotPending, match="cancelled"):
        await store.resolve_callback("cb-3", "SUCCEEDED", b"late", None, NOW + 3)
    assert (await execution(store, "e1")).status is ExecutionStatus.RUNNING


def _every_mutation(execution_id: str) -> list[Mutation]:
    return [
        op(execution_id, "9", OperationStatus.SUCCEEDED),
        finish(),
        SuspendExecution(wake_at=NOW),
        callback(execution_id, "9", f"cb-{execution_id}"),
        CancelOperations(
            operation=op(execution_id, "9", OperationStatus.SUCCEEDED),
            records=(),
            open_ops=("1",),
            ended_at=NOW,
        ),
    ]


@pytest.mark.parametrize("kind", range(5), ids=["checkpoint", "finish", "suspend", "put", "cancel"])
async def test_every_mutation_is_refused_under_a_stale_epoch_writing_nothing(
    store: Store, kind: int
) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, op("e1", "1", OperationStatus.STARTED))
    before = (await execution(store, "e1"), await store.load_operations("e1"))
    for stale in (Fence("e1", 0), Fence("e1", 2)):
        with pytest.raises(LeaseLost):
            await store.commit(stale, _every_mutation("e1")[kind])
    assert (await execution(store, "e1"), await store.load_operations("e1")) == before
    assert await store.callback_function("cb-e1") is None


async def test_writes_for_an_unknown_execution_are_refused(store: Store) -> None:
    for mutation in _every_mutation("missing"):
        with pytest.raises(LeaseLost):
            await store.commit(Fence("missing", 1), mutation)
    assert await store.get_execution("missing") is None
    assert await store.load_operations("missing") == []


async def test_concurrent_commits_share_transactions_and_fail_alone(store: Store) -> None:
    for i in range(50):
        await store.create_execution(new(f"e{i}"))
    writes = [
        store.commit(
            Fence(f"e{i}", 1 if i != 7 else 99), op(f"e{i}", "1", OperationStatus.SUCCEEDED)
        )
        for i in range(50)
    ]
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, LeaseLost)] == [7]
    assert all(r is None for i, r in enumerate(results) if i != 7)
    assert await store.load_operations("e7") == []
    assert len(await store.load_operations("e8")) == 1


async def test_one_batch_holding_two_epochs_and_an_ending_of_one_execution(store: Store) -> None:
    """Writes gathered into one transaction are still fenced one by one: a stale run's
    write beside the current run's, and a write after the execution's end."""
    for execution_id in ("e1", "e2", "e3"):
        await running(store, execution_id)

    def put(execution_id: str, epoch: int, result: bytes) -> Awaitable[None]:
        cp = op(execution_id, "1", OperationStatus.SUCCEEDED, result=result)
        return store.commit(Fence(execution_id, epoch), cp)

    results = await asyncio.gather(
        put("e1", 1, b"new"),  # the current epoch first, then a stale one
        put("e1", 0, b"old"),
        put("e3", 0, b"old"),  # and the other way round
        put("e3", 1, b"new"),
        store.commit(Fence("e2", 1), finish()),
        put("e2", 1, b"late"),
        return_exceptions=True,
    )
    assert [r is None for r in results] == [True, False, False, True, True, False]
    assert all(isinstance(r, LeaseLost) for r in results if r is not None)
    for execution_id in ("e1", "e3"):
        assert [cp.result for cp in await store.load_operations(execution_id)] == [b"new"]
    assert await store.load_operations("e2") == []


async def test_fences_of_ids_that_need_escaping_are_checked_in_one_batch(store: Store) -> None:
    """Ids with backslashes, quotes or non-ASCII letters must match their rows exactly."""

    async def batch(*writes: tuple[str, int, str]) -> list[object]:
        return await asyncio.gather(
            *(
                store.commit(Fence(x, epoch), op(x, op_id, OperationStatus.SUCCEEDED))
                for x, epoch, op_id in writes
            ),
            return_exceptions=True,
        )

    for execution_id in ("e\\b", "e-é", 'e"q', "plain"):
        await running(store, execution_id)
    first = await batch(("e\\b", 1, "1"), ("e-é", 1, "1"), ("plain", 1, "1"), ("e\\b", 2, "2"))
    assert first[:3] == [None] * 3 and isinstance(first[3], LeaseLost)
    second = await batch(('e"q', 1, "1"), ("plain", 1, "2"), ('e"q', 0, "2"))
    assert second[:2] == [None] * 2 and isinstance(second[2], LeaseLost)
    loaded = {
        x: [cp.op_id for cp in await store.load_operations(x)] for x in ("e\\b", "e-é", 'e"q')
    }
    assert loaded == {"e\\b": ["1"], "e-é": ["1"], 'e"q': ["1"]}


async def test_many_checkpoints_in_one_batch_all_land_exactly(store: Store) -> None:
    for i in range(17):
        await running(store, f"e{i}")
    written = {
        (f"e{i}", str(n)): op(
            f"e{i}", str(n), OperationStatus.SUCCEEDED, result=bytes([i, n]), started_at=i + n
        )
        for i in range(17)
        for n in range(1, 11)
    }
    await asyncio.gather(*(store.commit(Fence(x, 1), cp) for (x, _), cp in written.items()))
    loaded = [cp for i in range(17) for cp in await store.load_operations(f"e{i}")]
    assert {(cp.execution_id, cp.op_id): cp for cp in loaded} == written
    replaced = op("e3", "4", OperationStatus.FAILED, error=b"e", attempt=2)
    await store.commit(Fence("e3", 1), replaced)
    assert replaced in await store.load_operations("e3")
    assert len(await store.load_operations("e3")) == 10


async def test_a_large_batch_replaces_rows_and_leaves_out_refused_ones(store: Store) -> None:
    """Enough checkpoints in one batch to take a store's bulk path: rows already there
    are replaced whole, new ones go in, and a stale run's writes in the same batch do
    not; a second such batch on the same connection works as the first."""
    for i in range(4):
        await running(store, f"e{i}")
    for n in range(1, 21):
        await store.commit(Fence("e0", 1), op("e0", str(n), OperationStatus.STARTED))
    for round_ in (1, 2):
        written = {
            (f"e{i}", str(n)): op(
                f"e{i}",
                str(n),
                OperationStatus.SUCCEEDED,
                result=bytes([i, n, round_]),
                attempt=round_,
                ended_at=NOW + n,
            )
            for i in range(3)
            for n in range(1, 21)
        }
        stale = [op("e3", str(n), OperationStatus.SUCCEEDED) for n in range(1, 21)]
        results = await asyncio.gather(
            *(store.commit(Fence(x, 1), cp) for (x, _), cp in written.items()),
            *(store.commit(Fence("e3", 0), cp) for cp in stale),
            return_exceptions=True,
        )
        assert results[:60] == [None] * 60
        assert all(isinstance(r, LeaseLost) for r in results[60:])
        loaded = [cp for i in range(3) for cp in await store.load_operations(f"e{i}")]
        assert {(cp.execution_id, cp.op_id): cp for cp in loaded} == written
        assert await store.load_operations("e3") == []


async def test_mutations_of_every_kind_in_one_batch_all_apply(store: Store) -> None:
    fences = {x: await running(store, x, timeout_at=NOW + 30) for x in ("a", "b", "c", "d")}
    await store.commit(fences["d"], op("d", "1", OperationStatus.STARTED))
    await asyncio.gather(
        store.commit(fences["a"], op("a", "1", OperationStatus.SUCCEEDED)),
        store.commit(fences["a"], SuspendExecution(wake_at=NOW + 60)),
        store.commit(fences["b"], callback("b", "1", "cb-b")),
        store.commit(fences["c"], finish(ended_at=NOW + 1)),
        store.commit(fences["d"], finish(ExecutionStatus.FAILED, error=b"x", open_ops=("1",))),
    )
    statuses = {x: (await execution(store, x)).status for x in fences}
    assert statuses == {
        "a": ExecutionStatus.SUSPENDED,
        "b": ExecutionStatus.RUNNING,
        "c": ExecutionStatus.SUCCEEDED,
        "d": ExecutionStatus.FAILED,
    }
    assert (await execution(store, "a")).wake_at == NOW + 30
    assert [cp.status for cp in await store.load_operations("a")] == ["SUCCEEDED"]
    assert await store.callback_function("cb-b") == "flow"
    assert [cp.status for cp in await store.load_operations("d")] == ["CANCELLED"]


async def test_a_refused_time_out_fails_alone_and_the_writer_goes_on(store: Store) -> None:
    """A stale fence refused inside a write function, beside a good commit in the same
    transaction: only that caller sees LeaseLost, and later writes still land."""
    await running(store, "e1")
    await running(store, "e2")
    results = await asyncio.gather(
        store.time_out_execution(Fence("e1", 0), NOW, b"late"),
        store.commit(Fence("e2", 1), op("e2", "1", OperationStatus.SUCCEEDED)),
        return_exceptions=True,
    )
    assert isinstance(results[0], LeaseLost) and results[1] is None
    await store.commit(Fence("e1", 1), op("e1", "1", OperationStatus.SUCCEEDED))
    assert [cp.op_id for cp in await store.load_operations("e1")] == ["1"]
    assert [cp.op_id for cp in await store.load_operations("e2")] == ["1"]
    assert (await execution(store, "e1")).status is ExecutionStatus.RUNNING


async def test_a_write_that_fails_fails_the_same_executions_later_writes_with_it(
    store: Store,
) -> None:
    """One execution's writes land in order: queued together after one that fails
    (here a callback id already taken), its later writes fail too, never landing
    without it; another execution's writes in the same transaction land."""
    for execution_id in ("a", "b"):
        await store.create_execution(new(execution_id))
    await store.commit(Fence("b", 1), callback("b", "1", "taken"))
    failing = store.commit(Fence("a", 1), callback("a", "1", "taken"))
    later = store.commit(Fence("a", 1), op("a", "2", OperationStatus.SUCCEEDED))
    other = store.commit(Fence("b", 1), op("b", "2", OperationStatus.SUCCEEDED))
    results = await asyncio.gather(failing, later, other, return_exceptions=True)
    assert isinstance(results[0], Exception)
    assert isinstance(results[1], Exception)
    assert results[2] is None
    assert await operations(store, "a") == {}
    assert set(await operations(store, "b")) == {"1", "2"}


async def test_histories_loaded_at_once_each_get_their_own(store: Store) -> None:
    """Histories asked for together (as a worker's claimed runs ask) are read together,
    and each caller gets exactly its execution's checkpoints."""
    expected = {}
    for n in range(1, 260):  # more than one statement's worth of executions
        execution_id = f"e{n}"
        fence = await running(store, execution_id)
        rows = [op(execution_id, str(i), OperationStatus.SUCCEEDED) for i in range(n % 4)]
        await asyncio.gather(*(store.commit(fence, row) for row in rows))
        expected[execution_id] = rows
    asked = [*expected, "e1", "unknown", "e7"]
    loaded = await asyncio.gather(*(store.load_operations(e) for e in asked))
    for execution_id, history in zip(asked, loaded, strict=True):
        want = expected.get(execution_id, [])
        assert sorted(history, key=lambda c: c.op_id) == want
    loaded[0].clear()  # a caller's list is its own, even for an id asked twice
    assert sorted(loaded[-3], key=lambda c: c.op_id) == expected["e1"]
