"""What a suspended (or running) execution waits for, worked out from its operations.

One place for the command line (`show`, `history`) and the web page. Each kind of
wait is one branch of `waits_for`; an operation that waits for something new (an
event by name, say) adds its branch there, with a `kind` of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ._models import OperationStatus, OperationType
from ._views import OperationInfo

__all__ = ["Wait", "waits_for"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """One thing a suspended (or running) execution waits for."""

    kind: str
    """timer, retry, callback, child, step (a step running now), condition."""
    operation_id: str
    text: str
    due_at: datetime | None = None
    """When a timer, a retry or a condition's next check is due."""
    callback_id: str | None = None
    execution_id: str | None = None
    """An invoked child's id, to link to."""

    @property
    def line(self) -> str:
        """The text with the callback's or the child execution's id, if it has one."""
        ref = self.callback_id or self.execution_id
        return self.text if ref is None else f"{self.text}: {ref}"


def _at(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def waits_for(ops: Sequence[OperationInfo]) -> list[Wait]:
    """What the execution's open operations wait for, in call order."""
    out: list[Wait] = []
    for op in [node for top in ops for node in top.walk()]:
        wait = _wait_of(op)
        if wait is not None:
            out.append(wait)
    return out


def _wait_of(op: OperationInfo) -> Wait | None:
    label = op.name or op.operation_id
    due = _at(op.wake_at)
    make = functools.partial(Wait, operation_id=op.operation_id, due_at=op.wake_at)
    if op.status is OperationStatus.PENDING:  # a retry delay (a step's, a condition's)
        if op.type is OperationType.CONDITION:
            text = f"the next check of {label} (attempt {op.attempt + 1}) at {due}"
            return make(kind="condition", text=text)
        return make(kind="retry", text=f"a retry of {label} (attempt {op.attempt + 1}) at {due}")
    if op.status is not OperationStatus.STARTED:
        return None
    match op.type:
        case OperationType.WAIT:
            return make(kind="timer", text=f"a timer ({label}) due at {due}")
        case OperationType.CALLBACK:
            return make(kind="callback", text=f"callback {label}", callback_id=op.ref)
        case OperationType.INVOKE:
            return make(kind="child", text=f"child execution ({label})", execution_id=op.ref)
        case OperationType.STEP:
            return make(kind="step", text=f"step {label} running (attempt {op.attempt})")
        case OperationType.CONDITION:
            return make(kind="condition", text=f"the next check of {label} at {due}")
        # An operation that waits for an event by name adds its case here.
    return None
