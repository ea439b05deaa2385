"""What the pages show, worked out from the engine's records: no I/O, no HTML.

Values are cut to a length a page can hold, with their whole length kept so the page
can link to the rest; an execution's operations become bars on a timeline and the
list of what it waits for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._display import readable
from .._models import ExecutionInfo, OperationStatus, OperationType
from .._views import OperationInfo
from .._waiting import Wait, waits_for

__all__ = [
    "Bar",
    "Cut",
    "Wait",
    "cut",
    "iso",
    "pending_callbacks",
    "timeline",
    "waits_for",
]

SHOWN_CHARS = 2000
"""How much of a value a page shows before it links to the whole."""


@dataclass(frozen=True, slots=True)
class Cut:
    """A value's text, at most `SHOWN_CHARS` of it."""

    text: str
    length: int
    """The whole text's length."""

    @property
    def is_cut(self) -> bool:
        return len(self.text) < self.length


def cut(value: Any, limit: int = SHOWN_CHARS) -> Cut:
    """`value` as text (JSON where JSON holds it), cut to `limit` characters."""
    whole = readable(value)
    return Cut(whole[:limit], len(whole))


def iso(at: datetime | None) -> str:
    """A UTC time to the second, as the pages show it ("-" for none)."""
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _all(ops: Sequence[OperationInfo]) -> list[OperationInfo]:
    return [node for op in ops for node in op.walk()]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """An operation on the timeline: where its bar starts and how wide it is, in
    percent of the execution's span, and how deep in the tree it sits."""

    op: OperationInfo
    depth: int
    left: float
    width: float
    open: bool
    """Not ended yet: the bar runs to the end of the span."""


def timeline(info: ExecutionInfo, ops: Sequence[OperationInfo], now: datetime) -> list[Bar]:
    """A bar per operation that has started, from its start to its end (or to `now`),
    over the span from the execution's creation to its end (or `now`)."""
    start = info.created_at
    end = info.ended_at or now
    for op in _all(ops):  # a clock set back must not push a bar outside the span
        if op.started_at is not None:
            start = min(start, op.started_at)
        if op.ended_at is not None:
            end = max(end, op.ended_at)
    span = max((end - start).total_seconds(), 1e-6)
    bars: list[Bar] = []

    def place(nodes: Sequence[OperationInfo], depth: int) -> None:
        for op in nodes:
            if op.started_at is not None:
                until = op.ended_at or end
                left = (op.started_at - start).total_seconds() / span * 100
                width = max((until - op.started_at).total_seconds() / span * 100, 0.4)
                bars.append(
                    Bar(
                        op=op,
                        depth=depth,
                        left=round(min(left, 99.6), 2),
                        width=round(min(width, 100 - min(left, 99.6)), 2),
                        open=op.ended_at is None,
                    )
                )
            place(op.children, depth + 1)

    place(ops, 0)
    return bars


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingCallback:
    """A callback some execution waits for."""

    callback_id: str
    execution: ExecutionInfo
    operation: OperationInfo


def pending_callbacks(
    execution: ExecutionInfo, ops: Sequence[OperationInfo]
) -> list[PendingCallback]:
    """The callbacks `execution` waits for now."""
    return [
        PendingCallback(callback_id=op.ref, execution=execution, operation=op)
        for op in _all(ops)
        if op.type is OperationType.CALLBACK
        and op.status is OperationStatus.STARTED
        and op.ref is not None
    ]
