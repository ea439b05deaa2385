"""Schedules as users see and manage them: declared on an engine, kept in the database.

A schedule is declared with `engine.schedule(...)` before the engine opens, and
written to the database as it opens (again at every open: an unchanged definition
keeps its next firing). The scheduler fires it (`_scheduler`); here it is listed,
paused, resumed, deleted and triggered by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._cron import check_schedule, execution_name, next_after
from ._errors import ScheduleNotFound
from ._executor import Executor
from ._ids import new_execution_id
from ._models import timestamp_to_datetime
from ._registry import DurableFunction
from ._store import NewExecution, ScheduleRecord, Store

__all__ = ["ScheduleInfo", "Schedules"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleInfo:
    """What a user sees of a schedule; times are aware UTC datetimes."""

    name: str
    function: str
    cron: str
    timezone: str
    catchup: str
    paused: bool
    next_fire_at: datetime
    """When it fires next (while paused: when it was due as it was paused)."""
    fired_at: datetime | None
    """When a worker last fired it."""
    input: Any


@dataclass(frozen=True, slots=True)
class _Declared:
    function: DurableFunction[Any, Any]
    cron: str
    timezone: str
    input: Any
    catchup: str


class Schedules:
    """The schedules of one engine's database."""

    def __init__(self, executor: Executor, poke: Callable[[], None]) -> None:
        self.executor = executor
        self.poke = poke
        self._declared: dict[str, _Declared] = {}

    @property
    def store(self) -> Store:
        return self.executor.store

    def declare(
        self,
        function: DurableFunction[Any, Any],
        cron: str,
        name: str,
        input: Any,
        timezone: str,
        catchup: str,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a schedule needs a non-empty name, not {name!r}")
        check_schedule(cron, timezone, catchup)
        self._declared[name] = _Declared(function, cron, timezone, input, catchup)

    async def write_declared(self) -> None:
        """Write the declared schedules (an unchanged one keeps its next firing)."""
        now = self.executor.clock.now()
        for name, d in self._declared.items():
            codec = self.executor.registry.codec(d.function)
            data = self.executor.values.encode(d.input, codec, None, "the schedule's input")
            await self.store.put_schedule(
                ScheduleRecord(
                    name=name,
                    function=d.function.name,
                    cron=d.cron,
                    timezone=d.timezone,
                    input=data,
                    catchup=d.catchup,
                    paused=False,
                    next_fire_at=next_after(d.cron, d.timezone, now),
                    created_at=now,
                )
            )
        if self._declared:
            self.poke()

    async def list(self) -> list[ScheduleInfo]:
        return [self._info(r) for r in await self.store.list_schedules()]

    async def pause(self, name: str) -> ScheduleInfo:
        return self._info(await self.store.set_schedule_paused(name, True, None))

    async def resume(self, name: str) -> ScheduleInfo:
        """Resume; firings missed while paused are skipped: it is due at its next time."""
        record = await self._get(name)
        nxt = next_after(record.cron, record.timezone, self.executor.clock.now())
        resumed = await self.store.set_schedule_paused(name, False, nxt)
        self.poke()
        return self._info(resumed)

    async def delete(self, name: str) -> None:
        await self.store.delete_schedule(name)

    async def trigger(self, name: str) -> str:
        """Start an execution of the schedule now (its regular firings are unchanged);
        returns its id."""
        record = await self._get(name)
        now = self.executor.clock.now()
        new = NewExecution(
            execution_id=new_execution_id(),
            name=execution_name(name, record.timezone, now),
            function=record.function,
            version=self.executor.newest_version(record.function),
            input=record.input,
            created_at=now,
            owner=None,
        )
        created, _ = await self.store.create_execution(new)
        self.poke()
        return created.execution_id

    async def _get(self, name: str) -> ScheduleRecord:
        record = await self.store.get_schedule(name)
        if record is None:
            raise ScheduleNotFound(f"no schedule named {name!r}")
        return record

    def _info(self, r: ScheduleRecord) -> ScheduleInfo:
        codec = self.executor.registry.codec_of(r.function)
        return ScheduleInfo(
            name=r.name,
            function=r.function,
            cron=r.cron,
            timezone=r.timezone,
            catchup=r.catchup,
            paused=r.paused,
            next_fire_at=timestamp_to_datetime(r.next_fire_at),
            fired_at=timestamp_to_datetime(r.fired_at),
            input=self.executor.values.view(r.input, codec, what="schedule input"),
        )
