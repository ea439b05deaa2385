"""The Store contract: events sent by name, received once each, in the order sent."""

from __future__ import annotations

import pytest

from durable_engine import (
    ExecutionAlreadyEnded,
    ExecutionNotFound,
    OperationStatus,
    OperationType,
    Store,
)
from durable_engine._models import Checkpoint
from durable_engine._store import Fence, LeaseLost, SuspendExecution
from tests.store.helpers import NOW, execution, finish, running


def waiting(execution_id: str, op_id: str, name: str, *, at: float = NOW) -> Checkpoint:
    return Checkpoint(
        execution_id, op_id, None, OperationType.EVENT, name, OperationStatus.STARTED,
        started_at=at, wake_at=at + 60,
    )  # fmt: skip


async def test_an_event_sent_first_is_kept_for_the_next_wait(store: Store) -> None:
    fence = await running(store, "e1")
    assert await store.send_event("e1", "go", b"one", NOW + 1) is None
    assert await store.send_event("e1", "go", b"two", NOW + 2) is None
    first = await store.receive_event(fence, waiting("e1", "1", "go"), NOW + 3)
    assert (first.status, first.result, first.ended_at, first.wake_at) == (
        "SUCCEEDED",
        b"one",
        NOW + 3,
        None,
    )
    second = await store.receive_event(fence, waiting("e1", "2", "go"), NOW + 4)
    assert second.result == b"two" and int(second.ref or 0) > int(first.ref or 0)
    # Received again (a replay after a crash): the same event, nothing consumed twice.
    assert await store.receive_event(fence, waiting("e1", "1", "go"), NOW + 5) == first
    third = await store.receive_event(fence, waiting("e1", "3", "go"), NOW + 5)
    assert third.status == "STARTED" and third.result is None
    assert await store.load_operation("e1", "3") == third


async def test_a_waiting_operation_receives_the_event_as_it_is_sent(store: Store) -> None:
    fence = await running(store, "e1")
    await store.receive_event(fence, waiting("e1", "1", "other"), NOW)
    await store.receive_event(fence, waiting("e1", "2", "go"), NOW)
    await store.receive_event(fence, waiting("e1", "3", "go", at=NOW + 1), NOW + 1)
    await store.commit(fence, SuspendExecution(wake_at=None))
    assert await store.send_event("e1", "go", b"a", NOW + 5) == "2"  # the first waiter
    assert await store.send_event("e1", "go", b"b", NOW + 6) == "3"
    two, three = await store.load_operation("e1", "2"), await store.load_operation("e1", "3")
    assert two is not None and (two.status, two.result) == ("SUCCEEDED", b"a")
    assert two.ended_at == NOW + 5
    assert three is not None and three.result == b"b"
    assert (await execution(store, "e1")).wake_at == NOW + 5  # woken at the first
    other = await store.load_operation("e1", "1")
    assert other is not None and other.status == "STARTED"


async def test_a_timed_out_wait_leaves_later_events_for_the_next(store: Store) -> None:
    fence = await running(store, "e1")
    await store.receive_event(fence, waiting("e1", "1", "go"), NOW)
    timed = await store.time_out_event(fence, "1", NOW + 61, b"late")
    assert timed is not None and (timed.status, timed.error) == ("TIMED_OUT", b"late")
    assert await store.send_event("e1", "go", b"x", NOW + 62) is None
    got = await store.receive_event(fence, waiting("e1", "2", "go"), NOW + 63)
    assert got.result == b"x"
    # An event that came first stands: timing out changes nothing.
    assert await store.time_out_event(fence, "2", NOW + 999, b"late") == got


async def test_sending_to_an_ended_or_unknown_execution_is_refused(store: Store) -> None:
    fence = await running(store, "e1")
    await store.commit(fence, finish())
    with pytest.raises(ExecutionAlreadyEnded):
        await store.send_event("e1", "go", b"x", NOW + 20)
    with pytest.raises(ExecutionNotFound):
        await store.send_event("nope", "go", b"x", NOW + 20)
    with pytest.raises(LeaseLost):
        await store.receive_event(fence, waiting("e1", "1", "go"), NOW + 20)


async def test_receiving_is_fenced(store: Store) -> None:
    await running(store, "e1")
    await store.send_event("e1", "go", b"x", NOW)
    with pytest.raises(LeaseLost):
        await store.receive_event(Fence("e1", 7), waiting("e1", "1", "go"), NOW)
    with pytest.raises(LeaseLost):
        await store.time_out_event(Fence("e1", 7), "1", NOW, b"late")
    assert await store.load_operation("e1", "1") is None
    got = await store.receive_event(Fence("e1", 1), waiting("e1", "1", "go"), NOW)
    assert got.result == b"x"  # the refused receive consumed nothing
