"""The records the engine keeps: statuses, executions and operation checkpoints."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, overload

import serdes

__all__ = [
    "TERMINAL_EXECUTION",
    "Checkpoint",
    "ExecutionInfo",
    "ExecutionRecord",
    "ExecutionStatus",
    "OperationStatus",
    "OperationType",
    "op_position",
    "timestamp_to_datetime",
]


class ExecutionStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"
    BLOCKED = "BLOCKED"
    """Held: its code diverged from its history. Nothing runs until a deploy that
    replays it cleanly resumes it (`engine.resume`, or a worker or engine starting)."""

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_EXECUTION


_TERMINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.STOPPED,
    }
)


TERMINAL_EXECUTION = tuple(sorted(status.value for status in _TERMINAL_EXECUTION))
"""The ended execution statuses, as the plain strings the stores keep, sorted."""


class OperationType(enum.StrEnum):
    STEP = "STEP"
    WAIT = "WAIT"
    CONTEXT = "CONTEXT"
    CALLBACK = "CALLBACK"
    INVOKE = "INVOKE"
    CONDITION = "CONDITION"
    PARALLEL = "PARALLEL"
    MAP = "MAP"
    PATCH = "PATCH"
    """A patch marker: `ctx.patched(id)` took the new path here."""
    EVENT = "EVENT"
    """`ctx.wait_for_event(name)`: an event sent by name, received once."""


class OperationStatus(enum.StrEnum):
    STARTED = "STARTED"
    """Running: an at-most-once attempt began, a timer or callback is pending."""
    PENDING = "PENDING"
    """Waiting out a retry delay before the next attempt."""
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_OPERATION


TERMINAL_OPERATION = frozenset(
    s.value for s in OperationStatus if s not in (OperationStatus.STARTED, OperationStatus.PENDING)
)
"""The terminal operation statuses, as the plain strings a Checkpoint holds (a member
of OperationStatus is found in it too: it is equal to its value)."""


def op_position(op_id: str) -> tuple[int, ...]:
    """An operation id's sorting key, in call order: `2` before `10`, `3/2` before `3/10`."""
    return tuple(int(part) if part.isdigit() else 0 for part in op_id.split("/"))


@overload
def timestamp_to_datetime(ts: float) -> datetime: ...


@overload
def timestamp_to_datetime(ts: float | None) -> datetime | None: ...


def timestamp_to_datetime(ts: float | None) -> datetime | None:
    """An aware UTC datetime for a stored timestamp. One past what `datetime` can hold
    (stored by a version that let such lengths of time through) is its latest date."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return _LATEST if ts > 0 else _EARLIEST


_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Checkpoint(NamedTuple):
    """One operation's stored state; `result` and `error` are serialized bytes.

    A tuple in the column order of the operations table, so the store writes it
    as it is: a checkpoint is made for every step and must cost little."""

    execution_id: str
    op_id: str
    parent_id: str | None
    type: OperationType
    name: str | None
    status: OperationStatus
    attempt: int = 1
    result: bytes | None = None
    error: bytes | None = None
    started_at: float | None = None
    ended_at: float | None = None
    wake_at: float | None = None
    """When a STARTED timer or a PENDING retry is due."""
    ref: str | None = None
    """What the operation points at: a callback id, an invoked execution's id."""


class ExecutionRecord(NamedTuple):
    """One execution as stored; `input`, `result` and `error` are serialized bytes.

    Immutable, like every record here, but a named tuple rather than a frozen
    dataclass: one is made for every execution, and a frozen dataclass sets each of
    its fifteen fields through `object.__setattr__` (1.8 us against 0.5 us to make)."""

    execution_id: str
    name: str | None
    function: str
    status: ExecutionStatus
    input: bytes | None
    result: bytes | None
    error: bytes | None
    parent_id: str | None
    created_at: float
    ended_at: float | None
    wake_at: float | None
    timeout_at: float | None
    owner: str | None
    epoch: int
    taken_from: str | None = None
    """Set by a claim that took the execution over from this worker, whose lease expired."""
    version: int = 1
    """The version of its function it started on, and only ever runs on."""
    custom_status: bytes | None = None
    """The last custom status its code set (`ctx.set_custom_status`) that was committed."""
    rerun_of: str | None = None
    """The execution this one reruns (`engine.rerun`), or None."""
    trace_context: str | None = None
    """Its OpenTelemetry trace context (JSON), kept so every run joins one trace."""
    run_number: int = 1
    """Which run of the execution this is: 1, plus one for each `ctx.continue_as_new`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionInfo:
    """What a user sees of an execution; timestamps are aware UTC datetimes."""

    execution_id: str
    name: str | None
    function: str
    status: ExecutionStatus
    input: Any
    result: Any
    error: Any
    """The execution's error as the exception it raises, or None."""
    created_at: datetime
    ended_at: datetime | None
    parent_id: str | None = None
    version: int = 1
    """The version of its function it started on, and runs on."""
    custom_status: Any = None
    """The last value its code gave `ctx.set_custom_status` that was committed, or None."""
    rerun_of: str | None = None
    """The id of the execution this one reruns (`engine.rerun`), or None. It may name
    an execution purged since."""
    run_number: int = 1
    """Which run this is: 1 for the first, one more for each `ctx.continue_as_new`
    (`input` is the current run's input, `result` the final run's result)."""


# A workflow or a step may return these statuses: serdes' default registry, the one
# `serdes.MsgpackSerDes()` and `serdes.JsonSerDes()` use when given none (so the
# engine's default codec too), knows them. The tags name the public module, so that
# stored values outlive a move between private modules; keep them as they are.
serdes.register(ExecutionStatus, name="durable_engine.ExecutionStatus")
serdes.register(OperationStatus, name="durable_engine.OperationStatus")
serdes.register(OperationType, name="durable_engine.OperationType")
