"""Read-only views of stored executions: the operation tree a user or a test inspects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from ._converter import ValueConverter
from ._models import (
    Checkpoint,
    OperationStatus,
    OperationType,
    op_position,
    timestamp_to_datetime,
)
from ._store import Attempt

__all__ = ["AttemptInfo", "OperationInfo", "OperationNode", "build_operation_tree"]


class OperationNode:
    """What every node of an operation tree offers: its time taken and its subtree."""

    __slots__ = ()
    started_at: datetime | None
    ended_at: datetime | None
    children: Sequence[Any]

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (on the clock that timed them), once ended."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def walk(self) -> list[Self]:
        """This operation and every descendant, depth first in call order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptInfo:
    """One attempt of a step: its number, when it began and ended, and its error (None
    for the attempt that succeeded, or one still running)."""

    number: int
    started_at: datetime | None
    """None where it is not known: an at-most-once attempt cut off by a crash."""
    ended_at: datetime | None
    error: Exception | None


@dataclass(slots=True, kw_only=True)
class OperationInfo(OperationNode):
    """One operation of an execution, with its children (for contexts, parallel, map)."""

    operation_id: str
    parent_id: str | None
    name: str | None
    type: OperationType
    status: OperationStatus
    attempt: int
    result: Any
    error: Exception | None
    started_at: datetime | None
    ended_at: datetime | None
    wake_at: datetime | None = None
    ref: str | None = None
    """A CALLBACK's callback id, an INVOKE's child execution id."""
    children: list[OperationInfo] = field(default_factory=list)
    attempts: list[AttemptInfo] = field(default_factory=list)
    """A step's attempts, first to last, every one kept (empty for other operations)."""


def build_operation_tree(
    checkpoints: list[Checkpoint],
    values: ValueConverter,
    attempts: Sequence[Attempt] = (),
) -> list[OperationInfo]:
    """Top-level operations in call order, each holding its children in call order;
    values read with `values` (one that cannot be read shows as a SerDesError, one
    whose bytes changed as a DatabaseCorrupt naming its execution and operation); each
    step with its attempts (`attempts`: those kept, as the store gives them)."""
    kept: dict[str, list[Attempt]] = {}
    for a in attempts:
        kept.setdefault(a.op_id, []).append(a)
    nodes: dict[str, OperationInfo] = {}
    for cp in sorted(checkpoints, key=lambda c: op_position(c.op_id)):
        error = None if cp.error is None else values.decode_error(cp.error, cp.op_id)
        nodes[cp.op_id] = OperationInfo(
            operation_id=cp.op_id,
            parent_id=cp.parent_id,
            name=cp.name,
            type=OperationType(cp.type),
            status=OperationStatus(cp.status),
            attempt=cp.attempt,
            result=values.view(cp.result, op_id=cp.op_id, what="result"),
            error=error,
            started_at=timestamp_to_datetime(cp.started_at),
            ended_at=timestamp_to_datetime(cp.ended_at),
            wake_at=timestamp_to_datetime(cp.wake_at),
            ref=cp.ref,
            attempts=(
                _attempts(cp, error, kept.get(cp.op_id, ()), values)
                if cp.type == OperationType.STEP
                else []
            ),
        )
    roots: list[OperationInfo] = []
    for node in nodes.values():
        parent = _nearest_recorded(nodes, node.parent_id)
        if parent is not None:
            parent.children.append(node)
        else:
            roots.append(node)
    return roots


def _attempts(
    cp: Checkpoint, error: Exception | None, kept: Sequence[Attempt], values: ValueConverter
) -> list[AttemptInfo]:
    """A step's attempts: those kept, and its latest attempt from its own row when it
    was not kept (its first and only, or one running now)."""
    out = [
        AttemptInfo(
            number=a.attempt,
            started_at=timestamp_to_datetime(a.started_at),
            ended_at=timestamp_to_datetime(a.ended_at),
            error=None if a.error is None else values.decode_error(a.error, a.op_id),
        )
        for a in sorted(kept, key=lambda a: a.attempt)
    ]
    if not any(a.number == cp.attempt for a in out):
        running = cp.status in (OperationStatus.STARTED, OperationStatus.PENDING)
        out.append(
            AttemptInfo(
                number=cp.attempt,
                started_at=timestamp_to_datetime(cp.started_at) if cp.attempt == 1 else None,
                ended_at=None if running else timestamp_to_datetime(cp.ended_at),
                error=None if running else error,
            )
        )
    return out


def _nearest_recorded(nodes: dict[str, OperationInfo], op_id: str | None) -> OperationInfo | None:
    """The node of `op_id`, or of its nearest enclosing operation that has a row: a child
    context that has not finished has none yet, so its operations show in its place."""
    while op_id is not None:
        node = nodes.get(op_id)
        if node is not None:
            return node
        op_id = op_id.rpartition("/")[0] if "/" in op_id else None
    return None
