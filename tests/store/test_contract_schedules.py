"""The Store contract: schedules kept in the database, each firing taken once."""

from __future__ import annotations

import asyncio

import pytest

from durable_engine import ScheduleNotFound, Store
from durable_engine._store import ScheduleRecord
from tests.store.conftest import Stores
from tests.store.helpers import NOW, new


def schedule(name: str = "s1", *, cron: str = "* * * * *", at: float = NOW) -> ScheduleRecord:
    return ScheduleRecord(
        name=name, function="flow", cron=cron, timezone="UTC", input=b"in",
        catchup="latest", paused=False, next_fire_at=at, created_at=NOW - 60,
    )  # fmt: skip


async def test_declaring_again_keeps_the_next_firing_and_a_change_takes_over(
    store: Store,
) -> None:
    first = await store.put_schedule(schedule())
    assert first == schedule() and await store.get_schedule("s1") == first
    assert await store.put_schedule(schedule(at=NOW + 600)) == first  # unchanged: kept
    changed = await store.put_schedule(schedule(cron="*/5 * * * *", at=NOW + 300))
    assert (changed.cron, changed.next_fire_at) == ("*/5 * * * *", NOW + 300)
    assert [s.name for s in await store.list_schedules()] == ["s1"]


async def test_a_firing_is_taken_once_with_its_executions(store: Store) -> None:
    await store.put_schedule(schedule())
    assert [s.name for s in await store.due_schedules(["flow"], NOW)] == ["s1"]
    assert await store.due_schedules(["flow"], NOW - 1) == []
    assert await store.due_schedules(["other"], NOW) == []
    made = await store.fire_schedule(
        "s1", NOW, NOW + 60, [new("x1", owner=None, name="s1@t")], NOW + 1
    )
    assert made is not None and [(r.execution_id, c) for r, c in made] == [("x1", True)]
    again = await store.fire_schedule(
        "s1", NOW, NOW + 60, [new("x2", owner=None, name="s1@t")], NOW + 2
    )
    assert again is None and await store.get_execution("x2") is None
    stored = await store.get_schedule("s1")
    assert stored is not None and (stored.next_fire_at, stored.fired_at) == (NOW + 60, NOW + 1)
    # A firing whose execution name exists already finds that execution.
    dup = await store.fire_schedule(
        "s1", NOW + 60, NOW + 120, [new("x3", owner=None, name="s1@t")], NOW + 61
    )
    assert dup is not None and [(r.execution_id, c) for r, c in dup] == [("x1", False)]


async def test_paused_schedules_are_not_due_and_unknown_names_are_refused(store: Store) -> None:
    await store.put_schedule(schedule())
    paused = await store.set_schedule_paused("s1", True, None)
    assert paused.paused and paused.next_fire_at == NOW
    assert await store.due_schedules(["flow"], NOW + 999) == []
    assert await store.fire_schedule("s1", NOW, NOW + 60, [], NOW) is None
    resumed = await store.set_schedule_paused("s1", False, NOW + 120)
    assert (resumed.paused, resumed.next_fire_at) == (False, NOW + 120)
    await store.delete_schedule("s1")
    assert await store.get_schedule("s1") is None
    for call in (
        store.set_schedule_paused("s1", True, None),
        store.delete_schedule("s1"),
    ):
        with pytest.raises(ScheduleNotFound):
            await call


async def test_two_stores_racing_fire_a_schedule_once(shared: Stores) -> None:
    one, two = await shared.open(), await shared.open()
    await one.put_schedule(schedule())
    results = await asyncio.gather(
        *(
            s.fire_schedule("s1", NOW, NOW + 60, [new(f"x{i}", owner=None, name=f"n{i}")], NOW)
            for i, s in enumerate((one, two, one, two))
        )
    )
    assert sum(r is not None for r in results) == 1
