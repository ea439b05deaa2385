"""What a test sees of an execution: its outcome and its operations as a tree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from .._models import ExecutionInfo, ExecutionStatus, OperationStatus, OperationType
from .._views import OperationInfo, OperationNode

__all__ = ["OperationNotFound", "PendingCallback", "TestOperation", "TestResult"]


class OperationNotFound(LookupError):
    """No operation of the asked type has that name; the message lists those that exist."""


class _Lookup:
    """Finding operations by name and type among a tree's operations."""

    def _roots(self) -> Sequence[TestOperation]:
        raise NotImplementedError

    def all_operations(self) -> list[TestOperation]:
        """Every operation, depth first in call order."""
        out: list[TestOperation] = []
        for op in self._roots():
            out.extend(op.walk())
        return out

    def find_operations(
        self, name: str | None = None, type: OperationType | str | None = None
    ) -> list[TestOperation]:
        """Every operation with `name` (any, if None) and `type` (any, if None)."""
        kind = None if type is None else OperationType(type)
        return [
            op
            for op in self.all_operations()
            if (name is None or op.name == name) and (kind is None or op.type is kind)
        ]

    def get_operation(self, name: str, type: OperationType | str | None = None) -> TestOperation:
        """The first operation (in call order) named `name`, of `type` if given; every
        map item's step has the same name: `find_operations` gives them all."""
        found = self.find_operations(name, type)
        if found:
            return found[0]
        wanted = None if type is None else OperationType(type)
        kind = "operation" if wanted is None else f"{wanted.value} operation"
        named = [op for op in self.all_operations() if op.name is not None]
        names = sorted({repr(op.name) for op in named if wanted in (None, op.type)})
        others = sorted(
            {f"{op.type.value} {op.name!r}" for op in named if wanted not in (None, op.type)}
        )
        message = f"no {kind} named {name!r}; the named ones are: {', '.join(names) or 'none'}"
        if others:
            message += f" (of other types: {', '.join(others)})"
        raise OperationNotFound(message)

    def get_step(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.STEP)

    def get_wait(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.WAIT)

    def get_callback(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.CALLBACK)

    def get_context(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.CONTEXT)

    def get_invoke(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.INVOKE)

    def get_condition(self, name: str) -> TestOperation:
        return self.get_operation(name, OperationType.CONDITION)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TestOperation(_Lookup, OperationNode):
    """One operation of an execution; timestamps are aware UTC datetimes on the test's clock.

    The getters (`get_step` ...) search this operation's descendants.
    """

    __test__: ClassVar[bool] = False

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
    wake_at: datetime | None
    ref: str | None = None
    """A callback's id, or an invoked execution's id."""
    children: tuple[TestOperation, ...] = ()

    def __repr__(self) -> str:
        return (
            f"TestOperation({self.operation_id} {self.type.value} {self.name!r} "
            f"{self.status.value}, attempt {self.attempt})"
        )

    @property
    def callback_id(self) -> str | None:
        """The id to answer a CALLBACK operation with."""
        return self.ref if self.type is OperationType.CALLBACK else None

    def _roots(self) -> Sequence[TestOperation]:
        return self.children

    @classmethod
    def from_info(cls, info: OperationInfo) -> TestOperation:
        return cls(
            operation_id=info.operation_id,
            parent_id=info.parent_id,
            name=info.name,
            type=info.type,
            status=info.status,
            attempt=info.attempt,
            result=info.result,
            error=info.error,
            started_at=info.started_at,
            ended_at=info.ended_at,
            wake_at=info.wake_at,
            ref=info.ref,
            children=tuple(cls.from_info(child) for child in info.children),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TestResult(_Lookup):
    """An execution as a test sees it: status, result or error, and the operation tree."""

    __test__: ClassVar[bool] = False

    execution_id: str
    name: str | None
    function: str
    status: ExecutionStatus
    input: Any
    result: Any
    error: Exception | None
    created_at: datetime
    ended_at: datetime | None
    operations: tuple[TestOperation, ...] = field(default=())
    """Top-level operations in call order, each holding its children (of the current
    run, for an execution that continued as new)."""
    run_number: int = 1
    """Which run the execution is on: one more for each `ctx.continue_as_new`."""

    def __repr__(self) -> str:
        outcome = f"result={self.result!r}" if self.error is None else f"error={self.error!r}"
        return f"TestResult({self.function} {self.status.value}, {outcome})"

    @property
    def succeeded(self) -> bool:
        return self.status is ExecutionStatus.SUCCEEDED

    def unwrap(self) -> Any:
        """The result of a succeeded execution; otherwise raise its error."""
        if self.status is ExecutionStatus.SUCCEEDED:
            return self.result
        if self.error is not None:
            raise self.error
        raise AssertionError(f"execution {self.execution_id} has not ended ({self.status.value})")

    def _roots(self) -> Sequence[TestOperation]:
        return self.operations

    @classmethod
    def build(cls, info: ExecutionInfo, tree: Sequence[OperationInfo]) -> TestResult:
        return cls(
            execution_id=info.execution_id,
            name=info.name,
            function=info.function,
            status=info.status,
            input=info.input,
            result=info.result,
            error=info.error,
            created_at=info.created_at,
            ended_at=info.ended_at,
            operations=tuple(TestOperation.from_info(op) for op in tree),
            run_number=info.run_number,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingCallback:
    """A callback an execution is blocked on; answer it with its `callback_id`."""

    callback_id: str
    name: str | None
    operation_id: str
    execution_id: str
    created_at: datetime | None
    deadline: datetime | None
    """When it times out (its timeout or heartbeat timeout), if it can."""
