"""Instants moved between a host's clock and the database server's.

A PostgreSQL store measures, as it opens, how far the server's clock is ahead of its
host's wall clock (`offset`, in eighths of a second), and stores every instant on the
server's clock: `t + offset` on the way in, `t - offset` on the way out. Instants
written by hosts whose clocks disagree are then compared on one clock, so a timer set
on one host is not due early on another, and a lease does not expire early. With an
offset of 0 (hosts within 62 ms of the server) nothing is moved.

Durations (a callback's `heartbeat_timeout`) are not instants and are never moved.
"""

from __future__ import annotations

from .._models import Checkpoint, ExecutionRecord
from .base import (
    Attempt,
    BlockExecution,
    CancelOperations,
    EndAttempt,
    FinishExecution,
    Mutation,
    NewExecution,
    PutCallback,
    ScheduleRecord,
    SetCustomStatus,
    SuspendExecution,
)

__all__ = [
    "attempt_out",
    "checkpoint_in",
    "checkpoint_out",
    "mutation_in",
    "new_in",
    "record_out",
    "schedule_in",
    "shift",
]


def shift(t: float | None, by: float) -> float | None:
    return None if t is None else t + by


def checkpoint_in(cp: Checkpoint, offset: float) -> Checkpoint:
    return cp._replace(
        started_at=shift(cp.started_at, offset),
        ended_at=shift(cp.ended_at, offset),
        wake_at=shift(cp.wake_at, offset),
    )


def checkpoint_out(cp: Checkpoint, offset: float) -> Checkpoint:
    return checkpoint_in(cp, -offset)


def record_out(record: ExecutionRecord, offset: float) -> ExecutionRecord:
    return record._replace(
        created_at=record.created_at - offset,
        ended_at=shift(record.ended_at, -offset),
        wake_at=shift(record.wake_at, -offset),
        timeout_at=shift(record.timeout_at, -offset),
    )


def new_in(new: NewExecution, offset: float) -> NewExecution:
    return new._replace(
        created_at=new.created_at + offset, timeout_at=shift(new.timeout_at, offset)
    )


def attempt_out(a: Attempt, offset: float) -> Attempt:
    return a._replace(started_at=shift(a.started_at, -offset), ended_at=shift(a.ended_at, -offset))


def schedule_in(s: ScheduleRecord, offset: float) -> ScheduleRecord:
    """`s` with its instants moved by `offset` (negative: on the way out)."""
    return s._replace(
        next_fire_at=s.next_fire_at + offset,
        created_at=s.created_at + offset,
        fired_at=shift(s.fired_at, offset),
    )


def mutation_in(m: Mutation, offset: float) -> Mutation:
    """`m` with its instants on the server's clock."""
    if isinstance(m, Checkpoint):
        return checkpoint_in(m, offset)
    if isinstance(m, FinishExecution):
        return m._replace(ended_at=m.ended_at + offset)
    if isinstance(m, SuspendExecution):
        return SuspendExecution(wake_at=shift(m.wake_at, offset))
    if isinstance(m, PutCallback):
        return PutCallback(
            callback_id=m.callback_id,
            operation=checkpoint_in(m.operation, offset),
            created_at=m.created_at + offset,
            timeout_at=shift(m.timeout_at, offset),
            heartbeat_timeout=m.heartbeat_timeout,
        )
    if isinstance(m, BlockExecution | SetCustomStatus):
        return m  # no instant (a blocked execution is due at its stored timeout)
    if isinstance(m, EndAttempt):
        return EndAttempt(
            operation=checkpoint_in(m.operation, offset),
            started_at=shift(m.started_at, offset),
            ended_at=m.ended_at + offset,
        )
    if isinstance(m, CancelOperations):
        return CancelOperations(
            operation=checkpoint_in(m.operation, offset),
            records=tuple(checkpoint_in(r, offset) for r in m.records),
            open_ops=m.open_ops,
            ended_at=m.ended_at + offset,
        )
    raise TypeError(f"unknown mutation {m!r}")  # pragma: no cover - the union is closed
